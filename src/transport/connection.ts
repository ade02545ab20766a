import { ConnectionEmitter } from './connection-events.js'
import type { Clock } from '../util/clock.js'
import type { Logger } from '../util/log.js'
import type { LogLimiter } from '../util/log-limiter.js'
import { ByteSocketProtocolError, type ByteSocket, type ByteSocketHandlers } from './byte-socket.js'
import type { Codec, CodecName, Frame } from './codec.js'
import { FramingError, countTransportError } from './errors.js'
import type { TransportLimits } from './limits.js'
import { Deadlines, type DeadlineOwner, type Expiry } from './deadlines.js'
import type { BudgetHolder, ReadBudget } from './read-budget.js'
import { dropWrites, flushWrites, writeFrame, writesDrained } from './connection-writes.js'

export type { ConnectionEvents } from './connection-events.js'
export { COALESCE_MAX_BYTES } from './connection-writes.js'

/** What is known about a connection once its transport header has been read. */
export interface ConnectionInfo {
  /** Unique within the process (all listeners share one counter). */
  readonly id: number
  readonly transport: 'tcp' | 'ws'
  readonly codec: CodecName
  readonly obfuscated: boolean
  /** DC id from the obfuscated2 init (int16 at offset 60); null for plain transports. */
  readonly dcId: number | null
  /** Which configured MTProxy secret keyed the init; null when none did. */
  readonly secretIndex: number | null
  /** The stream travels inside fake-TLS records (an ee secret). */
  readonly fakeTls: boolean
  readonly remoteIp: string
  readonly remotePort: number
  readonly localPort: number
}


/** "ip:port" ("[v6]:port" for IPv6): how connections name their peer in logs and to the session layer. */
export function formatPeer(ip: string, port: number): string {
  // join() makes one flat string; a template literal would keep a rope of its parts (twice the bytes)
  return (ip.includes(':') ? ['[', ip, ']:', port] : [ip, ':', port]).join('')
}

/** A connection growing a partial frame while the global read budget is above its soft limit stops being read this long, ms. */
export const BUDGET_PAUSE_MS = 200

function endBudgetPause(c: Connection): void {
  c.endBudgetPause()
}

export interface ConnectionDeps {
  limits: TransportLimits
  clock: Clock
  log: Logger
  /** The process-wide budget for bytes held in partial frames (none: only maxReadBuffer applies). */
  readBudget?: ReadBudget
  /** Rate-limits the lines a client can cause (closes for timeouts, framing errors); none: every line is written. */
  limitedLog?: LogLimiter
  /** Called once when the connection closes, before the 'close' listeners (gives a source-limit slot back). */
  release?: () => void
}

/**
 * One client connection after transport detection: decodes frames into 'packet' events and
 * encodes everything the upper layers send through the same codec (and so through the same
 * obfuscation stream). Applies the limits: frame size, read buffer (its own and the global
 * budget), write backpressure, and the deadlines: first valid packet, idle, frame completion.
 */
export class Connection extends ConnectionEmitter implements ByteSocketHandlers, BudgetHolder, DeadlineOwner {
  readonly info: ConnectionInfo
  /** The numeric id as a string (what the session layer keys connections by). */
  readonly id: string
  /** @internal */
  readonly limits: TransportLimits
  private readonly clock: Clock
  /** The listener's logger; the per-connection child is made on first use (most connections never log). */
  private readonly parentLog: Logger
  private childLog: Logger | undefined
  /** @internal */
  closedReason: string | null = null
  private closeEmitted = false
  /** @internal Reads are paused because writes backed up above the high-water mark. */
  writePaused = false
  private userPauses = 0
  private readingPaused = false
  /** Decoded frames not yet delivered because the upper layer paused us (allocated when needed). */
  private backlog: Frame[] | undefined
  /**
   * @internal Frames written in this event-loop turn, not yet handed to the socket: one socket write
   * per turn (flushed on process.nextTick, or at once above COALESCE_MAX_BYTES). Order is the encode
   * order, so the obfuscation stream and quick acks stay in order.
   */
  outq: Buffer[] | undefined
  /** @internal Bytes in outq. */
  outBytes = 0
  /** @internal */
  readonly deadlines: Deadlines
  private budgetPaused = false
  private readonly budget: ReadBudget | undefined
  private readonly limitedLog: LogLimiter | undefined
  private destroyTimer: NodeJS.Timeout | null = null
  private release: (() => void) | undefined

