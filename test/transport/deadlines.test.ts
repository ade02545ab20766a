/**
 * Deadlines in the shared DeadlineWheel, on a ManualClock with the wheel's check driven by hand
 * (fire()): a deadline is reported once its slot has ended, never before it passed; a check that
 * stops other connections' deadlines in the same slot; stop() and earlier deadlines moving slots.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DEADLINE_SLOT_MS, Deadlines, wheelFor, type Expiry } from '../../src/transport/deadlines.js'
import { ManualClock } from '../../src/util/clock.js'

const LIMITS = { firstPacketTimeoutMs: 0, idleTimeoutMs: 250, frameTimeoutMs: 100, minFrameBytesPerSecond: 1000 }

interface Report {
  name: string
  what: Expiry
  ms: number
}

/** A Deadlines whose expiry is recorded in `reports` and stops it (as a closing connection does); `onExpired` runs first. */
function watched(name: string, clock: ManualClock, reports: Report[], onExpired?: () => void): Deadlines {
  const d: Deadlines = new Deadlines(LIMITS, clock, {
    readPaused: false,
    expired(what, ms) {
      reports.push({ name, what, ms })
      onExpired?.()
      d.stop()
    },
  })
  return d
}

describe('DeadlineWheel', () => {
  it('reports an idle deadline once its slot has ended: not before it passed, at most a slot after', () => {
    const clock = new ManualClock(10_000)
    const wheel = wheelFor(clock)
    const reports: Report[] = []
    const d = watched('a', clock, reports)
    assert.equal(wheel.size, 1)
    clock.advance(249)
    wheel.fire()
    assert.deepEqual(reports, [])
    clock.advance(1) // the deadline passed; its slot (ending at 10,300) has not
    wheel.fire()
    assert.deepEqual(reports, [])
    clock.advance(DEADLINE_SLOT_MS - 50)
    wheel.fire()
    assert.deepEqual(reports, [{ name: 'a', what: 'idle timeout', ms: 300 }])
    assert.equal(wheel.size, 0)
    d.stop()
  })

  it('activity moves the deadline: the check queues it again for the later one', () => {
    const clock = new ManualClock(20_000)
    const wheel = wheelFor(clock)
    const reports: Report[] = []
    const d = watched('a', clock, reports)
    clock.advance(200)
    d.activity(clock.now())
    clock.advance(100)
    wheel.fire()
    assert.deepEqual(reports, [])
    assert.equal(wheel.size, 1)
    clock.advance(250)
    wheel.fire()
    assert.deepEqual(reports, [{ name: 'a', what: 'idle timeout', ms: 350 }])
  })

  it('a check that stops other deadlines of the same slot: they are not reported, the rest still are', () => {
    const clock = new ManualClock(30_000)
    const wheel = wheelFor(clock)
    const reports: Report[] = []
    let victims: Deadlines[] = []
    const stopVictims = (): void => {
      for (const v of victims) v.stop()
      victims = []
    }
    // a slot's list is newest first: e, d, c, b, a. e's expiry stops d (next in the list) and b.
    const a = watched('a', clock, reports)
    const b = watched('b', clock, reports)
    watched('c', clock, reports)
    const d = watched('d', clock, reports)
    watched('e', clock, reports, stopVictims)
    victims = [d, b]
    assert.equal(wheel.size, 5)
    clock.advance(300)
    wheel.fire()
    assert.deepEqual(reports.map((r) => r.name), ['e', 'c', 'a'])
    assert.equal(wheel.size, 0)
    a.stop() // stopped twice: nothing happens
    assert.equal(wheel.size, 0)
  })

  it('stop() takes a deadline out of its slot', () => {
    const clock = new ManualClock(40_000)
    const wheel = wheelFor(clock)
    const reports: Report[] = []
    const a = watched('a', clock, reports)
    const b = watched('b', clock, reports)
    const c = watched('c', clock, reports)
    b.stop()
    assert.equal(wheel.size, 2)
    c.stop()
    a.stop()
    assert.equal(wheel.size, 0)
    clock.advance(1000)
    wheel.fire()
    assert.deepEqual(reports, [])
  })

  it('a frame deadline earlier than the idle one moves the deadline to an earlier slot', () => {
    const clock = new ManualClock(50_000)
    const wheel = wheelFor(clock)
    const reports: Report[] = []
    const d = watched('a', clock, reports)
    clock.advance(10)
    d.partial(50, clock.now(), false) // frame deadline: 50,010 + 100 + 50 = 50,160
    clock.advance(150)
    wheel.fire()
    assert.deepEqual(reports, [])
    clock.advance(40) // 50,200: the slot ending at 50,200 has ended; the idle deadline (50,250) has not passed
    wheel.fire()
    assert.deepEqual(reports, [{ name: 'a', what: 'frame timeout', ms: 190 }])
  })
})
