import { test } from 'node:test'
import assert from 'node:assert/strict'
import { msToMsgId } from '../../src/session/msg-id.js'
import { buildContainer } from '../../src/session/envelope.js'
import { SALT_PERIOD_SECONDS, SALT_VALIDITY_SECONDS } from '../../src/session/salts.js'
import type { SessionManagerOptions } from '../../src/session/manager.js'
import { encode, type TlObject } from '../../src/tl/index.js'
import { gzipPacked, rig, settle, TestClient, unpack, type Got, type Rig } from './harness.js'

async function start(opts: Partial<SessionManagerOptions> = {}): Promise<{ r: Rig; c: TestClient }> {
  const r = await rig(opts)
  const c = new TestClient(r)
  await c.handshakeSalt()
  return { r, c }
}

async function round(r: Rig): Promise<Got[]> {
  await settle()
  return unpack(r.link.take())
}

function only<N extends TlObject['_']>(got: Got[], name: N): Extract<TlObject, { _: N }>[] {
  return got.filter((g) => g.obj._ === name).map((g) => g.obj as Extract<TlObject, { _: N }>)
}

function results(got: Got[]): Got[] {
  return got.filter((g) => g.reqMsgId !== undefined)
}

const getConfig: TlObject = { _: 'help.getConfig' }
const nearest: TlObject = { _: 'help.getNearestDc' }
const nearestResult = (): { kind: 'result'; result: TlObject } => ({
  kind: 'result',
  result: { _: 'nearestDc', country: 'NL', this_dc: 2, nearest_dc: 2 },
})

// ---------------------------------------------------------------------------------------------
// key-level checks
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// RPC
// ---------------------------------------------------------------------------------------------

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

test('our seqnos: content messages odd and increasing, others even, containers even and not below their contents', async () => {
  const { r, c } = await start()
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  for (let i = 0; i < 3; i++) c.send(nearest)
  c.send({ _: 'ping', ping_id: 9n })
  await settle()
  const sent = r.link.take()
  const got = unpack(sent)
  const content = got.filter((g) => g.seqNo % 2 === 1).map((g) => g.seqNo)
  assert.deepEqual(content, [...content].sort((a, b) => a - b))
  assert.equal(new Set(content).size, content.length)
  assert.ok(content.length >= 4, 'new_session_created + 3 results')
  let lastId = 0n
  for (const s of sent) {
    assert.ok(s.out.msgId > lastId, 'outer msg_ids increase')
    lastId = s.out.msgId
    if (s.out.body.readUInt32LE(0) === 0x73f1f8dc) assert.equal(s.out.seqNo % 2, 0)
  }
})

test('a container of queries is answered; acks, results ride in one container per flush', async () => {
  const { r, c } = await start()
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  const [, ids] = c.sendContainer([
    [nearest, true],
    [nearest, true],
    [{ _: 'ping', ping_id: 4n }, true],
    [{ _: 'msgs_ack', msg_ids: [1n] }, false],
  ])
  await settle()
  const sent = r.link.take()
  const got = unpack(sent)
  assert.deepEqual(results(got).map((g) => g.reqMsgId).sort(), [ids[0], ids[1]].sort())
  assert.equal(only(got, 'pong').length, 1)
  assert.ok(sent.length <= 2, `at most one packet for sync answers and one for async ones (got ${sent.length})`)
  assert.ok(sent.some((s) => s.out.body.readUInt32LE(0) === 0x73f1f8dc))
})

test('a duplicate query is answered again from the cache, not re-executed', async () => {
  const { r, c } = await start()
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  const id = c.send(nearest)
  const first = results(await round(r))
  c.send({ _: 'msgs_ack', msg_ids: [first[0]!.msgId] }, false)
  await round(r)
  c.send(nearest, true, { msgId: id, seqNo: 1 })
  const again = results(await round(r))
  assert.equal(r.dispatcher.calls.length, 1)
  assert.equal(again.length, 1)
  assert.equal(again[0]!.reqMsgId, id)
  assert.equal(again[0]!.obj._, 'nearestDc')
})

