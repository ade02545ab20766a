/**
 * The deadlines of one connection: the first valid packet (until markValid), idle time, and the
 * completion of each frame (frameTimeoutMs plus its bytes so far at minFrameBytesPerSecond). While
 * the owner has reading paused, the first-packet and idle deadlines wait; the frame deadline does
 * not (a partial frame holds memory whoever waits).
 *
 * No connection owns a timer: every Deadlines of a clock waits in one DeadlineWheel, in the slot of
 * DEADLINE_SLOT_MS its next deadline falls in, and the wheel's one timer checks a slot once its end
 * has passed. A deadline is so reported between 0 and DEADLINE_SLOT_MS (plus timer lateness) after
 * it passed, never before.
 */
import type { Clock } from '../util/clock.js'
import type { TransportLimits } from './limits.js'

/** What expired, as the connection's close reason. */
export type Expiry = 'first packet timeout' | 'frame timeout' | 'idle timeout'

export interface DeadlineOwner {
  /** Reading is paused by us (backpressure): the peer cannot be idle or late then. */
  readonly readPaused: boolean
  /** A deadline passed: `ms` since it started counting, `bytes` of the frame for a frame timeout. */
  expired(what: Expiry, ms: number, bytes: number): void
}

type Limits = Pick<TransportLimits, 'firstPacketTimeoutMs' | 'idleTimeoutMs' | 'frameTimeoutMs' | 'minFrameBytesPerSecond'>

/** The width of a DeadlineWheel slot, ms: how late at most a deadline is reported. */
export const DEADLINE_SLOT_MS = 100

/** Deadlines.wheelSlot of one not waiting in a wheel, and of one in the list the wheel is checking. */
const NOT_QUEUED = -1
const CHECKING = -2

function onWheelTimer(w: DeadlineWheel): void {
  w.fire()
}

/**
 * The Deadlines waiting for their next check, in slots of DEADLINE_SLOT_MS by time since its origin
 * (slot n: times in ((n-1)·width, n·width]); each slot a doubly linked list through the Deadlines
 * themselves. One unref'd Node timer, set for the end of the earliest slot.
 */
export class DeadlineWheel {
  private readonly slots = new Map<number, Deadlines>()
  /** The rest of the slot being checked (its entries are marked CHECKING). */
  private checking: Deadlines | undefined = undefined
  private timer: NodeJS.Timeout | null = null
  private timerSlot = Infinity
  /**
   * The clock's time when the wheel was made: slots and the times of Deadlines count from it, small
   * integers for days (V8 keeps those in the field; a clock time would be a 16-byte heap number).
   */
  readonly origin: number

  constructor(private readonly clock: Clock) {
    this.origin = Math.floor(clock.now())
  }

  /** Deadlines waiting (tests, introspection). */
  get size(): number {
    let n = 0
    for (let d of this.slots.values()) for (; d !== undefined; d = d.wheelNext!) n++
    return n
  }

  /** Queues `d` for a check once `at` (ms after the origin) has passed; `d` must not be queued. */
  add(d: Deadlines, at: number): void {
    const slot = Math.ceil(at / DEADLINE_SLOT_MS)
    const head = this.slots.get(slot)
    d.wheelSlot = slot
    d.wheelPrev = undefined
    d.wheelNext = head
    if (head !== undefined) head.wheelPrev = d
    this.slots.set(slot, d)
    if (slot < this.timerSlot) this.arm(slot)
  }

  /** Takes `d` out of its slot, or out of the list being checked (it must be in one). */
  remove(d: Deadlines): void {
    const { wheelPrev: prev, wheelNext: next } = d
    if (prev !== undefined) prev.wheelNext = next
    else if (d.wheelSlot === CHECKING) this.checking = next
    else if (next !== undefined) this.slots.set(d.wheelSlot, next)
    else this.slots.delete(d.wheelSlot)
    if (next !== undefined) next.wheelPrev = prev
    d.wheelSlot = NOT_QUEUED
    d.wheelPrev = d.wheelNext = undefined
  }

  /** @internal The timer fired: checks every slot that has ended, then sets the timer for the earliest left. */
  fire(): void {
    this.timer = null
    this.timerSlot = Infinity
    const now = this.clock.now() - this.origin
    const due: Deadlines[] = []
    for (const [slot, head] of this.slots) {
      if (slot * DEADLINE_SLOT_MS > now) continue
      this.slots.delete(slot)
      for (let d: Deadlines | undefined = head; d !== undefined; d = d.wheelNext) d.wheelSlot = CHECKING
      due.push(head)
    }
    for (const head of due) {
      this.checking = head
      // a check may close other connections: their Deadlines leave this list through remove()
      for (let d: Deadlines | undefined = this.checking; d !== undefined; d = this.checking) {
        this.checking = d.wheelNext
        if (d.wheelNext !== undefined) d.wheelNext.wheelPrev = undefined
        d.wheelSlot = NOT_QUEUED
        d.wheelNext = undefined
        d.check()
      }
    }
    let earliest = Infinity
    for (const slot of this.slots.keys()) if (slot < earliest) earliest = slot
    if (earliest < this.timerSlot) this.arm(earliest)
  }

