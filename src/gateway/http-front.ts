/**
 * The gateway's side of the HTTP transport. Unencrypted requests (the key exchange) go through
 * the Gateway on a connection per keep-alive TCP connection, so an exchange's steps share its
 * state as on TCP; each is answered by the next thing the Gateway sends there. Encrypted requests
 * go to the encrypted path one by one; once decrypted, each waits in its session's HttpChannel
 * (http-channel.ts), which is the connection the session layer sees and writes to.
 */
import type { Socket } from 'node:net'
import { formatPeer } from '../transport/connection.js'
import { ConnectionEmitter } from '../transport/connection-events.js'
import { nextConnectionId } from '../transport/acceptor.js'
import type { HttpExchange } from '../transport/http-api.js'
import type { Clock } from '../util/clock.js'
import type { Logger } from '../util/log.js'
import { ServerMsgIdGenerator } from '../util/server-msg-id.js'
import type { EncryptedConn, EncryptedPath } from './encrypted.js'
import { DEFAULT_HTTP_WAIT, HttpChannel, readHttpWait, type HttpChannelLimits } from './http-channel.js'

export interface HttpFrontOptions {
  encrypted: EncryptedPath
  /** Hands a keep-alive connection's unencrypted side to the Gateway (its 'packet' events). */
  acceptUnencrypted(conn: HttpSocketConn): void
  /** The DC of requests on a connection that made no key. */
  dcId: number
  limits: HttpChannelLimits & { maxChannelsPerKey: number }
  /** Channels at once: beyond it (or beyond limits.maxChannelsPerKey for one key) the oldest is closed for a new one. */
  maxChannels: number
  clock: Clock
  log: Logger
}

/** Keys whose DC is remembered (the newest; one entry each). */
const MAX_KEY_DCS = 65_536

/** Unencrypted requests held per keep-alive connection; more are refused (-429). */
const MAX_UNENCRYPTED_PENDING = 8

/** An empty msg_container (what a request gets when max_wait passes with nothing to send). */
const EMPTY_CONTAINER = Buffer.from([0xdc, 0xf8, 0xf1, 0x73, 0, 0, 0, 0])
/**
 * Added to the gateway's msg_ids for empty containers: half a millisecond of msg_id fraction, so
 * they never equal an id the session layer's generator gives out in the same millisecond.
 */
const MSG_ID_OFFSET = 1n << 21n

/**
 * A keep-alive connection as the Gateway sees it for unencrypted requests: each request's packet
 * is a 'packet' event, answered by the next send(); close() answers the rest with its transport
 * error (or drops the connection).
 */
export class HttpSocketConn extends ConnectionEmitter {
  readonly id = String(nextConnectionId())
  readonly remoteAddress: string
  readonly info: { remoteIp: string; codec: 'http'; obfuscated: false; dcId: null }
  /** The DC of the latest key made here (its encrypted requests are for that DC). */
  dcId: number | undefined
  closed = false
  private readonly pending: HttpExchange[] = []

  constructor(readonly socket: Socket, remoteIp: string, remotePort: number) {
    super()
    this.remoteAddress = formatPeer(remoteIp, remotePort)
    this.info = { remoteIp, codec: 'http', obfuscated: false, dcId: null }
    socket.once('close', () => this.close('connection closed'))
  }

  /** One unencrypted request. */
  request(x: HttpExchange): void {
    if (this.pending.length >= MAX_UNENCRYPTED_PENDING) {
      x.fail(-429)
      return
    }
    this.pending.push(x)
    this.emit('packet', x.body, false)
  }

  send(payload: Uint8Array): boolean {
    for (let x = this.pending.shift(); x !== undefined; x = this.pending.shift()) {
      if (x.respond(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength))) return true
    }
    return false
  }

  close(reason: string, transportError?: number): void {
    if (this.closed) return
    this.closed = true
    for (const x of this.pending.splice(0)) {
      if (transportError !== undefined) x.fail(transportError)
    }
    if (transportError === undefined && !this.socket.destroyed) this.socket.destroy()
    this.emit('close', reason)
  }
}

/** One encrypted request until it is decrypted and routed to its session's channel. */
class RequestConn implements EncryptedConn {
  readonly id = String(nextConnectionId())
  readonly info = { transport: 'http' as const }

  constructor(
    private readonly x: HttpExchange,
    readonly remoteAddress: string,
    private readonly front: HttpFront,
  ) {}

  route(authKeyId: bigint, sessionId: bigint, salt: bigint, body: Buffer): EncryptedConn {
    return this.front.channelFor(this.x, this.remoteAddress, authKeyId, sessionId, salt, body)
  }

  send(packet: Buffer): void {
    this.x.respond(packet)
  }

  sendQuickAck(): void {}

  sendTransportError(code: number): void {
    this.x.fail(code)
  }

  /** A packet that failed decryption: its keep-alive connection is dropped, as a TCP one would be. */
  close(): void {
    if (!this.x.answered) this.x.socket.destroy()
  }
}

