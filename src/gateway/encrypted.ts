/**
 * The gateway's encrypted path (Teamgram gnetway's onEncryptedMessage), one instance per gateway;
 * Gateway (gateway.ts) hands it every packet whose auth_key_id is not 0:
 *
 *   packet (auth_key_id ≠ 0) → auth key (in-memory LRU in front of SessionService.queryAuthKey)
 *     → openMessage (decrypt + checks) → QuickAck through the codec when asked → SessionService.sendData
 *   GatewayLink.send(connId, out) → sealMessage (encrypt) → connection.send
 *
 * Unknown auth_key_id → transport error -404 and close (clients then create a new key).
 * A packet failing decryption (msg_key, length, padding) is discarded, logged with its reason and
 * the connection closed, the same way for every reason (security guidelines).
 */
import { AuthKey, INNER_HEADER_SIZE, MessageCryptoError, openMessage, quickAckToken, sealMessage } from '../crypto/message.js'
import type { RandomSource } from '../crypto/random.js'
import type { GatewayLink, OutboundMessage, SessionService, TransportKind } from '../session/api.js'
import type { Clock } from '../util/clock.js'
import { equalsHalvesLE, readInt64LE } from '../util/int64.js'
import type { Logger } from '../util/log.js'
import { LogLimiter } from '../util/log-limiter.js'
import { LruCache } from '../util/lru.js'
import { TRANSPORT_ERROR } from '../transport/errors.js'

/** What the encrypted path needs from a transport connection. */
export interface EncryptedConn {
  readonly id: string
  /** "ip:port" of the peer. */
  readonly remoteAddress: string
  readonly info: { readonly transport: TransportKind }
  send(payload: Buffer): void
  /** Writes a quick-ack token through the codec (and obfuscation); no-op for framings without. */
  sendQuickAck(token: number): void
  sendTransportError(code: number): void
  close(reason: string): void
  /** A packet decrypted under a known key (Connection.markValid: its first-packet deadline ends). */
  markValid?(): void
  /**
   * For a carrier whose packets are not one stream (an HTTP request): the connection the
   * session's answers go to (its HTTP channel), given the decrypted message's session and body.
   * The packet is then the channel's; this connection's state is dropped.
   */
  route?(authKeyId: bigint, sessionId: bigint, salt: bigint, body: Buffer): EncryptedConn
}

export interface EncryptedPathOptions {
  gatewayId: string
  clock: Clock
  log: Logger
  /** Max auth keys in the LRU cache. */
  cacheSize?: number
  /**
   * A cached key is looked up again (for new connections) after this long, so destroyed or expired
   * keys stop working on new connections (default KEY_CACHE_TTL_MS). A live connection keeps its key.
   */
  cacheTtlMs?: number
  /** Packets held per connection while its key is being looked up; more → close. */
  maxPendingPerConn?: number
  /** Bytes of those packets held per connection; more → close (default 4 MiB). */
  maxPendingBytesPerConn?: number
  /** Padding randomness; default: message.ts's pooled CSPRNG (faster than a call per message). */
  random?: RandomSource
}

/** Default lifetime of a gateway key-cache entry. */
export const KEY_CACHE_TTL_MS = 60_000

/** msg_key_large of the packet being processed (only read synchronously, for the quick-ack token). */
const msgKeyScratch = Buffer.alloc(32)

interface ConnState {
  conn: EncryptedConn
  /** conn.remoteAddress, formatted once. */
  addr: string
  /** The DC the connection came for (the gateway's, with its latest packet). */
  dcId: number
  /** Keys this connection used (normally one); survive LRU eviction while the connection lives. */
  /** The key this connection uses (almost always one); further ones in `more`. */
  key: AuthKey | undefined
  more: Map<bigint, AuthKey> | undefined
  /** Packets queued behind an auth-key lookup, in arrival order. */
  pending: { packet: Buffer; quickAck: boolean; receivedAt: number }[] | undefined
  pendingBytes: number
  closed: boolean
}

export interface EncryptedPathStats {
  decrypted: number
  encrypted: number
  unknownKey: number
  decryptFailed: number
  quickAcks: number
  /** Encrypted bytes written (before transport framing). */
  bytesOut: number
}

function connKey(st: ConnState, id: bigint): AuthKey | undefined {
  return st.key !== undefined && st.key.id === id ? st.key : st.more?.get(id)
}

function keepKey(st: ConnState, key: AuthKey): void {
  if (st.key === undefined || st.key.id === key.id) st.key = key
  else (st.more ??= new Map()).set(key.id, key)
}

export class EncryptedPath implements GatewayLink {
  private readonly conns = new Map<string, ConnState>()
  /** Keys by id (TTL from insertion, so destroyed keys stop working on new connections). */
  private readonly cache: LruCache<bigint, AuthKey>
  private sessions: SessionService | undefined
  private readonly maxPending: number
  private readonly maxPendingBytes: number
  private readonly random: RandomSource | undefined
  private readonly limitedLog: LogLimiter
  readonly stats: EncryptedPathStats = { decrypted: 0, encrypted: 0, unknownKey: 0, decryptFailed: 0, quickAcks: 0, bytesOut: 0 }

