/**
 * What a client may make the session layer expand: gzip_packed inflation per packet (all of its
 * gzip_packed together) and per connection over time, re-sends; over it the connection is closed.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { gzipSync } from 'node:zlib'
import { ExpansionBudgets } from '../../src/session/expansion.js'
import { encode, TlWriter, ID_GZIP_PACKED, type TlObject } from '../../src/tl/index.js'
import { gzipPacked, settle } from './harness.js'
import { bigResult, nearest, only, results, round, start } from './session-helpers.js'

/** gzip_packed of `n` zero bytes (inflates n-fold from a few hundred bytes). */
function bomb(n: number): Buffer {
  const w = new TlWriter()
  w.int(ID_GZIP_PACKED)
  w.bytes(gzipSync(Buffer.alloc(n)))
  return Buffer.from(w.finish())
}

const ping = (id: bigint): TlObject => ({ _: 'ping', ping_id: id })

test('gzip_packed within the packet budget inflates; the connection stays', async () => {
  const { r, c } = await start({ expansion: { perPacket: 64 * 1024 } })
  c.send(gzipPacked(ping(7n)), false)
  const got = await round(r)
  assert.equal(only(got, 'pong')[0]?.ping_id, 7n)
  assert.deepEqual(r.link.closed, [])
})

test('a container whose gzip_packed together inflate above the packet budget closes the connection', async () => {
  const { r, c } = await start({ expansion: { perPacket: 64 * 1024 } })
  // each inflates to 40 KB: the second one goes over 64 KB
  c.sendContainer([
    [bomb(40 * 1024), false],
    [bomb(40 * 1024), false],
    [ping(1n), false],
  ])
  await settle()
  assert.deepEqual(r.link.closed.map((x) => x.reason), ['expansion budget exceeded'])
  assert.equal(r.manager.stats.expansionCloses, 1)
})

test('a gzip_packed announcing more than the budget is refused without inflating it', async () => {
  const budgets = new ExpansionBudgets({ perPacket: 1000, perSecond: 10_000 })
  const p = budgets.packet('c1', 0)
  const { unpackGzip } = await import('../../src/session/envelope.js')
  assert.throws(() => unpackGzip(bomb(1_000_000), p), /too large/)
  assert.equal(p.exceeded, true)
  assert.equal(p.left, 1000, 'nothing was inflated')
  assert.equal(budgets.settle('c1', p, 0), true)
})

test('a gzip stream whose trailer under-announces its size stops at the budget', async () => {
  const { inflateGzip } = await import('../../src/tl/index.js')
  const z = gzipSync(Buffer.alloc(100_000))
  z.writeUInt32LE(10, z.length - 4) // claims 10 bytes
  const b = { left: 5000 }
  assert.throws(() => inflateGzip(z, b), /too large/)
  assert.equal(b.left, 0)
})

test('the per-connection rate: packets each under the packet budget close the connection once the bucket is dry', async () => {
  const { r, c } = await start({ expansion: { perPacket: 64 * 1024, perSecond: 64 * 1024 } })
  // burst 128 KB: four packets of 40 KB spend it within one clock instant
  for (let i = 0; i < 4; i++) c.send(bomb(40 * 1024), false)
  await settle()
  assert.deepEqual(r.link.closed.map((x) => x.reason), ['expansion budget exceeded'])
  // another connection has its own bucket
  r.link.closed.length = 0
  c.send(gzipPacked(ping(9n)), false, { connId: 'other' })
  await settle()
  assert.deepEqual(r.link.closed, [])
})

test('the bucket refills with time', async () => {
  const { r, c } = await start({ expansion: { perPacket: 64 * 1024, perSecond: 64 * 1024 } })
  for (let i = 0; i < 3; i++) c.send(bomb(40 * 1024), false)
  r.clock.advance(2000)
  for (let i = 0; i < 3; i++) c.send(bomb(40 * 1024), false)
  await settle()
  assert.deepEqual(r.link.closed, [])
})

test('msg_resend_req: repeated ids are one re-send, and re-sends spend the connection budget', async () => {
  const { r, c } = await start({ gzipMinBytes: 1 << 30, expansion: { perPacket: 4096, perSecond: 1 } })
  r.dispatcher.handlers.set('help.getNearestDc', bigResult)
  c.send(nearest)
  const first = results(await round(r))[0]!
  c.send({ _: 'msg_resend_req', msg_ids: [first.msgId, first.msgId, first.msgId] }, false)
  const again = results(await round(r))
  assert.equal(again.length, 1, 'one re-send for three copies of the id')
  // an answer of ~6 KB re-sent against a burst of 8 KB: the second request goes over
  c.send({ _: 'msg_resend_req', msg_ids: [first.msgId] }, false)
  await round(r)
  assert.deepEqual(r.link.closed.map((x) => x.reason), ['expansion budget exceeded'])
})

test('a replayed message on another connection does not move the session; a new one does', async () => {
  const { r, c } = await start()
  const id = c.send(ping(1n), false)
  await round(r)
  // the same packet replayed on another socket
  c.send(ping(1n), false, { msgId: id, seqNo: 0, connId: 'attacker' })
  await round(r)
  const s = r.manager.session(c.authKeyId, c.sessionId)!
  assert.equal(s.conn?.connId, c.connId, 'the session stays on the client connection')
  // pushes still go to the client's socket
  r.manager.pushToAuthKey(c.authKeyId, encode({ _: 'updatesTooLong' }))
  await settle()
  assert.ok(r.link.take().every((x) => x.connId === c.connId))
  // the client itself moves with a new message
  c.send(ping(2n), false, { connId: 'c2' })
  await round(r)
  assert.equal(s.conn?.connId, 'c2')
})

test('service-message work is charged: a container of msgs_state_req with huge id vectors closes the connection before it is worked through', async () => {
  const { r, c } = await start({ expansion: { perPacket: 2 * 1024 * 1024 } })
  const ids = Array.from({ length: 2000 }, (_, i) => BigInt(i + 1) << 32n)
  c.sendContainer(Array.from({ length: 100 }, () => [{ _: 'msgs_state_req', msg_ids: ids } as TlObject, false] as [TlObject, boolean]))
  const got = await round(r)
  assert.deepEqual(r.link.closed.map((x) => x.reason), ['expansion budget exceeded'])
  assert.ok(only(got, 'msgs_state_info').length < 10, 'the rest of the container was not answered')
})

test('ordinary traffic spends little: containers of pings and acks stay well inside the budget', async () => {
  const { r, c } = await start({ expansion: { perPacket: 2 * 1024 * 1024, perSecond: 16 * 1024 * 1024 } })
  for (let round_ = 0; round_ < 50; round_++) {
    c.sendContainer([
      [ping(BigInt(round_)), false],
      [{ _: 'msgs_ack', msg_ids: Array.from({ length: 30 }, (_, i) => BigInt(i + 1) << 32n) }, false],
      ...Array.from({ length: 20 }, (_, i) => [ping(BigInt(1000 + i)), false] as [TlObject, boolean]),
    ])
  }
  await round(r)
  assert.deepEqual(r.link.closed, [])
})
