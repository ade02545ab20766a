import { test } from 'node:test'
import { pino } from 'pino'
import assert from 'node:assert/strict'
import { msToMsgId } from '../../src/session/msg-id.js'
import { SALT_PERIOD_SECONDS, SALT_VALIDITY_SECONDS } from '../../src/session/salts.js'
import { encode } from '../../src/tl/index.js'
import { rig, settle, TestClient } from './harness.js'
import { start, round, only, results, getConfig, nearest, nearestResult } from './session-helpers.js'

test('unknown salt → bad_server_salt with a valid salt, no session; the resent message is processed', async () => {
  const r = await rig()
  const c = new TestClient(r)
  c.salt = 12345n
  const first = c.send({ _: 'ping', ping_id: 1n })
  let got = await round(r)
  assert.equal(got.length, 1)
  const bad = got[0]!.obj
  assert.equal(bad._, 'bad_server_salt')
  if (bad._ !== 'bad_server_salt') return
  assert.equal(bad.bad_msg_id, first)
  assert.equal(bad.error_code, 48)
  assert.equal(bad.new_server_salt, r.manager.saltOf(r.key.id))
  assert.equal(r.manager.sessionCount, 0)
  c.salt = bad.new_server_salt
  c.seq = 0
  const second = c.send({ _: 'ping', ping_id: 2n })
  got = await round(r)
  const nsc = only(got, 'new_session_created')
  assert.equal(nsc.length, 1)
  assert.equal(nsc[0]!.first_msg_id, second)
  assert.equal(nsc[0]!.server_salt, c.salt)
  assert.deepEqual(only(got, 'pong'), [{ _: 'pong', msg_id: second, ping_id: 2n }])
  assert.equal(r.manager.sessionCount, 1)
  for (const g of got) assert.equal(g.salt, c.salt, 'server messages carry the current salt')
})

test('salts are persisted through the store', async () => {
  const { r } = await start()
  await settle()
  const saved = await r.store.loadSalts(r.key.id)
  assert.ok(saved.length >= 1)
  assert.ok(saved.some((s) => s.salt === r.manager.saltOf(r.key.id)))
})

test('bad msg_id: 18 parity, 16 too low, 17 too high — server msg_id tells the server time, no session', async () => {
  const r = await rig()
  const c = new TestClient(r)
  const cases: [bigint, number][] = [
    [(msToMsgId(r.clock.now()) & ~3n) | 1n, 18],
    [msToMsgId(r.clock.now() - 600_000) & ~3n, 16],
    [msToMsgId(r.clock.now() + 600_000) & ~3n, 17],
  ]
  for (const [msgId, code] of cases) {
    c.send({ _: 'ping', ping_id: 1n }, true, { msgId, seqNo: 1 })
    const got = await round(r)
    assert.equal(got.length, 1)
    const b = got[0]!.obj
    assert.equal(b._, 'bad_msg_notification')
    if (b._ !== 'bad_msg_notification') continue
    assert.equal(b.bad_msg_id, msgId)
    assert.equal(b.bad_msg_seqno, 1)
    assert.equal(b.error_code, code)
    assert.equal(Number(got[0]!.msgId >> 32n), Math.floor(r.clock.now() / 1000))
    assert.equal(got[0]!.msgId & 3n, 1n)
  }
  assert.equal(r.manager.sessionCount, 0)
})

test('a client 10 minutes behind recovers: 16, time sync from our msg_id, resend accepted', async () => {
  const { r, c } = await start()
  c.skewMs = -600_000
  c.lastMsgId = 0n
  c.send({ _: 'ping', ping_id: 1n })
  const got = await round(r)
  const b = only(got, 'bad_msg_notification')[0]!
  assert.equal(b.error_code, 16)
  c.skewMs = Number(got[0]!.msgId >> 32n) * 1000 - r.clock.now() // as clients do: offset from our msg_id
  c.lastMsgId = 0n
  const id = c.send({ _: 'ping', ping_id: 2n })
  assert.deepEqual(only(await round(r), 'pong'), [{ _: 'pong', msg_id: id, ping_id: 2n }])
})

test('salt rotation: the previous salt works during the grace period, then bad_server_salt; the resend is served', async () => {
  const { r, c } = await start()
  c.send({ _: 'ping', ping_id: 1n })
  await round(r)
  const old = c.salt
  r.clock.advance(SALT_PERIOD_SECONDS * 1000 + 1000)
  assert.notEqual(r.manager.saltOf(r.key.id), old)
  c.send({ _: 'ping', ping_id: 2n })
  assert.equal(only(await round(r), 'pong').length, 1, 'old salt still accepted')
  r.clock.advance(SALT_VALIDITY_SECONDS * 1000)
  const id = c.send({ _: 'ping', ping_id: 3n })
  const bad = only(await round(r), 'bad_server_salt')
  assert.equal(bad.length, 1)
  assert.equal(bad[0]!.bad_msg_id, id)
  c.salt = bad[0]!.new_server_salt
  const id2 = c.send({ _: 'ping', ping_id: 3n })
  assert.deepEqual(only(await round(r), 'pong'), [{ _: 'pong', msg_id: id2, ping_id: 3n }])
})