  constructor(
    /** @internal */
    readonly socket: ByteSocket,
    private readonly codec: Codec,
    info: Omit<ConnectionInfo, 'transport' | 'remoteIp' | 'remotePort' | 'localPort' | 'codec' | 'fakeTls'> & { fakeTls?: boolean },
    deps: ConnectionDeps,
  ) {
    super()
    this.info = {
      id: info.id,
      transport: socket.kind,
      codec: codec.name,
      obfuscated: info.obfuscated,
      dcId: info.dcId,
      secretIndex: info.secretIndex,
      fakeTls: info.fakeTls ?? false,
      remoteIp: socket.remoteAddress,
      remotePort: socket.remotePort,
      localPort: socket.localPort,
    }
    this.id = String(info.id)
    this.limits = deps.limits
    this.clock = deps.clock
    this.parentLog = deps.log
    this.budget = deps.readBudget
    this.limitedLog = deps.limitedLog
    this.release = deps.release
    socket.setHandlers(this)
    this.deadlines = new Deadlines(this.limits, this.clock, this)
  }

  /** The per-connection logger (created on first use). */
  private get log(): Logger {
    return (this.childLog ??= this.parentLog.child({
      conn: this.info.id,
      remote: `${this.info.remoteIp}:${this.info.remotePort}`,
      codec: this.info.codec,
      obfuscated: this.info.obfuscated,
      transport: this.info.transport,
    }))
  }

  /** @internal A line a client can cause: through the shared LogLimiter (keyed by `reason`) when there is one. */
  note(level: 'info' | 'warn', reason: string, obj: object, msg: string): void {
    const l = this.limitedLog
    if (l === undefined) this.log[level](obj, msg)
    else l[level](reason, { conn: this.info.id, remote: this.remoteAddress, codec: this.info.codec, ...obj }, msg)
  }

  /** @internal Debug lines do not create the per-connection logger when debug is off. */
  debug(a: object | string, msg?: string): void {
    if (!this.parentLog.isLevelEnabled('debug')) return
    if (typeof a === 'string') this.log.debug(a)
    else this.log.debug(a, msg)
  }

  /** @internal ByteSocketHandlers: bytes from the socket. */
  onSocketData(chunk: Buffer): void {
    this.feed(chunk)
  }

  /** @internal ByteSocketHandlers: the carrier failed. */
  onSocketError(e: Error): void {
    if (e instanceof ByteSocketProtocolError) this.note('warn', 'carrier_protocol_error', { err: e.message }, 'carrier protocol error; closing')
    else this.debug({ err: e.message }, 'socket error')
  }
  get codecName(): CodecName {
    return this.info.codec
  }
  get dcId(): number | null {
    return this.info.dcId
  }
  /** "ip:port" of the peer ("[v6]:port" for IPv6). */
  get remoteAddress(): string {
    return formatPeer(this.info.remoteIp, this.info.remotePort)
  }
  get closed(): boolean {
    return this.closedReason !== null
  }
  /**
   * An upper layer accepted a packet of this connection (it decrypted under a known key, or the
   * handshake answered it): the first-packet deadline no longer applies, the idle timeout does.
   */
  markValid(): void {
    this.deadlines.markValid()
  }

  /** BudgetHolder: when the frame in progress began. */
  get partialSince(): number {
    return this.deadlines.partialSince
  }
  /** True when reading is paused (write backpressure or pause()). */
  get readPaused(): boolean {
    return this.readingPaused
  }

