/**
 * The HTTP transport's connection for one session (auth key + session_id): what the session layer
 * writes to it is queued here, and every HTTP request of the session (on any keep-alive
 * connection) waits here for one packet, as `http_wait` (service_messages.md, "HTTP Wait/Long
 * Poll") asks: the answer goes out `max_delay` ms after the first queued message at most,
 * `wait_after` ms after the latest one, and at `max_wait` an empty container goes out instead.
 * The channel outlives requests the way a session outlives TCP connections; with no request for
 * the idle time it closes (the session then has no connection until the next request).
 */
import { countTransportError } from '../transport/errors.js'
import type { HttpExchange } from '../transport/http-api.js'
import type { Clock } from '../util/clock.js'
import { MT_ID } from '../tl/index.js'
import type { EncryptedConn } from './encrypted.js'

export interface HttpWait {
  maxDelay: number
  waitAfter: number
  maxWait: number
}

/** What a request without http_wait gets (service_messages.md). */
export const DEFAULT_HTTP_WAIT: Readonly<HttpWait> = Object.freeze({ maxDelay: 0, waitAfter: 0, maxWait: 25_000 })

const ID_HTTP_WAIT = MT_ID.http_wait
const ID_CONTAINER = MT_ID.msg_container

/** The http_wait in a decrypted message body (alone or in a container; the last one wins), else undefined. */
export function readHttpWait(body: Buffer): HttpWait | undefined {
  if (body.length >= 16 && body.readUInt32LE(0) === ID_HTTP_WAIT) return parseWait(body, 0)
  if (body.length < 8 || body.readUInt32LE(0) !== ID_CONTAINER) return undefined
  let found: HttpWait | undefined
  const n = body.readInt32LE(4)
  let o = 8
  for (let i = 0; i < n && o + 16 <= body.length; i++) {
    const len = body.readInt32LE(o + 12)
    const start = o + 16
    if (len < 0 || start + len > body.length) break
    if (len >= 16 && body.readUInt32LE(start) === ID_HTTP_WAIT) found = parseWait(body, start)
    o = start + len
  }
  return found
}

function parseWait(b: Buffer, at: number): HttpWait {
  const ms = (v: number): number => Math.max(0, v)
  return { maxDelay: ms(b.readInt32LE(at + 4)), waitAfter: ms(b.readInt32LE(at + 8)), maxWait: ms(b.readInt32LE(at + 12)) }
}

export interface HttpChannelLimits {
  /** Longest a request is held, whatever its max_wait asks (ms). */
  maxWaitCapMs: number
  /** Requests held at once; a newer one answers the oldest at once (with what is queued, or empty). */
  maxWaiters: number
  /** Packets and bytes queued for requests to come; more closes the channel. */
  maxQueuedPackets: number
  maxQueuedBytes: number
  /** No request for this long (and none held): the channel closes. */
  idleMs: number
}

/**
 * Limits of every channel but the max_wait cap (config `http.max_wait_ms`) and the idle time
 * (`limits.idle_timeout_ms`); and the channels one auth key may have (the session layer keeps 256
 * sessions per key).
 */
export const HTTP_CHANNEL_LIMITS = { maxWaiters: 8, maxQueuedPackets: 1024, maxQueuedBytes: 16 * 1024 * 1024, maxChannelsPerKey: 256 } as const

export interface HttpChannelDeps {
  clock: Clock
  limits: HttpChannelLimits
  /** An empty msg_container sealed for this session (the answer at max_wait); undefined when the key is gone. */
  emptyPacket(ch: HttpChannel): Buffer | undefined
  /** The channel closed (idle, by the session layer, or over its limits). */
  onClose(ch: HttpChannel, reason: string): void
}

interface Waiter {
  x: HttpExchange
  wait: HttpWait
  /** max_wait deadline. */
  deadline: number
  /** When the first message queued while this waiter was the oldest (max_delay runs from it). */
  firstAt: number | undefined
}

function onTimer(ch: HttpChannel): void {
  ch.timerFired()
}

export class HttpChannel implements EncryptedConn {
  readonly info = { transport: 'http' as const }
  /** The latest request's peer. */
  remoteAddress: string
  /** The salt of the latest request (what an empty container carries). */
  salt = 0n
  closed = false
  private readonly queue: Buffer[] = []
  private queuedBytes = 0
  private readonly waiters: Waiter[] = []
  private timer: NodeJS.Timeout | undefined
  private timerAt = Infinity
  private lastActive: number
  private lastQueuedAt = 0

  constructor(
    readonly id: string,
    readonly authKeyId: bigint,
    readonly sessionId: bigint,
    remoteAddress: string,
    private readonly deps: HttpChannelDeps,
  ) {
    this.remoteAddress = remoteAddress
    this.lastActive = deps.clock.now()
  }

  /** Requests held now (tests, metrics). */
  get waiting(): number {
    return this.waiters.length
  }

