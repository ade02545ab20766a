import { test } from 'node:test'
import assert from 'node:assert/strict'
import { buildContainer } from '../../src/session/envelope.js'
import { encode, type TlObject } from '../../src/tl/index.js'
import { settle, unpack } from './harness.js'
import { start, round, only, results, nearest, nearestResult, bigCountry, bigResult } from './session-helpers.js'

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