test('an RPC query reaches the dispatcher with its context; the result comes back in rpc_result', async () => {
  const { r, c } = await start()
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  const id = c.send(nearest)
  const got = await round(r)
  const res = results(got)
  assert.equal(res.length, 1)
  assert.equal(res[0]!.reqMsgId, id)
  assert.equal(res[0]!.obj._, 'nearestDc')
  assert.equal(res[0]!.seqNo % 2, 1, 'rpc_result is content-related')
  assert.equal(res[0]!.msgId & 3n, 1n, 'a response: ≡ 1 mod 4')
  const call = r.dispatcher.calls[0]!
  assert.equal(call.method, 'help.getNearestDc')
  assert.deepEqual(call.query, nearest)
  assert.deepEqual(call.raw, encode(nearest))
  assert.equal(call.ctx.authKeyId, r.key.id)
  assert.equal(call.ctx.permAuthKeyId, r.key.id)
  assert.equal(call.ctx.sessionId, c.sessionId)
  assert.equal(call.ctx.msgId, id)
  assert.equal(call.ctx.connection.connId, 'c1')
  assert.equal(call.ctx.layer, undefined)
})

test('a dispatcher that throws yields rpc_error 500 INTERNAL; the session keeps working', async () => {
  const { r, c } = await start()
  r.dispatcher.handlers.set('help.getConfig', () => {
    throw new Error('boom')
  })
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  c.send(getConfig)
  const got = results(await round(r))
  assert.deepEqual(got[0]!.obj, { _: 'rpc_error', error_code: 500, error_message: 'INTERNAL' })
  c.send(nearest)
  assert.equal(results(await round(r))[0]!.obj._, 'nearestDc')
})

test('rpc_error outcomes are framed as rpc_error', async () => {
  const { r, c } = await start()
  c.send(getConfig)
  assert.deepEqual(results(await round(r))[0]!.obj, { _: 'rpc_error', error_code: 400, error_message: 'METHOD_INVALID' })
})

test('a query of a constructor our schema does not know still reaches the dispatcher by id', async () => {
  const { r, c } = await start()
  const raw = Buffer.from([0xef, 0xbe, 0xad, 0xde, 1, 2, 3, 4])
  c.send(raw)
  const got = results(await round(r))
  assert.equal(got.length, 1)
  const call = r.dispatcher.calls[0]!
  assert.equal(call.method, '#deadbeef')
  assert.equal(call.query, undefined)
  assert.deepEqual(call.raw, raw)
})

test('pushes wait while the session has no connection (bounded, oldest dropped) and arrive on the next one', async () => {
  const { r, c } = await start({ outboxMaxMessages: 3 })
  c.send({ _: 'ping', ping_id: 1n })
  const got0 = await round(r)
  c.send({ _: 'msgs_ack', msg_ids: got0.filter((g) => g.seqNo % 2 === 1).map((g) => g.msgId) }, false)
  await round(r)
  r.manager.closeConnection('c1')
  for (let i = 1; i <= 5; i++) {
    assert.equal(r.manager.pushToAuthKey(r.key.id, encode({ _: 'updateShort', update: { _: 'updateConfig' }, date: i })), 1)
  }
  await settle()
  assert.equal(r.link.sent.length, 0)
  c.connId = 'c2'
  c.send({ _: 'ping', ping_id: 2n })
  const got = await round(r)
  const dates = got.filter((g) => g.obj._ === 'updateShort').map((g) => (g.obj as { date: number }).date)
  assert.deepEqual(dates, [3, 4, 5])
  assert.ok(got.every((g) => g.connId === 'c2'))
})

test('pushToUser reaches the sessions of keys whose handler set ctx.userId', async () => {
  const { r, c } = await start()
  r.dispatcher.handlers.set('help.getNearestDc', (call) => {
    call.ctx.userId = 42n
    return nearestResult()
  })
  c.send(nearest)
  await round(r)
  assert.equal(r.manager.userIdOf(r.key.id), 42n)
  assert.equal(r.manager.pushToUser(43n, encode({ _: 'updatesTooLong' })), 0)
  assert.equal(r.manager.pushToUser(42n, encode({ _: 'updatesTooLong' })), 1)
  assert.equal(only(await round(r), 'updatesTooLong').length, 1)
  // the slot is visible to later calls of any session of the key
  r.dispatcher.handlers.set('help.getConfig', (call) => {
    assert.equal(call.ctx.userId, 42n)
    call.ctx.userId = undefined
    return nearestResult()
  })
  c.send(getConfig)
  await round(r)
  assert.equal(r.manager.pushToUser(42n, encode({ _: 'updatesTooLong' })), 0)
})