  private arm(slot: number): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timerSlot = slot
    this.timer = setTimeout(onWheelTimer, Math.max(1, slot * DEADLINE_SLOT_MS - (this.clock.now() - this.origin)), this)
    this.timer.unref()
  }
}

const wheels = new WeakMap<Clock, DeadlineWheel>()

/** The wheel of the Deadlines that run on `clock`. */
export function wheelFor(clock: Clock): DeadlineWheel {
  let w = wheels.get(clock)
  if (w === undefined) wheels.set(clock, (w = new DeadlineWheel(clock)))
  return w
}

export class Deadlines {
  /** Times relative to the wheel's origin (see DeadlineWheel.origin). */
  private lastActivity: number
  private readonly openedAt: number
  private partialAt = 0
  private valid = false
  /** Bytes of the frame in progress (0: none). */
  partialBytes = 0
  private stopped = false
  /** @internal DeadlineWheel: the slot this waits in (NOT_QUEUED: none) and its neighbours there. */
  wheelSlot = NOT_QUEUED
  wheelPrev: Deadlines | undefined = undefined
  wheelNext: Deadlines | undefined = undefined
  private readonly wheel: DeadlineWheel

  constructor(
    private readonly limits: Limits,
    private readonly clock: Clock,
    private readonly owner: DeadlineOwner,
  ) {
    this.wheel = wheelFor(clock)
    this.lastActivity = this.openedAt = clock.now() - this.wheel.origin
    this.schedule(this.next())
  }

  /** Clock ms the frame in progress began. */
  get partialSince(): number {
    return this.partialAt + this.wheel.origin
  }

  markValid(): void {
    this.valid = true
  }

  /** The peer sent bytes (or reading resumed after a pause of ours) at `now`. */
  activity(now: number): void {
    this.lastActivity = now - this.wheel.origin
  }

  /**
   * `bytes` of a frame are buffered after a read at `now`; `completed` says a frame ended in that
   * read, so what is buffered is the next frame's beginning and its deadline starts now.
   */
  partial(bytes: number, now: number, completed: boolean): void {
    const before = this.partialBytes
    this.partialBytes = bytes
    if (bytes > 0 && (before === 0 || completed)) {
      this.partialAt = now - this.wheel.origin
      this.schedule(this.next())
    }
  }

  /** No more deadlines (the connection closed). */
  stop(): void {
    this.stopped = true
    this.partialBytes = 0
    if (this.wheelSlot !== NOT_QUEUED) this.wheel.remove(this)
  }

  /** @internal DeadlineWheel: its slot has ended (it is no longer queued): reports an expired deadline, else queues again. */
  check(): void {
    if (this.stopped) return
    const now = this.clock.now() - this.wheel.origin
    const l = this.limits
    if (this.framing() && now >= this.frameDeadline()) return this.owner.expired('frame timeout', now - this.partialAt, this.partialBytes)
    if (this.owner.readPaused) {
      // paused by us: the first-packet and idle deadlines wait; look again later
      const later = now + Math.max(1000, Math.min(l.idleTimeoutMs || 1000, 10_000))
      this.schedule(this.framing() ? Math.min(later, this.frameDeadline()) : later)
      return
    }
    if (!this.valid && l.firstPacketTimeoutMs > 0 && now - this.openedAt >= l.firstPacketTimeoutMs) return this.owner.expired('first packet timeout', now - this.openedAt, 0)
    if (l.idleTimeoutMs > 0 && now - this.lastActivity >= l.idleTimeoutMs) return this.owner.expired('idle timeout', now - this.lastActivity, 0)
    this.schedule(this.next())
  }

  private framing(): boolean {
    return this.partialBytes > 0 && this.limits.frameTimeoutMs > 0
  }

  /** Relative to the wheel's origin, as next(). */
  private frameDeadline(): number {
    return this.partialAt + this.limits.frameTimeoutMs + (this.partialBytes * 1000) / this.limits.minFrameBytesPerSecond
  }

  /** The earliest deadline that applies now, relative to the wheel's origin (Infinity: none). */
  private next(): number {
    const l = this.limits
    let at = Infinity
    if (!this.valid && l.firstPacketTimeoutMs > 0) at = this.openedAt + l.firstPacketTimeoutMs
    if (l.idleTimeoutMs > 0) at = Math.min(at, this.lastActivity + l.idleTimeoutMs)
    if (this.framing()) at = Math.min(at, this.frameDeadline())
    return at
  }

  /** Makes sure a check comes by `at` (relative to the wheel's origin; within the wheel's slot width). */
  private schedule(at: number): void {
    // in the list the wheel is checking: its check comes in this turn and queues it again
    if (at === Infinity || this.stopped || this.wheelSlot === CHECKING) return
    if (this.wheelSlot >= 0) {
      if (this.wheelSlot * DEADLINE_SLOT_MS <= at) return
      this.wheel.remove(this)
    }
    this.wheel.add(this, at)
  }
}
