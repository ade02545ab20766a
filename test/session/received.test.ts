import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ReceivedWindow } from '../../src/session/received.js'

const e = (seqNo: number, extra: Partial<{ rpc: boolean; answered: boolean; acked: boolean }> = {}) => ({
  seqNo,
  content: (seqNo & 1) === 1,
  rpc: false,
  answered: false,
  acked: false,
  ...extra,
})

test('seqno order: lower seqno than an earlier message → 32, higher than a later one → 33', () => {
  const w = new ReceivedWindow()
  w.add(100n, e(1))
  w.add(200n, e(5))
  assert.equal(w.check(300n, 7), 0)
  assert.equal(w.check(300n, 6), 0, 'even seqno after odd one is fine')
  assert.equal(w.check(300n, 3), 32)
  assert.equal(w.check(300n, 5), 32, 'equal and odd')
  assert.equal(w.check(150n, 3), 0, 'fits between neighbours')
  assert.equal(w.check(150n, 7), 33)
  assert.equal(w.check(150n, 5), 33, 'equal and odd to the next')
  assert.equal(w.check(150n, 1), 32, 'equal and odd to the previous')
  w.add(300n, e(6))
  assert.equal(w.check(400n, 6), 0, 'equal and even is allowed')
})

test('window eviction makes older ids "too old to tell" (20)', () => {
  const w = new ReceivedWindow(4)
  for (let i = 1; i <= 6; i++) w.add(BigInt(i * 4), e(i * 2))
  assert.equal(w.size, 4)
  assert.equal(w.check(4n, 0), 20)
  assert.equal(w.check(8n, 0), 20)
  assert.equal(w.check(9n, 2), 0)
})

test('msgs_state_info bytes per spec', () => {
  const w = new ReceivedWindow(3)
  assert.equal(w.state(10n), 1, 'nothing known yet')
  w.add(100n, e(1, { rpc: true, answered: true, acked: true }))
  w.add(200n, e(2))
  w.add(300n, e(3, { rpc: true }))
  assert.equal(w.state(100n), 4 | 8 | 32 | 64)
  assert.equal(w.state(200n), 4 | 16)
  assert.equal(w.state(300n), 4 | 32)
  assert.equal(w.state(250n), 2, 'within the range, not received')
  assert.equal(w.state(400n), 3, 'above the range')
  assert.equal(w.state(50n), 1, 'below the range')
  w.add(400n, e(4))
  assert.equal(w.state(100n), 1, 'forgotten')
})

test('out-of-order arrivals are kept sorted', () => {
  const w = new ReceivedWindow()
  w.add(300n, e(5))
  w.add(100n, e(1))
  w.add(200n, e(3))
  assert.equal(w.check(250n, 3), 32)
  assert.equal(w.check(250n, 4), 0)
  assert.equal(w.check(50n, 0), 0)
  assert.equal(w.check(50n, 2), 33)
})
