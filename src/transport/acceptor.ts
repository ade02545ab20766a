import { secureRandom, type RandomSource } from '../crypto/random.js'
import { systemClock, type Clock } from '../util/clock.js'
import { rootLogger, type Logger } from '../util/log.js'
import type { ByteSocket } from './byte-socket.js'
import type { Codec } from './codec.js'
import { Connection } from './connection.js'
import { createCodec } from './create-codec.js'
import { detectTransport } from './detect.js'
import { FramingError, TRANSPORT_ERROR } from './errors.js'
import { resolveLimits, type TransportLimits } from './limits.js'
import { acceptObfuscatedInit, OBFUSCATED_INIT_LENGTH } from './obfuscated.js'

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
  /** Open connections allowed per remote IP (per listener); more get -429 (transport flood). */
  maxConnectionsPerIp?: number
  clock?: Clock
  random?: RandomSource
  log?: Logger
}

export interface ResolvedAcceptorOptions {
  limits: TransportLimits
  secrets: readonly Uint8Array[]
  allowPlainObfuscated: boolean
  mtproxyDcIds: readonly number[] | null
  maxConnectionsPerIp: number | null
  /** Open detected connections per remote IP (one map per listener). */
  perIp: Map<string, number>
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
  return {
    limits: resolveLimits(o.limits),
    secrets,
    allowPlainObfuscated: o.allowPlainObfuscated ?? true,
    mtproxyDcIds: o.mtproxyDcIds ?? null,
    maxConnectionsPerIp: o.maxConnectionsPerIp ?? null,
    perIp: new Map(),
    clock: o.clock ?? systemClock,
    random: o.random ?? secureRandom,
    log: (o.log ?? rootLogger).child({ component: name }),
  }
}

/**
 * Reads the first bytes of a fresh socket, decides the transport and hands a Connection to
 * `onConnection` (synchronously, before any bytes that followed the header are decoded, so the
 * handler can attach its listeners). Rejected sockets are logged and destroyed.
 */
export function acceptSocket(
  socket: ByteSocket,
  id: number,
  opts: ResolvedAcceptorOptions,
  requireObfuscation: boolean,
  onConnection: (c: Connection) => void,
): void {
  const log = opts.log.child({ conn: id, remote: `${socket.remoteAddress}:${socket.remotePort}` })
  let head: Buffer = Buffer.alloc(0)
  let done = false

  const timer = setTimeout(() => {
    if (done) return
    done = true
    log.info({ received: head.length }, 'transport header not received in time; closing')
    socket.destroy()
  }, opts.limits.handshakeTimeoutMs)
  timer.unref()

  const reject = (reason: string): void => {
    done = true
    clearTimeout(timer)
    log.warn({ reason }, 'rejecting connection')
    socket.destroy()
  }

  socket.setHandlers({
    data: (chunk) => {
      if (done) return
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk])
      const d = detectTransport(head, { maxFrameSize: opts.limits.maxFrameSize })
      if (d.kind === 'more') return
      if (d.kind === 'reject') return reject(d.reason)

      let codec: Codec
      let dcId: number | null = null
      let secretIndex: number | null = null
      let rest: Buffer
      if (d.kind === 'plain') {
        if (requireObfuscation) return reject(`plain ${d.codec} transport where obfuscation is required`)
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
          if (e instanceof FramingError) return reject(e.message)
          throw e
        }
        rest = head.subarray(OBFUSCATED_INIT_LENGTH)
      }
      done = true
      clearTimeout(timer)
      const conn = new Connection(
        socket,
        codec,
        { id, obfuscated: d.kind === 'obfuscated', dcId, secretIndex },
        { limits: opts.limits, clock: opts.clock, log: opts.log },
      )
      if (secretIndex !== null && dcId !== null && opts.mtproxyDcIds !== null) {
        const dc = Math.abs(dcId) % 10000
        if (!opts.mtproxyDcIds.includes(dc)) {
          log.warn({ dcId }, 'MTProxy client asked for an unknown DC; sending -444')
          conn.close('invalid dc', TRANSPORT_ERROR.INVALID_DC)
          return
        }
      }
      const ip = socket.remoteAddress
      const open = opts.perIp.get(ip) ?? 0
      if (opts.maxConnectionsPerIp !== null && open >= opts.maxConnectionsPerIp) {
        log.warn({ open, max: opts.maxConnectionsPerIp }, 'too many connections from this address; sending -429')
        conn.close('transport flood', TRANSPORT_ERROR.FLOOD)
        return
      }
      opts.perIp.set(ip, open + 1)
      conn.once('close', () => {
        const n = (opts.perIp.get(ip) ?? 1) - 1
        if (n <= 0) opts.perIp.delete(ip)
        else opts.perIp.set(ip, n)
      })
      log.debug({ codec: codec.name, obfuscated: d.kind === 'obfuscated', dcId }, 'transport detected')
      try {
        onConnection(conn)
      } catch (e) {
        log.error({ err: e instanceof Error ? e.message : String(e) }, 'connection handler threw; closing')
        conn.close('connection handler error')
        return
      }
      if (rest.length > 0) conn.feed(rest)
    },
    drain: () => {},
    close: () => {
      if (done) return
      done = true
      clearTimeout(timer)
      log.debug({ received: head.length }, 'closed before the transport header')
    },
    error: (e) => log.debug({ err: e.message }, 'socket error before the transport header'),
  })
}