test('pushToAuthKey of an unknown key reaches nobody', async () => {
  const { r } = await start()
  assert.equal(r.manager.pushToAuthKey(777n, encode({ _: 'updatesTooLong' })), 0)
})

test('a msg_id lower than the session first one triggers another new_session_created', async () => {
  const { r, c } = await start()
  const early = c.nextMsgId()
  const first = c.send({ _: 'ping', ping_id: 1n }, true, { seqNo: 3 })
  const got = await round(r)
  assert.equal(only(got, 'new_session_created')[0]!.first_msg_id, first)
  c.send({ _: 'ping', ping_id: 2n }, true, { msgId: early, seqNo: 1 })
  const got2 = await round(r)
  const nsc = only(got2, 'new_session_created')
  assert.equal(nsc.length, 1)
  assert.equal(nsc[0]!.first_msg_id, early)
  assert.equal(nsc[0]!.unique_id, only(got, 'new_session_created')[0]!.unique_id)
  assert.equal(only(got2, 'pong').length, 1)
})

test('idle sessions without a connection expire; the next message creates a new one', async () => {
  const { r, c } = await start({ idleTimeoutMs: 60_000 })
  c.send({ _: 'ping', ping_id: 1n })
  const got = await round(r)
  r.clock.advance(120_000)
  r.manager.tick()
  assert.equal(r.manager.sessionCount, 1, 'still connected: kept')
  r.manager.closeConnection('c1')
  r.clock.advance(30_000)
  r.manager.tick()
  assert.equal(r.manager.sessionCount, 1, 'the idle timeout runs from the disconnect')
  r.clock.advance(60_000)
  r.manager.tick()
  assert.equal(r.manager.sessionCount, 0)
  c.connId = 'c2'
  c.send({ _: 'ping', ping_id: 2n })
  const got2 = await round(r)
  const nsc = only(got2, 'new_session_created')
  assert.equal(nsc.length, 1)
  assert.notEqual(nsc[0]!.unique_id, only(got, 'new_session_created')[0]!.unique_id)
})

test('sessions per auth key are bounded: the least recently active unconnected one goes first', async () => {
  const { r, c } = await start({ maxSessionsPerKey: 3 })
  c.send({ _: 'ping', ping_id: 1n })
  await round(r)
  for (const sid of [11n, 12n]) {
    const o = new TestClient(r, sid)
    o.salt = c.salt
    o.connId = `conn-${sid}`
    o.send({ _: 'ping', ping_id: 1n })
    await round(r)
    r.clock.advance(1000)
  }
  r.manager.closeConnection('conn-12')
  const o = new TestClient(r, 13n)
  o.salt = c.salt
  o.connId = 'conn-13'
  o.send({ _: 'ping', ping_id: 1n })
  await round(r)
  assert.equal(r.manager.sessionCount, 3)
  assert.equal(r.manager.session(r.key.id, 12n), undefined, 'the unconnected one was forgotten')
  assert.ok(r.manager.session(r.key.id, c.sessionId))
  assert.ok(r.manager.session(r.key.id, 11n))
})

test('several sessions on one connection: closing it detaches each; a session moving away leaves the other', async () => {
  const { r, c } = await start()
  c.send({ _: 'ping', ping_id: 1n })
  const o = new TestClient(r, 21n)
  o.salt = c.salt
  o.send({ _: 'ping', ping_id: 1n })
  const p = new TestClient(r, 22n)
  p.salt = c.salt
  p.send({ _: 'ping', ping_id: 1n })
  await round(r)
  // p moves to another connection; c and o stay on c1
  p.connId = 'c2'
  p.send({ _: 'ping', ping_id: 2n })
  await round(r)
  r.manager.closeConnection('c1')
  assert.equal(r.manager.session(r.key.id, c.sessionId)?.conn, undefined)
  assert.equal(r.manager.session(r.key.id, 21n)?.conn, undefined)
  assert.equal(r.manager.session(r.key.id, 22n)?.conn?.connId, 'c2')
  r.manager.closeConnection('c2')
  assert.equal(r.manager.session(r.key.id, 22n)?.conn, undefined)
})

test('a new client\'s bad_server_salt is logged at debug level, not info', async () => {
  const lines: { level: number; msg: string }[] = []
  const sink = { write: (l: string) => void lines.push(JSON.parse(l) as { level: number; msg: string }) }
  const r = await rig({ log: pino({ level: 'debug' }, sink) })
  const c = new TestClient(r)
  c.salt = 12345n
  c.send({ _: 'ping', ping_id: 1n })
  assert.equal(only(await round(r), 'bad_server_salt').length, 1)
  const salt = lines.filter((l) => l.msg === 'session: bad server salt')
  assert.deepEqual(salt.map((l) => l.level), [20])
})
