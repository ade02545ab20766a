/**
 * Outbox (src/session/outbox.ts): what an unacknowledged entry keeps alive, and its bounds.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { Outbox } from '../../src/session/outbox.js'

const silent = pino({ level: 'silent' })

test('a body that is a view into a larger buffer (a pool slice, a slice of a reply) is kept as a copy of its own size', () => {
  const o = new Outbox(silent)
  const reply = Buffer.alloc(4096, 7)
  const view = reply.subarray(100, 1100)
  const pooled = Buffer.allocUnsafe(300).fill(9) // a slice of Node's 8 KB pool
  assert.ok(pooled.buffer.byteLength > pooled.length, 'allocUnsafe hands out pool slices')
  const a = { kind: 'result' as const, body: view, response: true }
  const b = { kind: 'result' as const, body: pooled, response: true }
  o.add(a)
  o.add(b)
  for (const [e, src] of [[a, view], [b, pooled]] as const) {
    assert.deepEqual(e.body, src, 'same bytes')
    assert.notEqual(e.body.buffer, src.buffer, 'not the larger buffer')
    assert.equal(e.body.buffer.byteLength, src.length, 'memory of its own size')
  }
  const whole = Buffer.allocUnsafeSlow(2000)
  const c = { kind: 'push' as const, body: whole, response: false }
  o.add(c)
  assert.equal(c.body, whole, 'a buffer that is all of its memory is kept as it is')
  assert.equal(o.totalBytes, 1000 + 300 + 2000)
})

test('bounded by messages and bytes: the oldest entries go first', () => {
  const o = new Outbox(silent, 3, 10_000)
  for (let i = 0; i < 5; i++) o.add({ kind: 'push', body: Buffer.allocUnsafeSlow(100), response: false, msgId: BigInt(i * 4 + 1) })
  assert.equal(o.size, 3)
  assert.equal(o.ack(1n), undefined, 'the first was dropped')
  assert.equal(o.ack(17n)?.msgId, 17n)
  assert.equal(o.ack(17n), undefined, 'acknowledged once')
  const small = new Outbox(silent, 100, 250)
  for (let i = 0; i < 3; i++) small.add({ kind: 'push', body: Buffer.allocUnsafeSlow(100), response: false })
  assert.equal(small.size, 2)
  assert.equal(small.totalBytes, 200)
})
