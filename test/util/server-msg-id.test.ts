import { test } from 'node:test'
import assert from 'node:assert/strict'
import { msgIdToMs, msToMsgId } from '../../src/session/msg-id.js'
import { ManualClock } from '../../src/util/clock.js'
import { ServerMsgIdGenerator } from '../../src/util/server-msg-id.js'

const NOW = 1_750_000_000_123

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

test('server msg_ids: the low word carries into the high word; the same ids as the bigint formula', () => {
  // reference: the straightforward bigint version of the generator
  const reference = (prev: bigint, prevMs: number, now: number, response: boolean): bigint => {
    let id = now === prevMs ? prev + 1n : msToMsgId(now)
    if (now !== prevMs && id <= prev && msgIdToMs(prev) - now <= 30_000) id = prev + 1n
    return id + ((BigInt(response ? 1 : 3) - (id & 3n) + 4n) & 3n)
  }
  const clock = new ManualClock(NOW)
  const g = new ServerMsgIdGenerator(clock)
  let prev = 0n
  let prevMs = -1
  const steps = [0, 0, 1, 0, -3, 0, 997, -5000, 0, 40_000, -31_000, 1, 0]
  let ms = NOW
  for (let i = 0; i < steps.length * 20; i++) {
    ms += steps[i % steps.length]!
    clock.set(ms)
    const resp = i % 2 === 0
    const want = reference(prev, prevMs, ms, resp)
    assert.equal(g.next(resp), want, `step ${i}`)
    prev = want
    prevMs = ms
  }
  // a fraction just below 2^32: the next ids at the same millisecond cross into the next second
  const edge = new ManualClock(999.9999767) // fraction ≈ 2^32 − 100
  const h = new ServerMsgIdGenerator(edge)
  const ids = Array.from({ length: 200 }, () => h.next(true))
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]! && (ids[i]! & 3n) === 1n)
  assert.equal(ids[0]! >> 32n, 0n)
  assert.equal(ids.at(-1)! >> 32n, 1n, 'carried into the seconds')
})

test('nextInto writes the same ids next() returns, little-endian', () => {
  const a = new ServerMsgIdGenerator(new ManualClock(NOW))
  const b = new ServerMsgIdGenerator(new ManualClock(NOW))
  const buf = Buffer.alloc(12)
  for (let i = 0; i < 50; i++) {
    b.nextInto(buf, 2, i % 2 === 0)
    assert.equal(buf.readBigInt64LE(2), a.next(i % 2 === 0))
  }
})

test('handshake answers: ≡ 1 mod 4, time-based, increasing when the clock stands still or steps back 1 s', () => {
  const clock = new ManualClock(1_700_000_000_500)
  const ids = new ServerMsgIdGenerator(clock)
  const a = ids.next(true)
  const b = ids.next(true)
  clock.advance(-1000)
  const c = ids.next(true)
  for (const x of [a, b, c]) assert.equal(x % 4n, 1n)
  assert.ok(b > a && c > b)
  assert.equal(a >> 32n, 1_700_000_000n)
})