test('a duplicate of an unacknowledged answer resends it with the same msg_id inside a container', async () => {
  const { r, c } = await start()
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  const id = c.send(nearest)
  const first = results(await round(r))[0]!
  c.send(nearest, true, { msgId: id, seqNo: 1 })
  await settle()
  const sent = r.link.take()
  const again = results(unpack(sent))
  assert.equal(again.length, 1)
  assert.equal(again[0]!.msgId, first.msgId)
  assert.equal(again[0]!.inContainer, true)
  assert.equal(r.dispatcher.calls.length, 1)
})

// a nearestDc of about 6 KB (above DETAILED_INFO_MIN_BYTES); gzip is switched off in these tests
const bigCountry = 'x'.repeat(6000)
const bigResult = (): { kind: 'result'; result: TlObject } => ({
  kind: 'result',
  result: { _: 'nearestDc', country: bigCountry, this_dc: 2, nearest_dc: 2 },
})

test('a duplicate query with a large unacknowledged answer gets msg_detailed_info; msg_resend_req then brings the answer', async () => {
  const { r, c } = await start({ gzipMinBytes: 1 << 30 })
  r.dispatcher.handlers.set('help.getNearestDc', bigResult)
  const id = c.send(nearest)
  const first = results(await round(r))[0]!
  assert.equal((first.obj as { country: string }).country, bigCountry)
  c.send(nearest, true, { msgId: id, seqNo: 1 })
  const got = await round(r)
  assert.equal(results(got).length, 0, 'the answer is not sent again')
  const info = only(got, 'msg_detailed_info')
  assert.equal(info.length, 1)
  assert.equal(info[0]!.msg_id, id)
  assert.equal(info[0]!.answer_msg_id, first.msgId)
  assert.ok(info[0]!.bytes > 6000)
  assert.equal(info[0]!.status, 0)
  const infoMsg = got.find((g) => g.obj._ === 'msg_detailed_info')!
  assert.equal(infoMsg.seqNo % 2, 0, 'not content-related (needs no acknowledgment)')
  assert.equal(infoMsg.msgId % 4n, 1n, 'a response')
  c.send({ _: 'msg_resend_req', msg_ids: [first.msgId] }, false)
  const again = results(await round(r))
  assert.equal(again.length, 1)
  assert.equal(again[0]!.msgId, first.msgId, 'resent with its msg_id')
  assert.equal(again[0]!.inContainer, true)
  assert.equal(r.dispatcher.calls.length, 1, 'not executed again')
})

test('a large answer the client acknowledged: msg_detailed_info for the duplicate, msg_resend_req still gets it', async () => {
  const { r, c } = await start({ gzipMinBytes: 1 << 30 })
  r.dispatcher.handlers.set('help.getNearestDc', bigResult)
  const id = c.send(nearest)
  const first = results(await round(r))[0]!
  c.send({ _: 'msgs_ack', msg_ids: [first.msgId] }, false)
  await round(r)
  const s = r.manager.session(r.key.id, c.sessionId)!
  const unacked = s.unacked // the answer is no longer among them (new_session_created may be)
  c.send(nearest, true, { msgId: id, seqNo: 1 })
  const info = only(await round(r), 'msg_detailed_info')
  assert.equal(info.length, 1)
  assert.equal(info[0]!.answer_msg_id, first.msgId)
  c.send({ _: 'msg_resend_req', msg_ids: [first.msgId] }, false)
  const again = results(await round(r))
  assert.equal(again.length, 1)
  assert.equal(again[0]!.msgId, first.msgId)
  assert.equal((again[0]!.obj as { country: string }).country, bigCountry)
  assert.equal(s.unacked, unacked + 1, 'kept until acknowledged again')
  c.send({ _: 'msgs_ack', msg_ids: [first.msgId] }, false)
  await round(r)
  assert.equal(s.unacked, unacked)
  assert.equal(r.dispatcher.calls.length, 1)
})

