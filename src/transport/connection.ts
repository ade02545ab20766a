import { EventEmitter } from 'node:events'
import type { Clock } from '../util/clock.js'
import type { Logger } from '../util/log.js'
import { ByteSocketProtocolError, type ByteSocket } from './byte-socket.js'
import type { Codec, CodecName, Frame } from './codec.js'
import { FramingError } from './errors.js'
import type { TransportLimits } from './limits.js'

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
  readonly remoteIp: string
  readonly remotePort: number
  readonly localPort: number
}

export interface ConnectionEvents {
  /** One framed payload; `quickAck` = the client asked for a quick ack of it. */
  packet: [payload: Buffer, quickAck: boolean]
  /** Emitted once, however the connection ended. */
  close: [reason: string]
}

export interface ConnectionDeps {
  limits: TransportLimits
  clock: Clock
  log: Logger
}

/**
 * One client connection after transport detection: decodes frames into 'packet' events and
 * encodes everything the upper layers send through the same codec (and so through the same
 * obfuscation stream). Applies the limits: frame size, read buffer, write backpressure, idle.
 */
export class Connection extends EventEmitter<ConnectionEvents> {
  readonly info: ConnectionInfo
  private readonly limits: TransportLimits
  private readonly clock: Clock
  private readonly log: Logger
  private closedReason: string | null = null
  private closeEmitted = false
  private writePaused = false
  private userPauses = 0
  private readingPaused = false
  /** Decoded frames not yet delivered because the upper layer paused us. */
  private backlog: Frame[] = []
  private lastActivity: number
  private idleTimer: NodeJS.Timeout | null = null
  private destroyTimer: NodeJS.Timeout | null = null

  constructor(
    private readonly socket: ByteSocket,
    private readonly codec: Codec,
    info: Omit<ConnectionInfo, 'transport' | 'remoteIp' | 'remotePort' | 'localPort' | 'codec'>,
    deps: ConnectionDeps,
  ) {
    super()
    this.info = {
      ...info,
      codec: codec.name,
      transport: socket.kind,
      remoteIp: socket.remoteAddress,
      remotePort: socket.remotePort,
      localPort: socket.localPort,
    }
    this.limits = deps.limits
    this.clock = deps.clock
    this.log = deps.log.child({
      conn: info.id,
      remote: `${socket.remoteAddress}:${socket.remotePort}`,
      codec: codec.name,
      obfuscated: info.obfuscated,
      transport: socket.kind,
    })
    this.lastActivity = this.clock.now()
    socket.setHandlers({
      data: (c) => this.feed(c),
      drain: () => this.onDrain(),
      close: () => this.onSocketClose(),
      error: (e) => {
        if (e instanceof ByteSocketProtocolError) this.log.warn({ reason: e.message }, 'carrier protocol error; closing')
        else this.log.debug({ err: e.message }, 'socket error')
      },
    })
    this.armIdle(this.limits.idleTimeoutMs)
  }

  /** The numeric id as a string (what the session layer keys connections by). */
  get id(): string {
    return String(this.info.id)
  }
  get codecName(): CodecName {
    return this.info.codec
  }
  get dcId(): number | null {
    return this.info.dcId
  }
  /** "ip:port" of the peer ("[v6]:port" for IPv6). */
  get remoteAddress(): string {
    const ip = this.info.remoteIp
    return ip.includes(':') ? `[${ip}]:${this.info.remotePort}` : `${ip}:${this.info.remotePort}`
  }
  get closed(): boolean {
    return this.closedReason !== null
  }
  /** True when reading is paused (write backpressure or pause()). */
  get readPaused(): boolean {
    return this.readingPaused
  }

  /** Sends one payload. Returns false if the connection is closed. */
  send(payload: Uint8Array): boolean {
    if (this.closed) return false
    return this.write(this.codec.encodePacket(payload))
  }

  /**
   * Sends a quick-ack token through the codec (and the obfuscation stream). The top bit is set if
   * missing. Returns false when closed or when the framing has no quick acks (full).
   */
  sendQuickAck(token: number): boolean {
    if (this.closed) return false
    const frame = this.codec.encodeQuickAck(token)
    if (frame === null) {
      this.log.debug('quick ack requested on a transport without quick acks; not sent')
      return false
    }
    return this.write(frame)
  }

