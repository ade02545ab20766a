/**
 * The deadlines of one connection and the single timer that watches them: the first valid packet
 * (until markValid), idle time, and the completion of each frame (frameTimeoutMs plus its bytes so
 * far at minFrameBytesPerSecond). While the owner has reading paused, the first-packet and idle
 * deadlines wait; the frame deadline does not (a partial frame holds memory whoever waits).
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

function onTimer(d: Deadlines): void {
  d.check()
}

export class Deadlines {
  private lastActivity: number
  private readonly openedAt: number
  private valid = false
  /** Bytes of the frame in progress (0: none). */
  partialBytes = 0
  /** Clock ms the frame in progress began. */
  partialSince = 0
  private timer: NodeJS.Timeout | null = null
  private timerAt = Infinity
  private stopped = false

  constructor(
    private readonly limits: Limits,
    private readonly clock: Clock,
    private readonly owner: DeadlineOwner,
  ) {
    this.lastActivity = this.openedAt = clock.now()
    this.schedule(this.next())
  }

  markValid(): void {
    this.valid = true
  }

  /** The peer sent bytes (or reading resumed after a pause of ours) at `now`. */
  activity(now: number): void {
    this.lastActivity = now
  }

  /**
   * `bytes` of a frame are buffered after a read at `now`; `completed` says a frame ended in that
   * read, so what is buffered is the next frame's beginning and its deadline starts now.
   */
  partial(bytes: number, now: number, completed: boolean): void {
    const before = this.partialBytes
    this.partialBytes = bytes
    if (bytes > 0 && (before === 0 || completed)) {
      this.partialSince = now
      this.schedule(this.next())
    }
  }

  /** No more deadlines (the connection closed). */
  stop(): void {
    this.stopped = true
    this.partialBytes = 0
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.timerAt = Infinity
  }

  /** @internal The timer fired: report an expired deadline, else re-arm. */
  check(): void {
    this.timer = null
    this.timerAt = Infinity
    if (this.stopped) return
    const now = this.clock.now()
    const l = this.limits
    if (this.framing() && now >= this.frameDeadline()) return this.owner.expired('frame timeout', now - this.partialSince, this.partialBytes)
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

  private frameDeadline(): number {
    return this.partialSince + this.limits.frameTimeoutMs + (this.partialBytes * 1000) / this.limits.minFrameBytesPerSecond
  }

  /** The earliest deadline that applies now (Infinity: none). */
  private next(): number {
    const l = this.limits
    let at = Infinity
    if (!this.valid && l.firstPacketTimeoutMs > 0) at = this.openedAt + l.firstPacketTimeoutMs
    if (l.idleTimeoutMs > 0) at = Math.min(at, this.lastActivity + l.idleTimeoutMs)
    if (this.framing()) at = Math.min(at, this.frameDeadline())
    return at
  }

  private schedule(at: number): void {
    if (at === Infinity || this.stopped) return
    if (this.timer !== null && this.timerAt <= at) return
    if (this.timer !== null) clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(onTimer, Math.max(1, at - this.clock.now()), this)
    this.timer.unref()
  }
}