  /** Packets queued for requests to come. */
  get queued(): number {
    return this.queue.length
  }

  /** A request of this session: it is answered with the next packet, per its http_wait. */
  addRequest(x: HttpExchange, wait: HttpWait, remoteAddress: string): void {
    if (this.closed) {
      this.answerEmpty(x)
      return
    }
    const now = this.deps.clock.now()
    this.lastActive = now
    this.remoteAddress = remoteAddress
    const w: Waiter = { x, wait, deadline: now + Math.min(wait.maxWait, this.deps.limits.maxWaitCapMs), firstAt: undefined }
    this.waiters.push(w)
    x.onGone(() => this.drop(w))
    if (this.waiters.length > this.deps.limits.maxWaiters) this.answer(this.waiters[0]!)
    this.tick()
  }

  /** EncryptedConn: a sealed packet from the session layer. */
  send(packet: Buffer): void {
    if (this.closed) return
    const l = this.deps.limits
    if (this.queue.length >= l.maxQueuedPackets || this.queuedBytes + packet.length > l.maxQueuedBytes) {
      this.close(`http queue over its limit (${this.queue.length} packets, ${this.queuedBytes} bytes)`)
      return
    }
    this.queue.push(packet)
    this.queuedBytes += packet.length
    const oldest = this.waiters[0]
    if (oldest !== undefined && oldest.firstAt === undefined) oldest.firstAt = this.deps.clock.now()
    this.lastQueuedAt = this.deps.clock.now()
    this.tick()
  }

  /** EncryptedConn: HTTP has no quick acks (clients never ask for one over it). */
  sendQuickAck(): void {}

  /** EncryptedConn: every held request gets the transport error; the channel closes. */
  sendTransportError(code: number): void {
    countTransportError(code)
    for (const w of this.waiters.splice(0)) w.x.fail(code)
    this.close('transport error')
  }

  /** Closes the channel: queued packets go to held requests, the others get an empty container. */
  close(reason: string): void {
    if (this.closed) return
    while (this.waiters.length > 0) this.answer(this.waiters[0]!)
    this.closed = true
    this.queue.length = 0
    this.queuedBytes = 0
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.deps.onClose(this, reason)
  }

  /**
   * @internal The timer went off: it is no longer pending, whatever tick() finds (a timer may fire a
   * millisecond before the clock reaches the time it was set for; tick() then sets it again).
   */
  timerFired(): void {
    this.timer = undefined
    this.timerAt = Infinity
    this.tick()
  }

  /** @internal Answers what is due, then sets the timer for the next thing due. */
  tick(): void {
    if (this.closed) return
    const now = this.deps.clock.now()
    let next = Infinity
    while (this.waiters.length > 0) {
      const w = this.waiters[0]!
      const due = this.dueAt(w)
      if (due <= now) {
        this.answer(w)
        continue
      }
      next = due
      break
    }
    // later requests only wait for their max_wait
    for (let i = 1; i < this.waiters.length; i++) {
      const w = this.waiters[i]!
      if (w.deadline <= now) {
        this.answer(w)
        i--
      } else next = Math.min(next, w.deadline)
    }
    if (this.waiters.length === 0) next = this.lastActive + this.deps.limits.idleMs
    if (next <= now) {
      this.close('idle')
      return
    }
    this.schedule(next, now)
  }

  /** When the oldest request is answered: per http_wait once something is queued, else at max_wait. */
  private dueAt(w: Waiter): number {
    if (this.queue.length === 0) return w.deadline
    const first = (w.firstAt ??= this.deps.clock.now())
    return Math.min(w.deadline, first + w.wait.maxDelay, this.lastQueuedAt + w.wait.waitAfter)
  }

  private schedule(at: number, now: number): void {
    if (this.timer !== undefined && this.timerAt === at) return
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(onTimer, Math.max(0, at - now), this)
    this.timer.unref()
  }

  /** Answers `w` with the next queued packet, or an empty container. */
  private answer(w: Waiter): void {
    const i = this.waiters.indexOf(w)
    if (i >= 0) this.waiters.splice(i, 1)
    this.lastActive = this.deps.clock.now()
    const packet = this.queue.shift()
    if (packet !== undefined) {
      this.queuedBytes -= packet.length
      if (w.x.respond(packet)) return
      // the client went away: the packet waits for the next request
      this.queue.unshift(packet)
      this.queuedBytes += packet.length
      return
    }
    this.answerEmpty(w.x)
  }

  /** An empty container; -404 when the key is gone (nothing can be sealed for it any more). */
  private answerEmpty(x: HttpExchange): void {
    const empty = this.deps.emptyPacket(this)
    if (empty !== undefined) x.respond(empty)
    else x.fail(-404)
  }

  private drop(w: Waiter): void {
    const i = this.waiters.indexOf(w)
    if (i < 0) return
    this.waiters.splice(i, 1)
    this.tick()
  }
}
