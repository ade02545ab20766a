import { secureRandom, type RandomSource } from '../crypto/random.js'
import { systemClock, type Clock } from '../util/clock.js'
import { LogLimiter } from '../util/log-limiter.js'
import { rootLogger, type Logger } from '../util/log.js'
import type { ByteSocket, ByteSocketHandlers } from './byte-socket.js'
import type { Codec } from './codec.js'
import { Connection } from './connection.js'
import { createCodec } from './create-codec.js'
import { detectTransport } from './detect.js'
import { FramingError, TRANSPORT_ERROR } from './errors.js'
import { resolveLimits, type TransportLimits } from './limits.js'
import { acceptObfuscatedInit, OBFUSCATED_INIT_LENGTH } from './obfuscated.js'
import type { ReadBudget } from './read-budget.js'
import type { SourceLimiter } from './source-limits.js'

let connectionCounter = 0

/** A process-wide unique connection id. */
export function nextConnectionId(): number {
  return ++connectionCounter
}

/** Configuration shared by the TCP and WebSocket listeners. */
export interface AcceptorOptions {
  limits?: Partial<TransportLimits>
  /** MTProxy secrets (16 bytes; a 17-byte 0xdd-prefixed form is accepted) keying obfuscated inits. */
  secrets?: readonly Uint8Array[]
  /** Accept obfuscated inits not keyed by a secret (default true). */
  allowPlainObfuscated?: boolean
  /** DC ids a secret-keyed (MTProxy) client may ask for; others get -444. Unset = any. */
  mtproxyDcIds?: readonly number[]
  /**
   * Limits per source address (shared by every listener of the process); a refused socket is
   * closed before anything is read from it.
   */
  sources?: SourceLimiter
  /** The process-wide budget for bytes in partial frames (shared by every listener). */
  readBudget?: ReadBudget
  /** Rate-limits lines clients can cause (shared); default: one per listener. */
  limitedLog?: LogLimiter
  clock?: Clock
  random?: RandomSource
  log?: Logger
}

export interface ResolvedAcceptorOptions {
  limits: TransportLimits
  secrets: readonly Uint8Array[]
  allowPlainObfuscated: boolean
  mtproxyDcIds: readonly number[] | null
  sources: SourceLimiter | undefined
  readBudget: ReadBudget | undefined
  limitedLog: LogLimiter
  clock: Clock
  random: RandomSource
  log: Logger
}

export function resolveAcceptorOptions(o: AcceptorOptions, name: string): ResolvedAcceptorOptions {
  const secrets = (o.secrets ?? []).map((s) => {
    if (s.length === 17 && s[0] === 0xdd) return s.subarray(1)
    if (s.length !== 16) throw new RangeError('MTProxy secret must be 16 bytes (or 17 with a 0xdd prefix)')
    return s
  })
  const log = (o.log ?? rootLogger).child({ component: name })
  const clock = o.clock ?? systemClock
  return {
    limits: resolveLimits(o.limits),
    secrets,
    allowPlainObfuscated: o.allowPlainObfuscated ?? true,
    mtproxyDcIds: o.mtproxyDcIds ?? null,
    sources: o.sources,
    readBudget: o.readBudget,
    limitedLog: o.limitedLog ?? new LogLimiter(log, undefined, clock),
    clock,
    random: o.random ?? secureRandom,
    log,
  }
}

/**
 * A new socket from `ip` against the source limits: the function that gives its slot back (call it
 * once, when the socket closes), undefined when there are no limits, or null when it is refused
 * (logged, rate-limited; the caller destroys it).
 */
export function admitSource(ip: string, opts: ResolvedAcceptorOptions): (() => void) | undefined | null {
  if (opts.sources === undefined) return undefined
  const r = opts.sources.admit(ip, opts.clock.now())
  if (typeof r !== 'string') return r
  opts.limitedLog.warn(`refused_${r}`, { remote: ip, limit: r }, 'connection refused by a source limit')
  return null
}

/**
 * Reads the first bytes of a fresh (admitted) socket, decides the transport and hands a Connection
 * to `onConnection` (synchronously, before any bytes that followed the header are decoded, so the
 * handler can attach its listeners). Rejected sockets are logged (rate-limited) and destroyed.
 * `release` (from admitSource) is called once when the socket or its Connection closes.
 */
export function acceptSocket(
  socket: ByteSocket,
  id: number,
  opts: ResolvedAcceptorOptions,
  requireObfuscation: boolean,
  onConnection: (c: Connection) => void,
  release?: () => void,
): void {
  new Acceptance(socket, id, opts, requireObfuscation, onConnection, release).start()
}

/** Gives the source-limit slot back when the connection closes (its own scope: captures only `release`). */
function releaseOnClose(conn: Connection, release: () => void): void {
  // 'close' is emitted once: on() spares the wrapper objects once() makes per connection
  conn.on('close', release)
}

function onHeaderTimeout(a: Acceptance): void {
  a.timedOut()
}