  /** Sends a transport error packet (-404, -429, -444). Does not close. */
  sendTransportError(code: number): boolean {
    if (this.closed) return false
    return this.write(this.codec.encodeTransportError(code))
  }

  /**
   * Closes the connection: optionally sends a transport error first, flushes what is queued, and
   * destroys the socket after closeGraceMs at the latest. Emits 'close' once.
   */
  close(reason: string, transportError?: number): void {
    if (this.closed) return
    if (transportError !== undefined) this.write(this.codec.encodeTransportError(transportError))
    this.closedReason = reason
    this.clearIdle()
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
    this.lastActivity = this.clock.now()
    let frames
    try {
      frames = this.codec.push(chunk)
      if (this.codec.buffered > this.limits.maxReadBuffer) {
        throw new FramingError('read_buffer_overflow', `read buffer ${this.codec.buffered} above ${this.limits.maxReadBuffer}`)
      }
    } catch (e) {
      if (e instanceof FramingError) {
        this.log.warn({ kind: e.kind, reason: e.message }, 'framing error; closing')
        this.close(`framing error: ${e.kind}`, e.wireCode ?? undefined)
        return
      }
      throw e
    }
    for (const f of frames) this.backlog.push(f)
    this.deliver()
  }

  private deliver(): void {
    while (this.backlog.length > 0 && this.userPauses === 0 && !this.closed) {
      const f = this.backlog.shift()!
      if (f.type !== 'packet') {
        this.log.warn('quick-ack frame received on a server connection; ignored')
        continue
      }
      try {
        this.emit('packet', f.payload, f.quickAck)
      } catch (e) {
        // A throwing handler must not take the process down with it.
        this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'packet handler threw; closing')
        this.close('packet handler error')
      }
    }
    if (this.closed) this.backlog.length = 0
  }

  private write(frame: Buffer): boolean {
    this.socket.write(frame)
    const pending = this.socket.pendingWriteBytes
    if (pending > this.limits.maxWriteBuffer) {
      this.log.warn({ pending }, 'write buffer overflow (peer not reading); closing')
      this.closedReason = 'write buffer overflow'
      this.clearIdle()
      this.socket.destroy()
      this.emitClose('write buffer overflow')
      return false
    }
    if (!this.writePaused && pending > this.limits.writeHighWaterMark) {
      this.writePaused = true
      this.log.debug({ pending }, 'write backpressure: pausing reads')
      this.updateReading()
    }
    return true
  }

  private onDrain(): void {
    if (this.writePaused) {
      this.writePaused = false
      this.log.debug('writes drained: resuming reads')
      this.updateReading()
    }
  }

  private updateReading(): void {
    const shouldPause = !this.closed && (this.writePaused || this.userPauses > 0)
    if (shouldPause === this.readingPaused) return
    this.readingPaused = shouldPause
    if (shouldPause) this.socket.pause()
    else {
      // Time spent paused by us is not the peer being idle.
      this.lastActivity = this.clock.now()
      this.socket.resume()
    }
  }

  private armIdle(ms: number): void {
    if (this.limits.idleTimeoutMs <= 0) return
    this.idleTimer = setTimeout(() => this.checkIdle(), Math.max(1, ms))
    this.idleTimer.unref()
  }

  private checkIdle(): void {
    this.idleTimer = null
    if (this.closed) return
    const idle = this.clock.now() - this.lastActivity
    if (!this.readingPaused && idle >= this.limits.idleTimeoutMs) {
      this.log.info({ idleMs: idle }, 'idle timeout; closing')
      this.close('idle timeout')
      return
    }
    this.armIdle(this.readingPaused ? this.limits.idleTimeoutMs : this.limits.idleTimeoutMs - idle)
  }

  private clearIdle(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer)
    this.idleTimer = null
  }

  private onSocketClose(): void {
    if (this.destroyTimer !== null) clearTimeout(this.destroyTimer)
    this.destroyTimer = null
    this.clearIdle()
    if (!this.closed) {
      this.closedReason = 'peer closed'
      this.log.debug('peer closed')
    }
    this.emitClose(this.closedReason ?? 'peer closed')
  }

  private emitClose(reason: string): void {
    if (this.closeEmitted) return
    this.closeEmitted = true
    this.emit('close', reason)
  }
}

