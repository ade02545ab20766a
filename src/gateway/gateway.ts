/**
 * The per-connection pipeline in front of the session layer. For every packet of a transport
 * Connection: auth_key_id = 0 → unencrypted-message checks → the handshake; otherwise → the
 * injected `onEncrypted` handler (the encrypted path).
 */
import type { Connection } from '../transport/connection.js'
import type { Clock } from '../util/clock.js'
import { systemClock } from '../util/clock.js'
import { readInt64LE } from '../util/int64.js'
import { LogLimiter } from '../util/log-limiter.js'
import { rootLogger, type Logger } from '../util/log.js'
import { decodeUnencryptedBody, type UnencryptedBody } from '../handshake/messages.js'
import type { ConnectionHandshakes, CreatedKey, HandshakeService } from '../handshake/server.js'
import type { CodecName } from '../transport/codec.js'
import { TRANSPORT_ERROR } from '../transport/errors.js'
import { ServerMsgIdGenerator } from '../util/server-msg-id.js'
import { buildUnencrypted, describeUnencrypted, maxTrailingBytes, parseUnencrypted } from './unencrypted.js'

/** What the gateway needs from a transport connection (the transport's Connection satisfies it). */
export type GatewayConnection = Pick<Connection, 'id' | 'remoteAddress' | 'send' | 'close' | 'closed'> & {
  on(event: 'packet', cb: (this: GatewayConnection, payload: Buffer, quickAck: boolean) => void): unknown
  on(event: 'close', cb: (this: GatewayConnection, reason: string) => void): unknown
  /** codec 'http': the unencrypted requests of one HTTP keep-alive connection. */
  readonly info: { readonly remoteIp: string; readonly codec: CodecName | 'http'; readonly obfuscated: boolean; readonly dcId?: number | null }
  /** The connection sent a valid packet (Connection.markValid: its first-packet deadline ends). */
  markValid?(): void
}

export interface EncryptedPacket {
  readonly authKeyId: bigint
  readonly payload: Buffer
  readonly quickAck: boolean
}

/** An EncryptedPacket whose auth_key_id is read only if asked for (the encrypted path matches it without a bigint). */
class PacketView implements EncryptedPacket {
  constructor(
    readonly payload: Buffer,
    readonly quickAck: boolean,
  ) {}

  get authKeyId(): bigint {
    return readInt64LE(this.payload, 0)
  }
}

export interface GatewayOptions {
  handshake: HandshakeService
  /** The encrypted path (auth_key_id ≠ 0); `dcId` is the DC the connection came for. */
  onEncrypted: (conn: GatewayConnection, packet: EncryptedPacket, dcId: number) => void | Promise<void>
  /** Called after dh_gen_ok (e.g. to warm a key cache). */
  onKeyCreated?: (conn: GatewayConnection, created: CreatedKey) => void
  /** Called when a connection ends (e.g. SessionService.closeConnection). */
  onClose?: (conn: GatewayConnection, reason: string) => void
  clock?: Clock
  log?: Logger
  /** Largest unencrypted message body (default 1024 bytes). */
  maxUnencryptedBody?: number
  /** The DCs served (default [dcId]). */
  dcIds?: readonly number[]
  /** The DC of a connection that names none (default 2). */
  dcId?: number
}

interface ConnState {
  /**
   * The DC the connection came for: the one its obfuscated header names (TDLib, mtcute and tgnet
   * write it there; GramJS, Telethon and Pyrogram leave random bytes, so an unserved value is not
   * a request), then the one its last key exchange named, else the default.
   */
  dcId: number
  /** dcId came from the obfuscated header (a key exchange does not change it then). */
  dcFromHeader: boolean
  /** Created at the first unencrypted message (connections of established keys never need it). */
  hs?: ConnectionHandshakes
  msgIds?: ServerMsgIdGenerator
}

export class Gateway {
  /** Key exchanges completed, and unencrypted messages rejected (connection closed) by reason. */
  readonly stats = { keysCreated: 0, rejected: new Map<string, number>() }
  private readonly conns = new Map<GatewayConnection, ConnState>()
  private readonly clock: Clock
  private readonly log: Logger
  private readonly limitedLog: LogLimiter
  private readonly maxBody: number
  private readonly dcId: number
  private readonly dcIds: readonly number[]
  /** One pair of listeners shared by every connection (`this` = the connection): no closures per connection. */
  private readonly packetListener: (this: GatewayConnection, payload: Buffer, quickAck: boolean) => void
  private readonly closeListener: (this: GatewayConnection, reason: string) => void

  constructor(private readonly opts: GatewayOptions) {
    this.clock = opts.clock ?? systemClock
    this.log = opts.log ?? rootLogger.child({ mod: 'gateway' })
    this.limitedLog = new LogLimiter(this.log, undefined, this.clock)
    this.maxBody = opts.maxUnencryptedBody ?? 1024
    this.dcId = opts.dcId ?? 2
    this.dcIds = opts.dcIds ?? [this.dcId]
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const gw = this
    this.packetListener = function (this: GatewayConnection, payload: Buffer, quickAck: boolean) {
      gw.onPacketFrom(this, payload, quickAck)
    }
    this.closeListener = function (this: GatewayConnection, reason: string) {
      gw.onCloseOf(this, reason)
    }
  }