/**
 * The socket's handlers until the transport header is read; once the Connection takes over the
 * socket nothing references this object any more (no per-connection closures or loggers retained).
 */
class Acceptance implements ByteSocketHandlers {
  private head: Buffer = EMPTY
  private done = false
  private timer: NodeJS.Timeout | undefined
  private logger: Logger | undefined

  constructor(
    private readonly socket: ByteSocket,
    private readonly id: number,
    private readonly opts: ResolvedAcceptorOptions,
    private readonly requireObfuscation: boolean,
    private readonly onConnection: (c: Connection) => void,
    private release: (() => void) | undefined,
  ) {}

  start(): void {
    this.timer = setTimeout(onHeaderTimeout, this.opts.limits.headerTimeoutMs, this)
    this.timer.unref()
    this.socket.setHandlers(this)
  }

  /** Created on first use: most accepted sockets never log here. */
  private get log(): Logger {
    return (this.logger ??= this.opts.log.child({ conn: this.id, remote: `${this.socket.remoteAddress}:${this.socket.remotePort}` }))
  }

  timedOut(): void {
    if (this.done) return
    this.finish()
    this.releaseSlot()
    this.opts.limitedLog.info('header_timeout', this.where({ received: this.head.length }), 'transport header not received in time; closing')
    this.socket.destroy()
  }

  private where(obj: object): object {
    return { conn: this.id, remote: `${this.socket.remoteAddress}:${this.socket.remotePort}`, ...obj }
  }

  private finish(): void {
    this.done = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  private releaseSlot(): void {
    this.release?.()
    this.release = undefined
  }

  private reject(reason: string): void {
    this.finish()
    this.releaseSlot()
    this.opts.limitedLog.warn('transport_rejected', this.where({ err: reason }), 'rejecting connection')
    this.socket.destroy()
  }

  onSocketData(chunk: Buffer): void {
    if (this.done) return
    const head = (this.head = this.head.length === 0 ? chunk : Buffer.concat([this.head, chunk]))
    const opts = this.opts
    const d = detectTransport(head, { maxFrameSize: opts.limits.maxFrameSize })
    if (d.kind === 'more') return
    if (d.kind === 'reject') return this.reject(d.reason)

    let codec: Codec
    let dcId: number | null = null
    let secretIndex: number | null = null
    let rest: Buffer
    if (d.kind === 'plain') {
      if (this.requireObfuscation) return this.reject(`plain ${d.codec} transport where obfuscation is required`)
      codec = createCodec(d.codec, { side: 'server', maxFrameSize: opts.limits.maxFrameSize, random: opts.random })
      rest = head.subarray(d.header)
    } else {
      try {
        const acc = acceptObfuscatedInit(head.subarray(0, OBFUSCATED_INIT_LENGTH), {
          codec: { maxFrameSize: opts.limits.maxFrameSize, random: opts.random },
          secrets: opts.secrets,
          allowPlain: opts.allowPlainObfuscated,
        })
        codec = acc.codec
        dcId = acc.dcId
        secretIndex = acc.secretIndex
      } catch (e) {
        if (e instanceof FramingError) return this.reject(e.message)
        throw e
      }
      rest = head.subarray(OBFUSCATED_INIT_LENGTH)
    }
    this.finish()
    this.head = EMPTY
    const socket = this.socket
    const conn = new Connection(
      socket,
      codec,
      { id: this.id, obfuscated: d.kind === 'obfuscated', dcId, secretIndex },
      { limits: opts.limits, clock: opts.clock, log: opts.log, readBudget: opts.readBudget, limitedLog: opts.limitedLog },
    )
    if (this.release !== undefined) {
      releaseOnClose(conn, this.release)
      this.release = undefined
    }
    if (secretIndex !== null && dcId !== null && opts.mtproxyDcIds !== null) {
      const dc = Math.abs(dcId) % 10000
      if (!opts.mtproxyDcIds.includes(dc)) {
        opts.limitedLog.warn('mtproxy_unknown_dc', this.where({ dcId }), 'MTProxy client asked for an unknown DC; sending -444')
        conn.close('invalid dc', TRANSPORT_ERROR.INVALID_DC)
        return
      }
    }
    if (opts.log.isLevelEnabled('debug')) this.log.debug({ codec: codec.name, obfuscated: d.kind === 'obfuscated', dcId }, 'transport detected')
    try {
      this.onConnection(conn)
    } catch (e) {
      this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'connection handler threw; closing')
      conn.close('connection handler error')
      return
    }
    if (rest.length > 0) conn.feed(rest)
  }

  onSocketDrain(): void {}

  onSocketClose(): void {
    if (this.done) return
    this.finish()
    this.releaseSlot()
    if (this.opts.log.isLevelEnabled('debug')) this.log.debug({ received: this.head.length }, 'closed before the transport header')
  }

  onSocketError(e: Error): void {
    if (this.opts.log.isLevelEnabled('debug')) this.log.debug({ err: e.message }, 'socket error before the transport header')
  }
}

const EMPTY = Buffer.alloc(0)
