import { test } from 'node:test'
import assert from 'node:assert/strict'
import { msToMsgId } from '../../src/session/msg-id.js'
import { TestClient } from './harness.js'
import { start, round, only, results, getConfig, nearest, nearestResult } from './session-helpers.js'

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