  constructor(private readonly opts: EncryptedPathOptions) {
    this.cache = new LruCache(opts.cacheSize ?? 100_000, opts.cacheTtlMs ?? KEY_CACHE_TTL_MS, opts.clock)
    this.maxPending = opts.maxPendingPerConn ?? 256
    this.maxPendingBytes = opts.maxPendingBytesPerConn ?? 4 * 1024 * 1024
    this.limitedLog = new LogLimiter(opts.log, undefined, opts.clock)
    this.random = opts.random
  }

  /** The session layer is built after the gateway link it writes to: attach it here. */
  attach(sessions: SessionService): void {
    this.sessions = sessions
  }

  /** Number of connections the path currently tracks. */
  get connections(): number {
    return this.conns.size
  }

  /** One encrypted packet (first 8 bytes: a non-zero auth_key_id) from `conn`, which came for DC `dcId`. */
  onPacket(conn: EncryptedConn, packet: Buffer, quickAck: boolean, dcId: number): void {
    let st = this.conns.get(conn.id)
    if (st === undefined) {
      st = { conn, addr: conn.remoteAddress, dcId, key: undefined, more: undefined, pending: undefined, pendingBytes: 0, closed: false }
      this.conns.set(conn.id, st)
    }
    st.dcId = dcId
    if (st.closed) return
    const receivedAt = this.opts.clock.now()
    if (st.pending !== undefined) {
      if (st.pending.length >= this.maxPending || st.pendingBytes + packet.length > this.maxPendingBytes) {
        this.limitedLog.warn('pending_overflow', { conn: conn.id, addr: conn.remoteAddress, packets: st.pending.length, bytes: st.pendingBytes }, 'too much waiting for an auth key lookup: closing')
        this.close(st, 'pending overflow')
        return
      }
      st.pending.push({ packet, quickAck, receivedAt })
      st.pendingBytes += packet.length
      return
    }
    if (packet.length < 8) {
      this.limitedLog.info('short_packet', { conn: conn.id, addr: conn.remoteAddress, len: packet.length }, 'packet shorter than auth_key_id: closing')
      this.close(st, 'short packet')
      return
    }
    // the usual case: the connection's own key, recognised without reading the id as a bigint
    const own = st.key
    if (own !== undefined && equalsHalvesLE(packet, 0, own.idHi, own.idLo)) {
      this.process(st, own, packet, quickAck, receivedAt)
      return
    }
    const id = readInt64LE(packet, 0)
    const key = connKey(st, id) ?? this.cache.get(id, receivedAt)
    if (key !== undefined) {
      keepKey(st, key)
      this.process(st, key, packet, quickAck, receivedAt)
      return
    }
    st.pending = [{ packet, quickAck, receivedAt }]
    st.pendingBytes = packet.length
    void this.lookup(st, id)
  }

  private async lookup(st: ConnState, id: bigint): Promise<void> {
    let key: AuthKey | undefined
    try {
      const sessions = this.sessions
      if (sessions === undefined) throw new Error('encrypted path has no session service attached')
      const rec = await sessions.queryAuthKey(id)
      if (rec !== undefined) key = this.cache.get(id) ?? new AuthKey(rec.key)
    } catch (e) {
      this.opts.log.error({ conn: st.conn.id, authKeyId: id.toString(16), err: e }, 'auth key lookup failed: closing')
      this.close(st, 'auth key lookup failed')
      return
    }
    if (st.closed) return
    const queued = st.pending ?? []
    st.pending = undefined
    st.pendingBytes = 0
    if (key === undefined) {
      this.stats.unknownKey++
      this.limitedLog.info('unknown_auth_key', { conn: st.conn.id, addr: st.conn.remoteAddress, authKeyId: id.toString(16) }, 'unknown auth_key_id: -404 and close')
      st.conn.sendTransportError(TRANSPORT_ERROR.AUTH_KEY_NOT_FOUND)
      this.close(st, 'unknown auth key')
      return
    }
    this.cache.set(id, key)
    keepKey(st, key)
    // Replay what queued behind the lookup, in order; a different key id goes through onPacket again.
    for (let i = 0; i < queued.length; i++) {
      const q = queued[i]!
      if (st.closed) return
      // onPacket below may have started another lookup (a packet with a different key id)
      const again = st.pending as ConnState['pending']
      if (again !== undefined) {
        for (const rest of queued.slice(i)) {
          again.push(rest)
          st.pendingBytes += rest.packet.length
        }
        return
      }
      const qid = q.packet.length >= 8 ? q.packet.readBigInt64LE(0) : undefined
      const k = qid === undefined ? undefined : connKey(st, qid) ?? this.cache.get(qid)
      if (k === undefined) {
        this.onPacket(st.conn, q.packet, q.quickAck, st.dcId)
        continue
      }
      this.process(st, k, q.packet, q.quickAck, q.receivedAt)
    }
  }

