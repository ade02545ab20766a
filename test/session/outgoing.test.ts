import { test } from 'node:test'
import assert from 'node:assert/strict'
import { encode, type TlObject } from '../../src/tl/index.js'
import { settle, unpack } from './harness.js'
import { start, round, only, results, getConfig, nearest, nearestResult } from './session-helpers.js'

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

/** The messages of one packet: its container's, or itself. */
function messagesOf(body: Buffer): Buffer[] {
  if (body.readUInt32LE(0) !== 0x73f1f8dc) return [body]
  const out: Buffer[] = []
  for (let i = 0, o = 8, n = body.readInt32LE(4); i < n; i++) {
    const len = body.readInt32LE(o + 12)
    out.push(body.subarray(o + 16, o + 16 + len))
    o += 16 + len
  }
  return out
}

test('an rpc_error is the last message of its container (GramJS reads nothing after one)', async () => {
  const { r, c } = await start()
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  c.sendContainer([
    [getConfig, true],
    [getConfig, true],
    [nearest, true],
    [{ _: 'ping', ping_id: 4n }, true],
  ])
  await settle()
  const sent = r.link.take()
  const isError = (m: Buffer) => m.readUInt32LE(0) === 0xf35c6d01 && m.readUInt32LE(12) === 0x2144ca19
  let errors = 0
  for (const s of sent) {
    const msgs = messagesOf(s.out.body)
    msgs.forEach((m, i) => {
      if (!isError(m)) return
      errors++
      assert.equal(i, msgs.length - 1, 'the rpc_error ends its packet')
    })
  }
  assert.equal(errors, 2)
  const got = unpack(sent)
  assert.equal(results(got).length, 3)
  assert.equal(only(got, 'pong').length, 1)
})