export class HttpFront {
  /** By `${authKeyId}:${sessionId}`, oldest first. */
  private readonly channels = new Map<string, HttpChannel>()
  /** Channel keys per auth key, oldest first. */
  private readonly byKey = new Map<bigint, Set<string>>()
  private readonly sockets = new WeakMap<Socket, HttpSocketConn>()
  /** The DC each key made here was made for (an HTTP request has no header naming its DC). */
  private readonly keyDcs = new Map<bigint, number>()
  private readonly msgIds: ServerMsgIdGenerator
  private refusing = false

  constructor(private readonly o: HttpFrontOptions) {
    this.msgIds = new ServerMsgIdGenerator(o.clock)
  }

  /** Requests held open for their channel's next message. */
  get heldCount(): number {
    let n = 0
    for (const ch of this.channels.values()) n += ch.waiting
    return n
  }

  /** Sessions with an HTTP channel now. */
  get channelCount(): number {
    return this.channels.size
  }

  /** One request from a listener. */
  onExchange(x: HttpExchange): void {
    if (this.refusing) {
      x.fail(-503)
      return
    }
    const b = x.body
    if (b.readInt32LE(0) === 0 && b.readInt32LE(4) === 0) {
      this.socketConn(x).request(x)
      return
    }
    const conn = new RequestConn(x, formatPeer(x.remoteIp, x.remotePort), this)
    const dcId = this.keyDcs.get(b.readBigInt64LE(0)) ?? this.sockets.get(x.socket)?.dcId ?? this.o.dcId
    this.o.encrypted.onPacket(conn, b, false, dcId)
  }

  /** @internal The channel of a decrypted request's session; the request now waits there. */
  channelFor(x: HttpExchange, addr: string, authKeyId: bigint, sessionId: bigint, salt: bigint, body: Buffer): HttpChannel {
    const key = `${authKeyId}:${sessionId}`
    let ch = this.channels.get(key)
    if (ch === undefined) {
      this.makeRoom(authKeyId)
      ch = new HttpChannel(String(nextConnectionId()), authKeyId, sessionId, addr, {
        clock: this.o.clock,
        limits: this.o.limits,
        emptyPacket: (c) => this.emptyPacket(c),
        onClose: (c, reason) => this.channelClosed(key, c, reason),
      })
      this.channels.set(key, ch)
      let mine = this.byKey.get(authKeyId)
      if (mine === undefined) this.byKey.set(authKeyId, (mine = new Set()))
      mine.add(key)
    }
    ch.salt = salt
    ch.addRequest(x, readHttpWait(body) ?? DEFAULT_HTTP_WAIT, addr)
    return ch
  }

  /**
   * A key exchange finished on `conn` (any transport): requests with that key, on any keep-alive
   * connection, are for the key's DC, and so are the other requests of `conn` when it is HTTP.
   */
  keyCreated(conn: unknown, authKeyId: bigint, dcId: number | undefined): void {
    if (dcId === undefined) return
    if (conn instanceof HttpSocketConn) conn.dcId = dcId
    if (this.keyDcs.size >= MAX_KEY_DCS) this.keyDcs.delete(this.keyDcs.keys().next().value!)
    this.keyDcs.set(authKeyId, dcId)
  }

  /** From now on requests get -503 (drain). */
  refuseNew(): void {
    this.refusing = true
  }

  /** Closes every channel: held requests get what is queued or an empty container. Returns how many. */
  closeChannels(reason: string): number {
    const all = [...this.channels.values()]
    for (const ch of all) ch.close(reason)
    return all.length
  }

  private socketConn(x: HttpExchange): HttpSocketConn {
    let c = this.sockets.get(x.socket)
    if (c === undefined || c.closed) {
      c = new HttpSocketConn(x.socket, x.remoteIp, x.remotePort)
      this.sockets.set(x.socket, c)
      this.o.acceptUnencrypted(c)
    }
    return c
  }

  private emptyPacket(ch: HttpChannel): Buffer | undefined {
    const msgId = this.msgIds.next(true) + MSG_ID_OFFSET
    return this.o.encrypted.seal(ch.id, { authKeyId: ch.authKeyId, salt: ch.salt, sessionId: ch.sessionId, msgId, seqNo: 0, body: EMPTY_CONTAINER })
  }

  /** Closes the oldest channel of the key, or of all, when a new one would exceed a cap. */
  private makeRoom(authKeyId: bigint): void {
    const mine = this.byKey.get(authKeyId)
    let victim: string | undefined
    if (mine !== undefined && mine.size >= this.o.limits.maxChannelsPerKey) victim = mine.values().next().value
    else if (this.channels.size >= this.o.maxChannels) victim = this.channels.keys().next().value
    if (victim === undefined) return
    this.o.log.info({ channels: this.channels.size, perKey: mine?.size }, 'http channels over their limit: the oldest closed')
    this.channels.get(victim)?.close('too many http channels')
  }

  private channelClosed(key: string, ch: HttpChannel, reason: string): void {
    if (this.channels.get(key) === ch) {
      this.channels.delete(key)
      const mine = this.byKey.get(ch.authKeyId)
      mine?.delete(key)
      if (mine?.size === 0) this.byKey.delete(ch.authKeyId)
    }
    this.o.log.debug({ conn: ch.id, reason }, 'http channel closed')
    this.o.encrypted.connectionClosed(ch.id)
  }
}