  /** Subscribes to a listener's 'connection' events. */
  attach(listener: { on(event: 'connection', cb: (c: Connection) => void): unknown }): void {
    listener.on('connection', (c) => this.accept(c))
  }

  get connectionCount(): number {
    return this.conns.size
  }

  accept(conn: GatewayConnection): void {
    const header = this.headerDc(conn.info.dcId)
    this.conns.set(conn, { dcId: header ?? this.dcId, dcFromHeader: header !== undefined })
    conn.on('packet', this.packetListener)
    conn.on('close', this.closeListener)
  }

  /** A served DC from an obfuscated header's ±dc (+10000 in test mode), else undefined. */
  private headerDc(raw: number | null | undefined): number | undefined {
    if (raw === null || raw === undefined) return undefined
    const dc = Math.abs(raw) % 10000
    return this.dcIds.includes(dc) ? dc : undefined
  }

  private onCloseOf(conn: GatewayConnection, reason: string): void {
    const state = this.conns.get(conn)
    if (state === undefined) return
    state.hs?.close()
    this.conns.delete(conn)
    this.opts.onClose?.(conn, reason)
  }

  private onPacketFrom(conn: GatewayConnection, payload: Buffer, quickAck: boolean): void {
    const state = this.conns.get(conn)
    if (state === undefined) return
    if (payload.length < 8) return this.reject(conn, 'packet_too_short')
    if (payload.readInt32LE(0) !== 0 || payload.readInt32LE(4) !== 0) {
      // auth_key_id ≠ 0. The hot path stays synchronous (no promise per packet unless the handler returns one)
      let r: void | Promise<void>
      try {
        r = this.opts.onEncrypted(conn, new PacketView(payload, quickAck), state.dcId)
      } catch (err) {
        this.failed(conn, err)
        return
      }
      if (r !== undefined) r.catch((err: unknown) => this.failed(conn, err))
      return
    }
    this.onUnencrypted(conn, state, payload).catch((err: unknown) => this.failed(conn, err))
  }

  private failed(conn: GatewayConnection, err: unknown): void {
    this.log.error({ conn: conn.id, err: (err as Error)?.message }, 'packet handler failed')
    conn.close('internal_error', TRANSPORT_ERROR.AUTH_KEY_NOT_FOUND)
  }

  /** Closes the connection with a transport error; the log line says what the client sent. */
  private reject(conn: GatewayConnection, reason: string, code: number = TRANSPORT_ERROR.AUTH_KEY_NOT_FOUND, sent?: object): void {
    this.stats.rejected.set(reason, (this.stats.rejected.get(reason) ?? 0) + 1)
    const { codec, obfuscated } = conn.info
    this.limitedLog.info(`unencrypted_${reason}`, { conn: conn.id, remote: conn.remoteAddress, reason, code, codec, obfuscated, ...sent }, 'unencrypted message rejected')
    conn.close(reason, code)
  }

  private async onUnencrypted(conn: GatewayConnection, state: ConnState, payload: Buffer): Promise<void> {
    const msg = parseUnencrypted(payload, { maxBody: this.maxBody, maxTrailing: maxTrailingBytes(conn.info.codec) })
    if (typeof msg === 'string') return this.reject(conn, msg, TRANSPORT_ERROR.AUTH_KEY_NOT_FOUND, describeUnencrypted(payload))
    let body: UnencryptedBody
    try {
      body = decodeUnencryptedBody(msg.body)
    } catch {
      return this.reject(conn, 'body_not_tl', TRANSPORT_ERROR.AUTH_KEY_NOT_FOUND, describeUnencrypted(payload))
    }
    if (body.kind === 'refused') return this.reject(conn, body.reason, TRANSPORT_ERROR.AUTH_KEY_NOT_FOUND, { ...describeUnencrypted(payload), tlName: body.name })
    if (body.kind === 'ack') {
      this.log.debug({ conn: conn.id, acked: body.msgIds.length }, 'unencrypted msgs_ack ignored')
      return
    }
    state.hs ??= this.opts.handshake.connection(conn.info.remoteIp)
    const step = await state.hs.handle(body.req, msg.body)
    if (conn.closed) return
    if (step.kind === 'error') return this.reject(conn, step.reason, step.code)
    state.msgIds ??= new ServerMsgIdGenerator(this.clock)
    conn.markValid?.()
    conn.send(buildUnencrypted(state.msgIds.next(true), step.body))
    if (step.created === undefined) return
    if (step.created.dcId !== undefined && !state.dcFromHeader) state.dcId = step.created.dcId
    this.stats.keysCreated++
    this.opts.onKeyCreated?.(conn, step.created)
  }
}
