import { test } from 'node:test'
import assert from 'node:assert/strict'
import { checkClientMsgId, msgIdToMs, msToMsgId, ServerMsgIdGenerator } from '../../src/session/msg-id.js'
import { ManualClock } from '../../src/util/clock.js'

const NOW = 1_750_000_000_123

test('msToMsgId encodes unix time in the high 32 bits and the fraction in the low bits', () => {
  const id = msToMsgId(NOW)
  assert.equal(Number(id >> 32n), Math.floor(NOW / 1000))
  assert.ok((id & 0xffffffffn) > 0n, 'lower 32 bits carry the fraction')
  assert.ok(Math.abs(msgIdToMs(id) - NOW) < 1)
})

test('client msg_id: parity → 18, too old → 16, too new → 17, within the window → 0', () => {
  const ok = msToMsgId(NOW) & ~3n
  assert.equal(checkClientMsgId(ok, NOW), 0)
  assert.equal(checkClientMsgId(ok | 1n, NOW), 18)
  assert.equal(checkClientMsgId(ok | 2n, NOW), 18)
  assert.equal(checkClientMsgId(msToMsgId(NOW - 299_000) & ~3n, NOW), 0)
  assert.equal(checkClientMsgId(msToMsgId(NOW - 301_000) & ~3n, NOW), 16)
  assert.equal(checkClientMsgId(msToMsgId(NOW + 29_000) & ~3n, NOW), 0)
  assert.equal(checkClientMsgId(msToMsgId(NOW + 31_000) & ~3n, NOW), 17)
  assert.equal(checkClientMsgId(msToMsgId(NOW - 600_000) & ~3n, NOW), 16)
  assert.equal(checkClientMsgId(msToMsgId(NOW + 600_000) & ~3n, NOW), 17)
})

test('server msg_ids: ≡ 1 mod 4 for responses, ≡ 3 otherwise, strictly increasing at a frozen clock', () => {
  const clock = new ManualClock(NOW)
  const g = new ServerMsgIdGenerator(clock)
  let last = 0n
  for (let i = 0; i < 1000; i++) {
    const resp = i % 3 !== 0
    const id = g.next(resp)
    assert.equal(id & 3n, resp ? 1n : 3n)
    assert.ok(id > last)
    last = id
  }
  assert.equal(Number(last >> 32n), Math.floor(NOW / 1000), 'still reflects the server time')
})

test('server msg_ids follow the clock again after a large step back (clients sync from them)', () => {
  const clock = new ManualClock(NOW + 600_000)
  const g = new ServerMsgIdGenerator(clock)
  g.next(true)
  clock.set(NOW)
  const id = g.next(true)
  assert.equal(Number(id >> 32n), Math.floor(NOW / 1000))
  assert.equal(id & 3n, 1n)
})

test('server msg_ids stay increasing when the clock goes backwards a little', () => {
  const clock = new ManualClock(NOW)
  const g = new ServerMsgIdGenerator(clock)
  const a = g.next(true)
  clock.set(NOW - 5000)
  const b = g.next(false)
  assert.ok(b > a)
  clock.set(NOW + 5000)
  const c = g.next(true)
  assert.equal(Number(c >> 32n), Math.floor((NOW + 5000) / 1000))
})