test('a duplicate of a large query whose answer is not ready yet gets an acknowledgment only', async () => {
  const { r, c } = await start({ gzipMinBytes: 1 << 30, ackDelayMs: 0 })
  let release: (() => void) | undefined
  r.dispatcher.handlers.set('help.getNearestDc', () => new Promise((ok) => (release = () => ok(bigResult()))))
  const id = c.send(nearest)
  await round(r)
  c.send(nearest, true, { msgId: id, seqNo: 1 })
  const got = await round(r)
  assert.equal(only(got, 'msg_detailed_info').length, 0)
  release!()
  const done = await round(r)
  assert.equal(results(done).length, 1)
  assert.equal(r.dispatcher.calls.length, 1)
})

test('msgs_ack drops acknowledged messages from the outbox', async () => {
  const { r, c } = await start()
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  c.send(nearest)
  c.send(nearest)
  const got = await round(r)
  const s = r.manager.session(r.key.id, c.sessionId)!
  const contentIds = got.filter((g) => g.seqNo % 2 === 1).map((g) => g.msgId)
  assert.equal(s.unacked, contentIds.length)
  c.send({ _: 'msgs_ack', msg_ids: contentIds }, false)
  await round(r)
  assert.equal(s.unacked, 0)
})

test('unacknowledged answers are resent on the next connection of the session', async () => {
  const { r, c } = await start()
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  const id = c.send(nearest)
  const first = results(await round(r))[0]!
  r.manager.closeConnection('c1')
  c.connId = 'c2'
  c.send({ _: 'ping', ping_id: 5n })
  const got = await round(r)
  const re = results(got)
  assert.equal(re.length, 1)
  assert.equal(re[0]!.reqMsgId, id)
  assert.equal(re[0]!.msgId, first.msgId, 'same msg_id, in a new container')
  assert.equal(re[0]!.connId, 'c2')
  assert.equal(re[0]!.inContainer, true)
  assert.equal(only(got, 'pong').length, 1)
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

test('large results go out gzip_packed; small ones plain; raw outcomes are passed through', async () => {
  const { r, c } = await start()
  const big: TlObject = { _: 'jsonString', value: 'x'.repeat(20000) }
  r.dispatcher.handlers.set('help.getConfig', () => ({ kind: 'result', result: big }))
  r.dispatcher.handlers.set('help.getNearestDc', () => ({ kind: 'raw', body: encode({ _: 'boolFalse' }) }))
  c.send(getConfig)
  c.send(nearest)
  const got = results(await round(r))
  const g = got.find((x) => x.obj._ === 'jsonString')!
  assert.equal(g.gzipped, true)
  assert.deepEqual(g.obj, big)
  const raw = got.find((x) => x.obj._ === 'boolFalse')!
  assert.equal(raw.gzipped, false)
})

test('a gzip_packed query is unpacked before dispatch', async () => {
  const { r, c } = await start()
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  c.send(gzipPacked(nearest))
  const got = results(await round(r))
  assert.equal(got[0]!.obj._, 'nearestDc')
  assert.equal(r.dispatcher.calls[0]!.method, 'help.getNearestDc')
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

// ---------------------------------------------------------------------------------------------
// wrappers
// ---------------------------------------------------------------------------------------------

function initConnection(apiId: number, query: TlObject): TlObject {
  return {
    _: 'initConnection',
    api_id: apiId,
    device_model: 'dev',
    system_version: 'sys',
    app_version: '1.0',
    system_lang_code: 'en',
    lang_pack: '',
    lang_code: 'en',
    proxy: { _: 'inputClientProxy', address: 'proxy.example', port: 443 },
    params: { _: 'jsonObject', value: [{ _: 'jsonObjectValue', key: 'tz', value: { _: 'jsonNumber', value: 1 } }] },
    query,
  } as TlObject
}

test('invokeWithLayer(initConnection(q)): layer and client info reach ctx and stick to the key', async () => {
  const { r, c } = await start()
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  c.send({ _: 'invokeWithLayer', layer: 198, query: initConnection(2040, nearest) } as TlObject)
  const got = results(await round(r))
  assert.equal(got[0]!.obj._, 'nearestDc')
  const call = r.dispatcher.calls[0]!
  assert.equal(call.method, 'help.getNearestDc')
  assert.equal(call.ctx.layer, 198)
  assert.deepEqual(call.ctx.client, {
    apiId: 2040,
    deviceModel: 'dev',
    systemVersion: 'sys',
    appVersion: '1.0',
    systemLangCode: 'en',
    langPack: '',
    langCode: 'en',
    proxy: { address: 'proxy.example', port: 443 },
    params: { tz: 1 },
  })
  // a second session of the same key inherits layer and client info
  const c2 = new TestClient(r, 999n)
  c2.salt = c.salt
  c2.send(nearest)
  await round(r)
  assert.equal(r.dispatcher.calls[1]!.ctx.layer, 198)
  assert.equal(r.dispatcher.calls[1]!.ctx.client?.apiId, 2040)
})

test('initConnection with an api_id the configuration rejects → 400 API_ID_INVALID, not dispatched', async () => {
  const { r, c } = await start({ allowApiId: (id) => id === 1 })
  c.send(initConnection(5, nearest))
  const got = results(await round(r))
  assert.deepEqual(got[0]!.obj, { _: 'rpc_error', error_code: 400, error_message: 'API_ID_INVALID' })
  assert.equal(r.dispatcher.calls.length, 0)
})

test('invokeAfterMsg waits for the awaited query; a failed one gives MSG_WAIT_FAILED', async () => {
  const { r, c } = await start()
  let release: () => void = () => {}
  const gate = new Promise<void>((res) => (release = res))
  const order: string[] = []
  r.dispatcher.handlers.set('help.getConfig', async () => {
    await gate
    order.push('first')
    return { kind: 'error', code: 420, message: 'FLOOD_WAIT_1' }
  })
  r.dispatcher.handlers.set('help.getNearestDc', () => {
    order.push('second')
    return nearestResult()
  })
  const first = c.send(getConfig)
  c.send({ _: 'invokeAfterMsg', msg_id: first, query: nearest } as TlObject)
  const c2 = c.send({ _: 'invokeAfterMsgs', msg_ids: [first], query: nearest } as TlObject)
  await settle()
  assert.deepEqual(order, [])
  release()
  const got = results(await round(r))
  assert.deepEqual(order, ['first'])
  const waited = got.find((g) => g.reqMsgId === c2)!
  assert.deepEqual(waited.obj, { _: 'rpc_error', error_code: 400, error_message: 'MSG_WAIT_FAILED' })
  // after a successful one, the waiting query runs
  r.dispatcher.handlers.set('help.getConfig', () => nearestResult())
  const ok = c.send(getConfig)
  c.send({ _: 'invokeAfterMsg', msg_id: ok, query: nearest } as TlObject)
  const got2 = results(await round(r))
  assert.equal(got2.filter((g) => g.obj._ === 'nearestDc').length, 2)
  assert.deepEqual(order, ['first', 'second'])
})

test('invokeWithTakeout and invokeWithMessagesRange get reasoned rpc_errors', async () => {
  const { r, c } = await start()
  c.send({ _: 'invokeWithTakeout', takeout_id: 1n, query: nearest } as TlObject)
  c.send({ _: 'invokeWithMessagesRange', range: { _: 'messageRange', min_id: 1, max_id: 2 }, query: nearest } as TlObject)
  const got = results(await round(r)).map((g) => g.obj)
  assert.deepEqual(got, [
    { _: 'rpc_error', error_code: 400, error_message: 'TAKEOUT_INVALID' },
    { _: 'rpc_error', error_code: 400, error_message: 'RANGES_INVALID' },
  ])
  assert.equal(r.dispatcher.calls.length, 0)
})

test('invokeWithoutUpdates: sessions that only use it get no pushes; ctx says so', async () => {
  const r = await rig()
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  const a = new TestClient(r, 1n)
  await a.handshakeSalt()
  const b = new TestClient(r, 2n)
  b.salt = a.salt
  b.connId = 'c2'
  a.send({ _: 'invokeWithoutUpdates', query: nearest } as TlObject)
  b.send(nearest)
  await round(r)
  assert.equal(r.dispatcher.calls.find((x) => x.ctx.sessionId === 1n)!.ctx.withoutUpdates, true)
  const n = r.manager.pushToAuthKey(r.key.id, encode({ _: 'updatesTooLong' }))
  assert.equal(n, 1)
  const got = await round(r)
  const pushes = got.filter((g) => g.obj._ === 'updatesTooLong')
  assert.equal(pushes.length, 1)
  assert.equal(pushes[0]!.sessionId, 2n)
  assert.equal(pushes[0]!.msgId & 3n, 3n, 'not a response: ≡ 3 mod 4')
  assert.equal(pushes[0]!.seqNo % 2, 1)
})

// ---------------------------------------------------------------------------------------------
// pushes
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// service messages
// ---------------------------------------------------------------------------------------------

test('ping_delay_disconnect closes the connection after the delay unless renewed', async () => {
  const { r, c } = await start()
  c.send({ _: 'ping_delay_disconnect', ping_id: 1n, disconnect_delay: 10 })
  assert.equal(only(await round(r), 'pong').length, 1)
  r.clock.advance(9000)
  r.manager.tick()
  assert.deepEqual(r.link.closed, [])
  c.send({ _: 'ping_delay_disconnect', ping_id: 2n, disconnect_delay: 10 })
  await round(r)
  r.clock.advance(9000)
  r.manager.tick()
  assert.deepEqual(r.link.closed, [], 'renewed by the second ping')
  c.send({ _: 'ping', ping_id: 3n })
  await round(r)
  r.clock.advance(1500)
  r.manager.tick()
  assert.deepEqual(r.link.closed, [{ connId: 'c1', reason: 'ping_delay_disconnect' }], 'a plain ping does not renew it')
})

test('get_future_salts → future_salts (req_msg_id, now, salts from the current one)', async () => {
  const { r, c } = await start()
  const id = c.send({ _: 'get_future_salts', num: 5 })
  const fs = only(await round(r), 'future_salts')
  assert.equal(fs.length, 1)
  assert.equal(fs[0]!.req_msg_id, id)
  assert.equal(fs[0]!.now, Math.floor(r.clock.now() / 1000))
  assert.equal(fs[0]!.salts.length, 5)
  assert.equal(fs[0]!.salts[0]!.salt, c.salt)
  const saved = await r.store.loadSalts(r.key.id)
  assert.ok(saved.length >= 5, 'generated future salts are persisted')
})

test('msgs_state_req → msgs_state_info with one status byte per id', async () => {
  const { r, c } = await start()
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  const q = c.send(nearest)
  await round(r)
  const ackId = c.send({ _: 'msgs_ack', msg_ids: [] }, false)
  await round(r)
  const unknownHigh = msToMsgId(r.clock.now() + 10_000) & ~3n
  const id = c.send({ _: 'msgs_state_req', msg_ids: [q, ackId, unknownHigh, 4n] }, false)
  const info = only(await round(r), 'msgs_state_info')
  assert.equal(info.length, 1)
  assert.equal(info[0]!.req_msg_id, id)
  assert.deepEqual([...info[0]!.info], [4 | 8 | 32 | 64, 4 | 16, 3, 1])
})

test('msg_resend_req resends known messages; unknown ids get msgs_state_info', async () => {
  const { r, c } = await start()
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  c.send(nearest)
  const res = results(await round(r))[0]!
  c.send({ _: 'msg_resend_req', msg_ids: [res.msgId] }, false)
  const again = results(await round(r))
  assert.equal(again.length, 1)
  assert.equal(again[0]!.msgId, res.msgId)
  c.send({ _: 'msg_resend_req', msg_ids: [res.msgId, 5n] }, false)
  const info = only(await round(r), 'msgs_state_info')
  assert.equal(info.length, 1)
  assert.equal(info[0]!.info.length, 2)
})

test('rpc_drop_answer: dropped (unacked answer), dropped_running (in progress, both answers), unknown', async () => {
  const { r, c } = await start()
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  const q = c.send(nearest)
  const res = results(await round(r))[0]!
  const d1 = c.send({ _: 'rpc_drop_answer', req_msg_id: q })
  const a1 = results(await round(r)).find((g) => g.reqMsgId === d1)!
  assert.equal(a1.obj._, 'rpc_answer_dropped')
  if (a1.obj._ === 'rpc_answer_dropped') {
    assert.equal(a1.obj.msg_id, res.msgId)
    assert.equal(a1.obj.seq_no, res.seqNo)
  }
  const d2 = c.send({ _: 'rpc_drop_answer', req_msg_id: 12345n })
  assert.equal(results(await round(r)).find((g) => g.reqMsgId === d2)!.obj._, 'rpc_answer_unknown')

  let release: () => void = () => {}
  const gate = new Promise<void>((res2) => (release = res2))
  r.dispatcher.handlers.set('help.getConfig', async () => {
    await gate
    return nearestResult()
  })
  const slow = c.send(getConfig)
  const d3 = c.send({ _: 'rpc_drop_answer', req_msg_id: slow })
  const got3 = results(await round(r))
  assert.equal(got3.find((g) => g.reqMsgId === d3)!.obj._, 'rpc_answer_dropped_running')
  release()
  const got4 = results(await round(r))
  assert.equal(got4.find((g) => g.reqMsgId === slow)!.obj._, 'rpc_answer_dropped_running')
})

test('destroy_session forgets another session of the key; unknown → destroy_session_none', async () => {
  const { r, c } = await start()
  const other = new TestClient(r, 555n)
  other.salt = c.salt
  other.connId = 'c9'
  other.send({ _: 'ping', ping_id: 1n })
  await round(r)
  assert.ok(r.manager.session(r.key.id, 555n))
  c.send({ _: 'destroy_session', session_id: 555n })
  assert.deepEqual(only(await round(r), 'destroy_session_ok'), [{ _: 'destroy_session_ok', session_id: 555n }])
  assert.equal(r.manager.session(r.key.id, 555n), undefined)
  c.send({ _: 'destroy_session', session_id: 555n })
  assert.deepEqual(only(await round(r), 'destroy_session_none'), [{ _: 'destroy_session_none', session_id: 555n }])
})

test('destroy_auth_key removes the key from the store', async () => {
  const { r, c } = await start()
  c.send({ _: 'destroy_auth_key' })
  assert.equal(only(await round(r), 'destroy_auth_key_ok').length, 1)
  assert.equal(await r.store.get(r.key.id), undefined)
  assert.deepEqual(r.link.forgotten, [r.key.id], 'the gateway is told to forget the key')
  assert.equal(r.manager.sessionCount, 0)
  assert.equal(await r.manager.queryAuthKey(r.key.id), undefined)
})

test('http_wait is accepted silently; client status messages are noted', async () => {
  const { r, c } = await start()
  c.send({ _: 'http_wait', max_delay: 0, wait_after: 0, max_wait: 25000 }, false)
  c.send({ _: 'msgs_all_info', msg_ids: [1n], info: Buffer.from([1]) }, false)
  const got = await round(r)
  assert.equal(got.filter((g) => g.obj._ === 'bad_msg_notification').length, 0)
})

// ---------------------------------------------------------------------------------------------
// session-level checks
// ---------------------------------------------------------------------------------------------

test('seqno rules: 35 for an even-seqno query, 34 for an odd-seqno container, 32 for a lower seqno', async () => {
  const { r, c } = await start()
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  const codeOf = async (): Promise<number[]> =>
    only(await round(r), 'bad_msg_notification').map((b) => b.error_code)
  c.send(nearest, false)
  assert.deepEqual(await codeOf(), [35])
  c.send({ _: 'msgs_ack', msg_ids: [] }, true)
  assert.deepEqual(await codeOf(), [], 'mtcute marks msgs_ack content-related; Telegram accepts it, so do we')
  c.send(nearest, true, { seqNo: 41 })
  await round(r)
  c.send(nearest, true, { seqNo: 21 })
  assert.deepEqual(await codeOf(), [32])
  c.send(nearest, true, { seqNo: 41 })
  assert.deepEqual(await codeOf(), [32], 'equal odd seqno')
  const inner = [{ msgId: c.nextMsgId(), seqNo: 43, body: encode(nearest) }]
  c.send(buildContainer(inner), true, { seqNo: 45 })
  assert.deepEqual(await codeOf(), [34])
  assert.equal(r.dispatcher.calls.length, 1)
})

test('containers: reused msg_id → 19, malformed → 64, inner parity → 18, nested → 64', async () => {
  const { r, c } = await start()
  const codeOf = async (): Promise<number[]> =>
    only(await round(r), 'bad_msg_notification').map((b) => b.error_code)
  const pingId = c.send({ _: 'ping', ping_id: 1n })
  await round(r)
  const inner = [{ msgId: pingId - 4n, seqNo: 2, body: encode({ _: 'msgs_ack', msg_ids: [] }) }]
  c.send(buildContainer(inner), false, { msgId: pingId, seqNo: 4 })
  assert.deepEqual(await codeOf(), [19])
  const bad = buildContainer([{ msgId: 4n, seqNo: 2, body: encode({ _: 'msgs_ack', msg_ids: [] }) }])
  c.send(bad.subarray(0, bad.length - 4), false)
  assert.deepEqual(await codeOf(), [64])
  const innerId = c.nextMsgId()
  c.send(buildContainer([{ msgId: innerId | 1n, seqNo: 2, body: encode({ _: 'msgs_ack', msg_ids: [] }) }]), false)
  assert.deepEqual(await codeOf(), [18])
  const nestedInner = buildContainer([{ msgId: c.nextMsgId(), seqNo: 2, body: encode({ _: 'msgs_ack', msg_ids: [] }) }])
  c.send(buildContainer([{ msgId: c.nextMsgId(), seqNo: 2, body: nestedInner }]), false)
  assert.deepEqual(await codeOf(), [64])
})

test('a message older than the remembered window (but within 300 s) → 20', async () => {
  const { r, c } = await start()
  const early = c.nextMsgId()
  for (let i = 0; i < 300; i++) c.send({ _: 'msgs_ack', msg_ids: [] }, false)
  await round(r)
  c.send({ _: 'ping', ping_id: 1n }, true, { msgId: early, seqNo: 1 })
  assert.deepEqual(
    only(await round(r), 'bad_msg_notification').map((b) => b.error_code),
    [20],
  )
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

test('lone acknowledgments are sent after the ack delay', async () => {
  const { r, c } = await start({ ackDelayMs: 200 })
  let release: () => void = () => {}
  const gate = new Promise<void>((res) => (release = res))
  r.dispatcher.handlers.set('help.getConfig', async () => {
    await gate
    return nearestResult()
  })
  const nsc = await (async () => {
    c.send({ _: 'ping', ping_id: 1n })
    return round(r)
  })()
  c.send({ _: 'msgs_ack', msg_ids: nsc.filter((g) => g.seqNo % 2 === 1).map((g) => g.msgId) }, false)
  await round(r)
  const q = c.send(getConfig)
  assert.deepEqual(await round(r), [], 'the ack waits for something to ride along with')
  r.clock.advance(250)
  r.manager.tick()
  const acks = only(await round(r), 'msgs_ack')
  assert.deepEqual(acks, [{ _: 'msgs_ack', msg_ids: [q] }])
  release()
  assert.equal(results(await round(r)).length, 1)
})

test('malformed input never throws out of sendData', async () => {
  const { r, c } = await start()
  c.send(Buffer.alloc(0), true)
  c.send(Buffer.from([1, 2]), true)
  c.send(Buffer.from([0xa1, 0xcf, 0x72, 0x30, 0xff, 0xff, 0xff, 0xff]), true) // gzip_packed with a bad length
  c.send(encode({ _: 'ping', ping_id: 1n }).subarray(0, 8), true)
  c.send({ _: 'invokeWithLayer', layer: 1, query: Buffer.alloc(0) } as unknown as TlObject)
  await round(r)
  c.send({ _: 'ping', ping_id: 9n })
  assert.equal(only(await round(r), 'pong').length, 1, 'the session still answers')
})

test('service messages are answered, not acknowledged; RPC queries are acknowledged only when the answer is late', async () => {
  const { r, c } = await start()
  c.send({ _: 'ping', ping_id: 1n })
  c.send({ _: 'get_future_salts', num: 1 })
  c.send({ _: 'msgs_state_req', msg_ids: [] })
  c.send({ _: 'msgs_ack', msg_ids: [] }, true)
  r.clock.advance(10_000)
  r.manager.tick()
  const got = await round(r)
  assert.deepEqual(only(got, 'msgs_ack'), [])
  assert.equal(only(got, 'pong').length, 1)
})

test('the call keeps its own copy of the query: the gateway may reuse its buffer after sendData', async () => {
  const { r, c } = await start()
  let seen: RpcCallLike | undefined
  r.dispatcher.handlers.set('help.getNearestDc', async (call) => {
    await settle()
    seen = { raw: Buffer.from(call.raw), query: call.query }
    return nearestResult()
  })
  r.dispatcher.handlers.set('help.getConfig', async () => {
    await settle()
    return nearestResult()
  })
  const first = c.send(getConfig)
  const body = encode({ _: 'invokeAfterMsg', msg_id: first, query: nearest } as TlObject)
  c.send(body)
  body.fill(0)
  for (let i = 0; i < 4 && !seen; i++) await round(r)
  assert.deepEqual(seen?.raw, encode(nearest))
  assert.deepEqual(seen?.query, nearest)
})

interface RpcCallLike {
  raw: Buffer
  query: TlObject | undefined
}

test('content goes first in a container: an answer finished while away precedes the msgs_state_info about it', async () => {
  const { r, c } = await start()
  let release: () => void = () => {}
  const gate = new Promise<void>((res) => (release = res))
  r.dispatcher.handlers.set('help.getConfig', async () => {
    await gate
    return nearestResult()
  })
  const q = c.send(getConfig)
  await round(r)
  r.manager.closeConnection('c1')
  release()
  await round(r)
  assert.deepEqual(r.link.sent, [], 'nothing to send without a connection')
  c.connId = 'c2'
  c.sendContainer([
    [{ _: 'ping', ping_id: 1n }, true],
    [{ _: 'msgs_state_req', msg_ids: [q] }, true],
  ])
  const got = await round(r)
  const iResult = got.findIndex((g) => g.reqMsgId === q)
  const iInfo = got.findIndex((g) => g.obj._ === 'msgs_state_info')
  assert.ok(iResult >= 0 && iInfo >= 0)
  assert.ok(iResult < iInfo, 'the answer comes before the status message')
  assert.equal(r.dispatcher.calls.length, 1)
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

test('invokeAfterMsg on a query that already failed earlier → MSG_WAIT_FAILED; on a finished good one it runs', async () => {
  const { r, c } = await start()
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  const bad = c.send(getConfig) // no handler: METHOD_INVALID
  const good = c.send(nearest)
  await round(r)
  const a = c.send({ _: 'invokeAfterMsg', msg_id: bad, query: nearest } as TlObject)
  const b = c.send({ _: 'invokeAfterMsg', msg_id: good, query: nearest } as TlObject)
  const got = results(await round(r))
  assert.deepEqual(got.find((g) => g.reqMsgId === a)!.obj, { _: 'rpc_error', error_code: 400, error_message: 'MSG_WAIT_FAILED' })
  assert.equal(got.find((g) => g.reqMsgId === b)!.obj._, 'nearestDc')
})

test('messages of one turn (several packets of a pipelining client) are answered in one container', async () => {
  const { r, c } = await start()
  c.send({ _: 'ping', ping_id: 1n })
  await round(r)
  const ids = [c.send({ _: 'ping', ping_id: 2n }), c.send({ _: 'ping', ping_id: 3n }), c.send({ _: 'ping', ping_id: 4n })]
  assert.equal(r.link.sent.length, 0, 'nothing sent before the turn ends')
  await new Promise<void>((res) => process.nextTick(res))
  const sent = r.link.take()
  assert.equal(sent.length, 1, 'one packet')
  const got = unpack(sent)
  assert.ok(got.every((g) => g.inContainer))
  assert.deepEqual(
    only(got, 'pong').map((p) => p.msg_id),
    ids,
  )
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