  /** Sends one payload. Returns false if the connection is closed. */
  send(payload: Uint8Array): boolean {
    if (this.closed) return false
    return writeFrame(this, this.codec.encodePacket(payload))
  }

  /**
   * Sends a quick-ack token through the codec (and the obfuscation stream). The top bit is set if
   * missing. Returns false when closed or when the framing has no quick acks (full).
   */
  sendQuickAck(token: number): boolean {
    if (this.closed) return false
    const frame = this.codec.encodeQuickAck(token)
    if (frame === null) {
      this.debug('quick ack requested on a transport without quick acks; not sent')
      return false
    }
    return writeFrame(this, frame)
  }

  /** Sends a transport error packet (-404, -429, -444). Does not close. */
  sendTransportError(code: number): boolean {
    if (this.closed) return false
    return this.writeTransportError(code)
  }

  private writeTransportError(code: number): boolean {
    countTransportError(code)
    return writeFrame(this, this.codec.encodeTransportError(code))
  }

  /**
   * Closes the connection: optionally sends a transport error first, flushes what is queued, and
   * destroys the socket after closeGraceMs at the latest. Emits 'close' once.
   */
  close(reason: string, transportError?: number): void {
    if (this.closed) return
    if (transportError !== undefined) this.writeTransportError(transportError)
    if (this.closed) return // the write above overflowed the write buffer
    this.closedReason = reason
    this.deadlines.stop()
    this.releaseBudget()
    flushWrites(this)
    // nothing more is read: a peer still sending fills its own buffers, not our CPU
    this.socket.pause()
    this.socket.end()
    this.destroyTimer = setTimeout(() => this.socket.destroy(), this.limits.closeGraceMs)
    this.destroyTimer.unref()
    this.emitClose(reason)
  }

  /**
   * Upper-layer backpressure: stop reading the socket and stop delivering packets until resume().
   * Calls nest. Frames already decoded wait in a backlog (at most one read chunk's worth).
   */
  pause(): void {
    this.userPauses++
    this.updateReading()
  }

  resume(): void {
    if (this.userPauses > 0) this.userPauses--
    this.updateReading()
    this.deliver()
  }

  /** Feeds received bytes (also used by the acceptor for bytes that followed the header). */
  feed(chunk: Buffer): void {
    if (this.closed || chunk.length === 0) return
    const now = this.clock.now()
    this.deadlines.activity(now)
    let frames
    try {
      frames = this.codec.push(chunk)
      if (this.codec.buffered > this.limits.maxReadBuffer) {
        throw new FramingError('read_buffer_overflow', `read buffer ${this.codec.buffered} above ${this.limits.maxReadBuffer}`)
      }
    } catch (e) {
      if (e instanceof FramingError) {
        this.note('warn', `framing_${e.kind}`, { err: e.message }, 'framing error; closing')
        this.close(`framing error: ${e.kind}`, e.wireCode ?? undefined)
        return
      }
      throw e
    }
    this.trackPartial(now, frames.length > 0)
    if (this.closed) return
    if (frames.length === 0) return
    if (this.backlog === undefined) {
      // common case: nothing held back, deliver straight from the decoded list
      for (let i = 0; i < frames.length; i++) {
        if (this.userPauses > 0 || this.closed) {
          if (!this.closed) this.backlog = frames.slice(i)
          return
        }
        this.deliverOne(frames[i]!)
      }
      return
    }
    for (const f of frames) this.backlog.push(f)
    this.deliver()
  }

  private deliver(): void {
    const backlog = this.backlog
    if (backlog === undefined) return
    while (backlog.length > 0 && this.userPauses === 0 && !this.closed) this.deliverOne(backlog.shift()!)
    if (backlog.length === 0 || this.closed) this.backlog = undefined
  }