  private process(st: ConnState, key: AuthKey, packet: Buffer, quickAck: boolean, receivedAt: number): void {
    // Padded intermediate appends 0..15 random bytes after the message: drop them (a corrupted
    // packet still fails the msg_key check).
    const extra = (packet.length - 24) % 16
    if (extra > 0 && packet.length > 24 + extra) packet = packet.subarray(0, packet.length - extra)
    let plain: Buffer
    try {
      plain = openMessage(key, packet, 'client', msgKeyScratch)
    } catch (e) {
      if (!(e instanceof MessageCryptoError)) throw e
      this.stats.decryptFailed++
      this.limitedLog.info(`decrypt_${e.reason}`, { conn: st.conn.id, addr: st.conn.remoteAddress, len: packet.length }, 'encrypted packet rejected: discarded, closing')
      this.close(st, 'decrypt failed')
      return
    }
    this.stats.decrypted++
    st.conn.markValid?.()
    if (quickAck) {
      this.stats.quickAcks++
      st.conn.sendQuickAck(quickAckToken(msgKeyScratch))
    }
    const salt = readInt64LE(plain, 0)
    const sessionId = readInt64LE(plain, 8)
    // openMessage checked message_data_length against the decrypted length
    const body = plain.subarray(INNER_HEADER_SIZE, INNER_HEADER_SIZE + plain.readInt32LE(28))
    if (st.conn.route !== undefined) st = this.routed(st, key, sessionId, salt, body)
    const sessions = this.sessions
    if (sessions === undefined) return
    sessions.sendData({
      gatewayId: this.opts.gatewayId,
      connId: st.conn.id,
      clientAddr: st.addr,
      dcId: st.dcId,
      transport: st.conn.info.transport,
      authKeyId: key.id,
      salt,
      sessionId,
      msgId: readInt64LE(plain, 16),
      seqNo: plain.readInt32LE(24),
      body,
      receivedAt,
    })
  }

  /** The state of the connection a routed packet (EncryptedConn.route) belongs to; the request's own is dropped. */
  private routed(st: ConnState, key: AuthKey, sessionId: bigint, salt: bigint, body: Buffer): ConnState {
    const conn = st.conn.route!(key.id, sessionId, salt, body)
    this.conns.delete(st.conn.id)
    let to = this.conns.get(conn.id)
    if (to === undefined) {
      to = { conn, addr: st.addr, dcId: st.dcId, key: undefined, more: undefined, pending: undefined, pendingBytes: 0, closed: false }
      this.conns.set(conn.id, to)
    }
    to.addr = st.addr
    to.dcId = st.dcId
    keepKey(to, key)
    return to
  }

  /** GatewayLink: encrypt one outbound message with its auth key and write it to the connection. */
  send(connId: string, out: OutboundMessage): void {
    const st = this.conns.get(connId)
    if (st === undefined || st.closed) {
      this.opts.log.debug({ conn: connId }, 'send to a closed connection: dropped')
      return
    }
    const packet = this.sealFor(st, out)
    if (packet !== undefined) st.conn.send(packet)
  }

  /** `out` sealed with a key connection `connId` uses (closing or not), without writing it; undefined when the connection or key is gone. */
  seal(connId: string, out: OutboundMessage): Buffer | undefined {
    const st = this.conns.get(connId)
    return st === undefined ? undefined : this.sealFor(st, out)
  }

  private sealFor(st: ConnState, out: OutboundMessage): Buffer | undefined {
    const key = connKey(st, out.authKeyId) ?? this.cache.get(out.authKeyId)
    if (key === undefined) {
      this.opts.log.warn({ conn: st.conn.id, authKeyId: out.authKeyId.toString(16) }, 'send with a key the connection never used: dropped')
      return undefined
    }
    const packet = sealMessage(key, out, 'server', this.random)
    this.stats.encrypted++
    this.stats.bytesOut += packet.length
    return packet
  }

  /** GatewayLink: the session layer closes a connection (ping_delay_disconnect, destroy_session...). */
  closeConnection(connId: string, reason: string): void {
    const st = this.conns.get(connId)
    if (st === undefined) return
    this.opts.log.debug({ conn: connId, reason }, 'session layer closes the connection')
    this.close(st, reason)
  }

  /** The transport connection ended (either side): forget it and tell the session layer. */
  connectionClosed(connId: string): void {
    const st = this.conns.get(connId)
    if (st === undefined) return
    st.closed = true
    st.pending = undefined
    this.conns.delete(connId)
    this.sessions?.closeConnection(connId)
  }

  /** Puts a key the handshake just created into the cache (its first encrypted packet needs no lookup). */
  warm(record: { id: bigint; key: Buffer }): void {
    this.cache.set(record.id, new AuthKey(record.key))
  }

  /** Drops a cached key (GatewayLink.forgetAuthKey: destroy_auth_key, expiry); its next packet gets -404. */
  forgetAuthKey(authKeyId: bigint): void {
    this.cache.delete(authKeyId)
    for (const st of this.conns.values()) {
      if (st.key?.id === authKeyId) st.key = undefined
      st.more?.delete(authKeyId)
    }
  }

  private close(st: ConnState, reason: string): void {
    if (st.closed) return
    st.closed = true
    st.pending = undefined
    st.conn.close(reason)
    this.connectionClosed(st.conn.id)
  }

}
