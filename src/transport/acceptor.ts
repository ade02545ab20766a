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
import { checkClientHello, FakeTlsSocket, serverHello, startsLikeClientHello, type TlsSecret } from './fake-tls.js'
import { toMtproxySecret, type MtproxySecret } from './mtproxy-secret.js'
import { acceptObfuscatedInit, OBFUSCATED_INIT_LENGTH } from './obfuscated.js'
import { parseProxyHeader, startsWithProxyHeader } from './proxy-protocol.js'
import type { ReadBudget } from './read-budget.js'
import { createMtproxyReplay, DEFAULT_REPLAY_ENTRIES, type MtproxyReplay } from './replay-cache.js'
import type { SourceLimiter } from './source-limits.js'

let connectionCounter = 0

/** A process-wide unique connection id. */
export function nextConnectionId(): number {
  return ++connectionCounter
}

/** Configuration shared by the TCP and WebSocket listeners. */
export interface AcceptorOptions {
  limits?: Partial<TransportLimits>
  /**
   * MTProxy secrets (mtproxy-secret.ts): plain and `dd` ones key obfuscated2 inits (`dd`: padded
   * intermediate only), `ee` ones fake-TLS (TCP). Raw bytes: 16, or 0xdd + 16, or 0xee + 16 + domain.
   */
  secrets?: readonly (MtproxySecret | Uint8Array)[]
  /**
   * Serve clients that hold no secret (default true). False: unkeyed obfuscated2 inits and the
   * unobfuscated transports are refused; only MTProxy clients are served.
   */
  allowPlainObfuscated?: boolean
  /** Fake-TLS: accepted difference between a ClientHello's timestamp and now, ms (default 120 000). */
  tlsMaxSkewMs?: number
  /** Replay caches of ClientHellos and secret-keyed inits (shared by every listener); default: one per listener. */
  replay?: MtproxyReplay
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

/** Secret keys an obfuscated2 init may be keyed by, and each one's index in the configured list. */
interface InitKeys {
  keys: readonly Uint8Array[]
  index: readonly number[]
}

export interface ResolvedAcceptorOptions {
  limits: TransportLimits
  secrets: readonly MtproxySecret[]
  /** The plain and dd secrets (ee ones key inits only inside fake-TLS). */
  initKeys: InitKeys
  tlsSecrets: readonly TlsSecret[]
  tlsMaxSkewMs: number
  replay: MtproxyReplay
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
  const secrets = (o.secrets ?? []).map(toMtproxySecret)
  const initKeys = { keys: [] as Uint8Array[], index: [] as number[] }
  const tlsSecrets: TlsSecret[] = []
  secrets.forEach((s, index) => {
    if (s.kind === 'ee') {
      tlsSecrets.push({ key: s.key, domain: s.domain!, index })
    } else {
      initKeys.keys.push(s.key)
      initKeys.index.push(index)
    }
  })
  const tlsMaxSkewMs = o.tlsMaxSkewMs ?? DEFAULT_TLS_MAX_SKEW_MS
  const log = (o.log ?? rootLogger).child({ component: name })
  const clock = o.clock ?? systemClock
  return {
    limits: resolveLimits(o.limits),
    secrets,
    initKeys,
    tlsSecrets,
    tlsMaxSkewMs,
    replay: o.replay ?? createMtproxyReplay(DEFAULT_REPLAY_ENTRIES, tlsMaxSkewMs),
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

/** Default accepted clock difference of a fake-TLS client (MTProxy allows 600 s back, mtg 3 s). */
export const DEFAULT_TLS_MAX_SKEW_MS = 120_000

/** How one socket is accepted. */
export interface AcceptPlan {
  requireObfuscation: boolean
  /** Fake-TLS ClientHellos are answered here (TCP) when an ee secret is configured. */
  fakeTls?: boolean
  /** The socket is inside fake-TLS keyed by this secret (its index): only an init keyed by it is accepted. */
  insideTls?: number
  /** The source-limit slot to give back when the connection closes (taken by an outer acceptance). */
  release?: () => void
  /**
   * 'expect': the peer is a trusted proxy: the connection must start with a PROXY protocol header,
   * whose client address replaces the peer's (and is what the source limits see). 'refuse': a
   * PROXY header is refused (the peer is not trusted to send one).
   */
  proxy?: 'expect' | 'refuse'
  /**
   * Whether the caller already admitted the socket against the source limits (and gives the slot
   * back itself); otherwise it is admitted here, after the PROXY header if expected.
   */
  admitted?: boolean
}

/**
 * Reads the first bytes of a fresh socket (a PROXY header first when expected), admits it against
 * the source limits, decides the transport and hands a Connection to `onConnection`
 * (synchronously, before any bytes that followed the header are decoded, so the handler can attach
 * its listeners). Refused and rejected sockets are logged (rate-limited) and destroyed.
 */
export function acceptSocket(socket: ByteSocket, id: number, opts: ResolvedAcceptorOptions, plan: AcceptPlan, onConnection: (c: Connection) => void): void {
  new Acceptance(socket, id, opts, plan, onConnection).start()
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
  private release: (() => void) | undefined
  private readonly requireObfuscation: boolean
  /** Still to read: the PROXY header of a trusted proxy. */
  private proxyPending: boolean
  /** A fake-TLS ClientHello of known length being collected (chunks joined once, when complete). */
  private hello: { parts: Buffer[]; size: number; need: number } | undefined

  constructor(
    private readonly socket: ByteSocket,
    private readonly id: number,
    private readonly opts: ResolvedAcceptorOptions,
    private readonly plan: AcceptPlan,
    private readonly onConnection: (c: Connection) => void,
  ) {
    this.requireObfuscation = plan.requireObfuscation
    this.proxyPending = plan.proxy === 'expect'
    this.release = plan.release
  }

  start(): void {
    if (!this.proxyPending && !this.admit()) return
    this.timer = setTimeout(onHeaderTimeout, this.opts.limits.headerTimeoutMs, this)
    this.timer.unref()
    this.socket.setHandlers(this)
  }

  /** Admits the socket against the source limits unless the caller did; false when refused (destroyed). */
  private admit(): boolean {
    if (this.plan.admitted) return true
    const r = admitSource(this.socket.remoteAddress, this.opts)
    if (r === null) {
      this.finish()
      this.socket.destroy()
      return false
    }
    this.release = r
    return true
  }

  /** Reads the PROXY header; false while more bytes are needed or when the socket was closed. */
  private readProxyHeader(): boolean {
    const h = parseProxyHeader(this.head)
    if (h.kind === 'more') return false
    if (h.kind === 'bad') {
      this.reject(`from a trusted proxy: ${h.reason}`)
      return false
    }
    this.proxyPending = false
    if (h.source !== undefined) {
      this.socket.remoteAddress = h.source.ip
      this.socket.remotePort = h.source.port
    }
    this.head = this.head.subarray(h.length)
    return this.admit()
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

  private reject(reason: string, key = 'transport_rejected'): void {
    this.finish()
    this.releaseSlot()
    this.opts.limitedLog.warn(key, this.where({ err: reason }), 'rejecting connection')
    this.socket.destroy()
  }

  /**
   * A fake-TLS ClientHello (head starts with one): checked (digest, SNI, clock, replay), answered,
   * and the rest of the connection accepted inside FakeTlsSocket.
   */
  private acceptHello(head: Buffer): void {
    const opts = this.opts
    const now = opts.clock.now()
    const c = checkClientHello(head, { secrets: opts.tlsSecrets, nowMs: now, maxSkewMs: opts.tlsMaxSkewMs })
    if (c.kind === 'more') {
      if (head.length >= 5) this.hello = { parts: [head], size: head.length, need: 5 + head.readUInt16BE(3) }
      return
    }
    if (c.kind === 'reject') return this.reject(`fake-TLS: ${c.reason}`, `fake_tls_${c.why}`)
    if (opts.replay.hellos.check(c.clientRandom.toString('base64'), now)) return this.reject('fake-TLS: ClientHello replayed (its random was seen before)', 'fake_tls_replay')
    this.finish()
    this.head = EMPTY
    this.socket.write(serverHello(c, opts.random))
    const inner = new FakeTlsSocket(this.socket)
    const release = this.release
    this.release = undefined
    new Acceptance(inner, this.id, opts, { requireObfuscation: true, admitted: true, insideTls: c.secret.index, release }, this.onConnection).start()
    if (head.length > c.length) inner.onSocketData(head.subarray(c.length))
  }

  onSocketData(chunk: Buffer): void {
    if (this.done) return
    const hello = this.hello
    if (hello !== undefined) {
      hello.parts.push(chunk)
      hello.size += chunk.length
      if (hello.size < hello.need) return
      this.hello = undefined
      this.head = Buffer.concat(hello.parts)
      return this.acceptHello(this.head)
    }
    this.head = this.head.length === 0 ? chunk : Buffer.concat([this.head, chunk])
    if (this.proxyPending && !this.readProxyHeader()) return
    if (this.plan.proxy === 'refuse') {
      const p = startsWithProxyHeader(this.head)
      if (p === 'more') return
      if (p === 'yes') return this.reject('PROXY protocol header from an address not trusted as a proxy')
    }
    if (this.head.length === 0) return
    const head = this.head
    const opts = this.opts
    if (this.plan.fakeTls === true && opts.tlsSecrets.length > 0) {
      const tls = startsLikeClientHello(head)
      if (tls === 'more') return
      if (tls) return this.acceptHello(head)
      if (opts.initKeys.keys.length === 0 && !opts.allowPlainObfuscated) return this.reject('not a TLS ClientHello: only fake-TLS (ee secrets) is served here', 'fake_tls_expected')
    }
    const d = detectTransport(head, { maxFrameSize: opts.limits.maxFrameSize })
    if (d.kind === 'more') return
    if (d.kind === 'reject') return this.reject(d.reason)

    let codec: Codec
    let dcId: number | null = null
    let secretIndex: number | null = null
    let rest: Buffer
    if (d.kind === 'plain') {
      if (this.requireObfuscation) return this.reject(`plain ${d.codec} transport where obfuscation is required`)
      if (!opts.allowPlainObfuscated) return this.reject(`plain ${d.codec} transport: only clients holding an MTProxy secret are served`)
      codec = createCodec(d.codec, { side: 'server', maxFrameSize: opts.limits.maxFrameSize, random: opts.random })
      rest = head.subarray(d.header)
    } else {
      const tls = this.plan.insideTls
      const keys: InitKeys = tls === undefined ? opts.initKeys : { keys: [opts.secrets[tls]!.key], index: [tls] }
      const init = head.subarray(0, OBFUSCATED_INIT_LENGTH)
      try {
        const acc = acceptObfuscatedInit(init, {
          codec: { maxFrameSize: opts.limits.maxFrameSize, random: opts.random },
          secrets: keys.keys,
          allowPlain: tls === undefined && opts.allowPlainObfuscated,
        })
        codec = acc.codec
        dcId = acc.dcId
        secretIndex = acc.secretIndex === null ? null : keys.index[acc.secretIndex]!
      } catch (e) {
        if (e instanceof FramingError) return this.reject(e.message)
        throw e
      }
      if (secretIndex !== null) {
        if (opts.secrets[secretIndex]!.kind === 'dd' && codec.name !== 'padded') return this.reject(`obfuscated ${codec.name} keyed by a dd secret (padded intermediate required)`, 'mtproxy_dd_unpadded')
        if (opts.replay.inits.check(init.toString('base64', 8, 56), opts.clock.now())) return this.reject('secret-keyed obfuscated2 init replayed', 'mtproxy_init_replay')
      }
      rest = head.subarray(OBFUSCATED_INIT_LENGTH)
    }
    this.finish()
    this.head = EMPTY
    const socket = this.socket
    const conn = new Connection(
      socket,
      codec,
      { id: this.id, obfuscated: d.kind === 'obfuscated', dcId, secretIndex, fakeTls: this.plan.insideTls !== undefined },
      // the Connection gives the source-limit slot back when it closes
      { limits: opts.limits, clock: opts.clock, log: opts.log, readBudget: opts.readBudget, limitedLog: opts.limitedLog, release: this.release },
    )
    this.release = undefined
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