  private deliverOne(f: Frame): void {
    if (f.type !== 'packet') {
      this.note('warn', 'quick_ack_from_client', {}, 'quick-ack frame received on a server connection; ignored')
      return
    }
    try {
      this.emit('packet', f.payload, f.quickAck)
    } catch (e) {
      // A throwing handler must not take the process down with it.
      this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'packet handler threw; closing')
      this.close('packet handler error')
    }
  }

  /** Bytes accepted by send() and not yet written to the kernel (queued here or in the socket). */
  get pendingWriteBytes(): number {
    return this.outBytes + this.socket.pendingWriteBytes
  }

  /** @internal ByteSocketHandlers: the socket flushed everything it had queued. */
  onSocketDrain(): void {
    writesDrained(this)
  }

  /** @internal Pauses or resumes reading the socket as write backpressure and pause() calls require. */
  updateReading(): void {
    const shouldPause = !this.closed && (this.writePaused || this.userPauses > 0)
    if (shouldPause === this.readingPaused) return
    this.readingPaused = shouldPause
    if (shouldPause) this.socket.pause()
    else {
      // Time spent paused by us is not the peer being idle. (The frame deadline keeps running: a
      // partial frame holds memory whoever is waiting for whom.)
      this.deadlines.activity(this.clock.now())
      this.socket.resume()
    }
  }

  /**
   * Reports the codec's partial frame to the read budget; starts or ends the frame deadline. After
   * a completed frame, what is buffered is the next frame's beginning: its deadline starts now.
   */
  private trackPartial(now: number, completed: boolean): void {
    const bytes = this.codec.buffered
    const before = this.deadlines.partialBytes
    this.deadlines.partial(bytes, now, completed)
    if (bytes === before) return
    const budget = this.budget
    if (budget === undefined) return
    budget.set(this, bytes)
    if (bytes > before && !this.closed && !this.budgetPaused && budget.overSoftLimit) {
      budget.stats.paused++
      this.budgetPaused = true
      this.pause()
      setTimeout(endBudgetPause, BUDGET_PAUSE_MS, this).unref()
    }
  }

  /** @internal The backpressure pause of the read budget is over. */
  endBudgetPause(): void {
    if (!this.budgetPaused) return
    this.budgetPaused = false
    this.resume()
  }

  /** @internal ReadBudget: closes the connection to bring the global total down. */
  evict(reason: string): void {
    this.note('warn', 'read_budget_evict', { bufferedBytes: this.deadlines.partialBytes }, `${reason}; closing`)
    this.close(reason)
  }

  /** @internal */
  releaseBudget(): void {
    this.budget?.set(this, 0)
  }

  /** @internal DeadlineOwner: a deadline passed. */
  expired(what: Expiry, ms: number, bytes: number): void {
    const reason = what.replace(/ /g, '_')
    if (what === 'frame timeout') this.note('info', reason, { ms, bufferedBytes: bytes }, 'frame not completed in time; closing')
    else if (what === 'first packet timeout') this.note('info', reason, { ms }, 'no valid packet in time; closing')
    else this.note('info', reason, { idleMs: ms }, 'idle timeout; closing')
    this.close(what)
  }

  /** @internal ByteSocketHandlers: the socket is gone. */
  onSocketClose(): void {
    dropWrites(this)
    if (this.destroyTimer !== null) clearTimeout(this.destroyTimer)
    this.destroyTimer = null
    this.deadlines.stop()
    this.releaseBudget()
    if (!this.closed) {
      this.closedReason = 'peer closed'
      this.debug('peer closed')
    }
    this.emitClose(this.closedReason ?? 'peer closed')
  }

  /** @internal Emits 'close' once, after giving the source-limit slot back. */
  emitClose(reason: string): void {
    if (this.closeEmitted) return
    this.closeEmitted = true
    const release = this.release
    if (release !== undefined) {
      this.release = undefined
      release()
    }
    this.emit('close', reason)
  }
}

