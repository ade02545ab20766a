/**
 * A minimal MTProto 2.0 client over our own codecs and message crypto, for the benchmark and for
 * end-to-end checks real clients cannot be steered into. It starts from an auth key that is already
 * in the server's store (no handshake), follows bad_server_salt / bad_msg_notification 16/17 /
 * new_session_created like real clients do, and resolves invoke() on rpc_result and ping() on pong.
 */
import { connect, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { AuthKey, openMessage, sealMessage } from '../../src/crypto/message.js'
import { fromHalves, low32, readInt64LE, writeInt64LE } from '../../src/util/int64.js'
import { createCodec, type Codec } from '../../src/transport/index.js'
import { codecTag } from '../../src/transport/codec.js'
import { createObfuscatedClient } from '../../src/transport/obfuscated.js'
import { decode, encode, type TlObject } from '../../src/tl/index.js'
import {
  buildContainer,
  constructorOf,
  ID_GZIP_PACKED,
  ID_MSG_CONTAINER,
  ID_RPC_RESULT,
  parseContainer,
  unpackGzip,
  type Message,
} from '../../src/session/envelope.js'

const ID_PING = 0x7abe77ec
const ID_PONG = 0x347773c5
const ID_BAD_SERVER_SALT = 0xedab447b
const ID_BAD_MSG = 0xa7eff811
const ID_NEW_SESSION = 0x9ec20908
const ID_MSGS_ACK = 0x62d6b459
const ID_RPC_ERROR = 0x2144ca19

export interface RawClientOptions {
  host: string
  port: number
  key: AuthKey
  salt?: bigint
  sessionId?: bigint
  codec?: 'intermediate' | 'abridged' | 'padded'
  /** Seconds added to the local clock when making msg_ids (a skewed client). */
  clockSkewSec?: number
  /** Send msgs_ack for the server's content messages (default true). */
  ack?: boolean
  /** Request a quick ack on every packet. */
  quickAck?: boolean
  /** Local address to bind the socket to (e.g. 127.0.1.1, for per-IP limits). */
  localAddress?: string
  /** obfuscated2 around the codec, naming this DC at offset 60 of its init (as TDLib, mtcute and tgnet do). */
  obfuscatedDc?: number
  /** Bytes sent before anything else: a PROXY protocol header, as a proxy in front of the server would. */
  proxyHeader?: Buffer
}

export interface RpcErrorResult {
  _: 'rpc_error'
  error_code: number
  error_message: string
}

interface Pending {
  body: Buffer
  contentRelated: boolean
  resolve: (v: TlObject | Buffer) => void
  reject: (e: Error) => void
}

/** What the client has seen, for assertions. */
export interface RawClientLog {
  badServerSalt: number
  badMsg: number[]
  newSessions: number
  /** first_msg_id of each new_session_created. */
  newSessionFirstMsgIds: bigint[]
  quickAcks: number[]
  acksReceived: number
  transportErrors: number[]
  /** Boxed bodies that were neither answers nor service messages (pushes, e.g. updates). */
  pushes: Buffer[]
}

export class RawClient {
  readonly key: AuthKey
  salt: bigint
  readonly sessionId: bigint
  private readonly codec: Codec
  /** The first bytes on the wire: the codec's tag, or the obfuscated2 init. */
  private readonly preamble: Buffer
  private socket!: Socket
  /** Last msg_id sent, as its two 32-bit halves (time seconds, fraction; lo unsigned). */
  private lastHi = 0
  private lastLo = 0
  private contentCount = 0
  private timeOffsetSec: number
  private readonly pending = new Map<bigint, Pending>()
  private readonly pings = new Map<bigint, Pending>()
  private readonly toAck: bigint[] = []
  /** container msg_id → the msg_id of the query inside it */
  private readonly containers = new Map<bigint, bigint>()
  private closedErr: Error | undefined
  private corked = false
  private readonly msgKeyScratch = Buffer.allocUnsafe(32)
  private pingSeq = BigInt(Date.now()) << 16n
  readonly log: RawClientLog = { badServerSalt: 0, badMsg: [], newSessions: 0, newSessionFirstMsgIds: [], quickAcks: [], acksReceived: 0, transportErrors: [], pushes: [] }
  onPush: ((body: Buffer) => void) | undefined
  /** sendPing() pings in flight: low 32 bits of the msg_id / 4 → tag (small integers: no allocation per ping). */
  private readonly taggedPings = new Map<number, number>()
  private readonly taggedPingBody = Buffer.from([0xec, 0x77, 0xbe, 0x7a, 1, 0, 0, 0, 0, 0, 0, 0]) // ping ping_id:1
  /** Called with the tag of each sendPing() whose pong arrived, or with an error when the connection fails. */
  onPong: ((tag: number, err?: Error) => void) | undefined
  /** sendQuery() queries in flight, keyed as taggedPings. */
  private readonly taggedQueries = new Map<number, number>()
  /** What sendQuery() sends: a boxed query, set by the caller before the first sendQuery(). */
  taggedQueryBody: Buffer | undefined
  /**
   * Called with the tag of each sendQuery() whose rpc_result arrived (with an error when the result
   * is an rpc_error), or with an error when the connection fails.
   */
  onAnswer: ((tag: number, err?: Error) => void) | undefined
  /** rpc_results for queries this client did not send on this connection (resent answers), by req_msg_id. */
  readonly resultsFor = new Map<bigint, TlObject | Buffer>()

  private constructor(private readonly opts: RawClientOptions) {
    this.key = opts.key
    this.salt = opts.salt ?? 0n
    this.sessionId = opts.sessionId ?? randomBytes(8).readBigInt64LE(0)
    this.timeOffsetSec = opts.clockSkewSec ?? 0
    const codec = opts.codec ?? 'intermediate'
    const maxFrameSize = 16 * 1024 * 1024
    if (opts.obfuscatedDc === undefined) {
      this.codec = createCodec(codec, { side: 'client', maxFrameSize })
      this.preamble = codecTag(codec)
    } else {
      const o = createObfuscatedClient({ codec, maxFrameSize, dcId: opts.obfuscatedDc })
      this.codec = o.codec
      this.preamble = o.init
    }
  }

  static async connect(opts: RawClientOptions): Promise<RawClient> {
    const c = new RawClient(opts)
    await c.open()
    return c
  }

  private open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: this.opts.host, port: this.opts.port, noDelay: true, localAddress: this.opts.localAddress })
      this.socket = s
      s.once('connect', () => {
        s.write(this.opts.proxyHeader === undefined ? this.preamble : Buffer.concat([this.opts.proxyHeader, this.preamble]))
        resolve()
      })
      s.once('error', reject)
      s.on('error', (e) => this.fail(e))
      s.on('close', () => this.fail(new Error('connection closed')))
      s.on('data', (chunk) => this.onData(chunk))
    })
  }

  /** Closes the socket; pending calls reject. */
  close(): void {
    this.socket.destroy()
    this.fail(new Error('closed by client'))
  }

  get isClosed(): boolean {
    return this.closedErr !== undefined
  }

  /** The socket's local port (the client's port a proxy in front of the server reports). */
  get localPort(): number {
    return this.socket.localPort ?? 0
  }

  /** Sends a query and resolves with its result (rpc_error objects resolve too). */
  invoke(query: TlObject | Buffer): Promise<TlObject | Buffer> {
    const body = Buffer.isBuffer(query) ? query : encode(query)
    return new Promise((resolve, reject) => {
      if (this.closedErr) return reject(this.closedErr)
      const p: Pending = { body, contentRelated: true, resolve, reject }
      const msgId = this.sendMessage(body, true)
      this.pending.set(msgId, p)
    })
  }

  /** ping → pong round trip; resolves with the boxed pong. */
  ping(): Promise<Buffer> {
    // by hand, not encode(): the bench's load generator sends millions of these
    const body = Buffer.allocUnsafe(12)
    body.writeUInt32LE(ID_PING, 0)
    writeInt64LE(body, BigInt.asIntN(64, ++this.pingSeq), 4)
    return new Promise((resolve, reject) => {
      if (this.closedErr) return reject(this.closedErr)
      const p: Pending = { body, contentRelated: true, resolve: resolve as (v: TlObject | Buffer) => void, reject }
      const msgId = this.sendMessage(body, true)
      this.pings.set(msgId, p)
    })
  }

  /**
   * The load generator's ping: no promise and no object per ping (its own garbage collection would
   * be in the latencies it measures). onPong(tag) reports the pong; matched by the msg_id's low 32
   * bits, unique among pings in flight for less than a second.
   */
  sendPing(tag: number): void {
    if (this.closedErr) throw this.closedErr
    this.taggedPings.set((low32(this.sendMessage(this.taggedPingBody, true)) >>> 2) | 0, tag)
  }

  /** sendPing() for taggedQueryBody: onAnswer(tag) reports its rpc_result (the result itself is not decoded). */
  sendQuery(tag: number): void {
    if (this.closedErr) throw this.closedErr
    if (this.taggedQueryBody === undefined) throw new Error('sendQuery: no taggedQueryBody')
    this.taggedQueries.set((low32(this.sendMessage(this.taggedQueryBody, true)) >>> 2) | 0, tag)
  }

  /** The next msg_id, for a message built by the caller (e.g. a bind message naming its own msg_id). */
  allocMsgId(): bigint {
    return this.nextMsgId()
  }

  /**
   * Sends `messages` (msg_ids from allocMsgId, in order) in one container; resolves with the
   * rpc_result of each message marked `query`, in order.
   */
  sendContainer(messages: ReadonlyArray<{ msgId: bigint; body: Buffer; contentRelated: boolean; query?: boolean }>): Promise<Array<TlObject | Buffer>> {
    const results: Array<Promise<TlObject | Buffer>> = []
    const inner: Message[] = []
    for (const m of messages) {
      const seqNo = m.contentRelated ? this.contentCount++ * 2 + 1 : this.contentCount * 2
      inner.push({ msgId: m.msgId, seqNo, body: m.body })
      if (m.query) {
        results.push(
          new Promise((resolve, reject) => {
            if (this.closedErr) return reject(this.closedErr)
            this.pending.set(m.msgId, { body: m.body, contentRelated: true, resolve, reject })
          }),
        )
      }
    }
    this.writeEncrypted(this.nextMsgId(), this.contentCount * 2, buildContainer(inner))
    return Promise.all(results)
  }

  /** Sends any message as is; returns its msg_id. */
  sendMessage(body: Buffer, contentRelated: boolean): bigint {
    const msgId = this.nextMsgId()
    const seqNo = contentRelated ? this.contentCount++ * 2 + 1 : this.contentCount * 2
    let payload = body
    let outerId = msgId
    let outerSeq = seqNo
    if (this.toAck.length > 0 && (this.opts.ack ?? true)) {
      // acks travel with the next message, in one container
      const ack = encode({ _: 'msgs_ack', msg_ids: this.toAck.splice(0) })
      const ackId = this.nextMsgId()
      outerId = this.nextMsgId()
      outerSeq = this.contentCount * 2
      payload = buildContainer([
        { msgId: ackId, seqNo: this.contentCount * 2, body: ack },
        { msgId, seqNo, body },
      ])
      this.containers.set(outerId, msgId)
      if (this.containers.size > 1000) this.containers.delete(this.containers.keys().next().value as bigint)
    }
    this.writeEncrypted(outerId, outerSeq, payload)
    return msgId
  }

  private writeEncrypted(msgId: bigint, seqNo: number, body: Buffer): void {
    const packet = sealMessage(this.key, { salt: this.salt, sessionId: this.sessionId, msgId, seqNo, body }, 'client')
    // one write per event-loop turn: everything sent in this tick leaves in one segment
    if (!this.corked) {
      this.corked = true
      this.socket.cork()
      process.nextTick(() => {
        this.corked = false
        this.socket.uncork()
      })
    }
    this.socket.write(this.codec.encodePacket(packet, this.opts.quickAck ?? false))
  }

  /** Time-based, divisible by 4, strictly increasing; computed in numbers (one bigint per call). */
  private nextMsgId(): bigint {
    const nowMs = Date.now() + this.timeOffsetSec * 1000
    let hi = Math.floor(nowMs / 1000)
    let lo = (Math.floor((nowMs - hi * 1000) * 4294967) & ~3) >>> 0
    if (hi < this.lastHi || (hi === this.lastHi && lo <= this.lastLo)) {
      hi = this.lastHi
      lo = this.lastLo + 4
      if (lo > 0xffffffff) {
        hi++
        lo = 0
      }
    }
    this.lastHi = hi
    this.lastLo = lo
    return fromHalves(hi, lo)
  }

  private onData(chunk: Buffer): void {
    let frames
    try {
      frames = this.codec.push(chunk)
    } catch (e) {
      this.fail(e as Error)
      this.socket.destroy()
      return
    }
    for (const f of frames) {
      if (f.type === 'quickAck') {
        this.log.quickAcks.push(f.token)
        continue
      }
      if (f.payload.length === 4) {
        this.log.transportErrors.push(f.payload.readInt32LE(0))
        continue
      }
      // padded intermediate: drop the 0..15 random bytes after the message
      const extra = (f.payload.length - 24) % 16
      const packet = extra > 0 ? f.payload.subarray(0, f.payload.length - extra) : f.payload
      const plain = openMessage(this.key, packet, 'server', this.msgKeyScratch)
      this.onMessage(readInt64LE(plain, 16), plain.readInt32LE(24), plain.subarray(32, 32 + plain.readInt32LE(28)))
    }
  }

  private onMessage(msgId: bigint, seqNo: number, body: Buffer): void {
    if ((seqNo & 1) === 1) this.toAck.push(msgId)
    const id = constructorOf(body)
    switch (id) {
      case ID_MSG_CONTAINER:
        for (const m of parseContainer(body, msgId)) this.onMessage(m.msgId, m.seqNo, m.body)
        return
      case ID_RPC_RESULT: {
        if (this.taggedQueries.size > 0) {
          const k = (body.readUInt32LE(4) >>> 2) | 0
          const tag = this.taggedQueries.get(k)
          if (tag !== undefined) {
            this.taggedQueries.delete(k)
            this.onAnswer?.(tag, body.length >= 16 && body.readUInt32LE(12) === ID_RPC_ERROR ? new Error(`rpc_error ${JSON.stringify(decode(body.subarray(12)))}`) : undefined)
            return
          }
        }
        const reqMsgId = readInt64LE(body, 4)
        let inner = body.subarray(12)
        if (constructorOf(inner) === ID_GZIP_PACKED) inner = unpackGzip(inner)
        let out: TlObject | Buffer
        try {
          out = decode(inner)
        } catch {
          out = inner
        }
        const p = this.pending.get(reqMsgId)
        if (p === undefined) {
          this.resultsFor.set(reqMsgId, out)
          return
        }
        this.pending.delete(reqMsgId)
        p.resolve(out)
        return
      }
      case ID_PONG: {
        if (this.taggedPings.size > 0) {
          const k = (body.readUInt32LE(4) >>> 2) | 0
          const tag = this.taggedPings.get(k)
          if (tag !== undefined) {
            this.taggedPings.delete(k)
            this.onPong?.(tag)
            return
          }
        }
        const reqId = readInt64LE(body, 4)
        const p = this.pings.get(reqId)
        if (p === undefined) return
        this.pings.delete(reqId)
        p.resolve(body)
        return
      }
      case ID_BAD_SERVER_SALT: {
        this.log.badServerSalt++
        this.salt = body.readBigInt64LE(20)
        this.resend(body.readBigInt64LE(4))
        return
      }
      case ID_BAD_MSG: {
        const code = body.readInt32LE(16)
        this.log.badMsg.push(code)
        if (code === 16 || code === 17) {
          // the server's msg_id carries its time: correct our offset, as clients do
          const serverSec = Number(msgId >> 32n)
          this.timeOffsetSec = serverSec - Date.now() / 1000
          this.lastHi = 0
          this.lastLo = 0
        }
        if (code === 16 || code === 17 || code === 32 || code === 33) this.resend(body.readBigInt64LE(4))
        return
      }
      case ID_NEW_SESSION:
        this.log.newSessions++
        this.log.newSessionFirstMsgIds.push(body.readBigInt64LE(4))
        this.salt = body.readBigInt64LE(20)
        return
      case ID_MSGS_ACK:
        this.log.acksReceived++
        return
      default:
        this.log.pushes.push(body)
        this.onPush?.(body)
    }
  }

  private resend(badMsgId: bigint): void {
    const id = this.containers.get(badMsgId) ?? badMsgId
    this.containers.delete(badMsgId)
    for (const map of [this.pending, this.pings]) {
      const p = map.get(id)
      if (p !== undefined) {
        map.delete(id)
        map.set(this.sendMessage(p.body, p.contentRelated), p)
        return
      }
    }
    const k = (low32(id) >>> 2) | 0
    const tag = this.taggedPings.get(k)
    if (tag !== undefined) {
      this.taggedPings.delete(k)
      this.sendPing(tag)
      return
    }
    const q = this.taggedQueries.get(k)
    if (q !== undefined) {
      this.taggedQueries.delete(k)
      this.sendQuery(q)
    }
  }

  private fail(e: Error): void {
    if (this.closedErr) return
    this.closedErr = e
    for (const map of [this.pending, this.pings]) {
      for (const p of map.values()) p.reject(e)
      map.clear()
    }
    for (const tag of this.taggedPings.values()) this.onPong?.(tag, e)
    this.taggedPings.clear()
    for (const tag of this.taggedQueries.values()) this.onAnswer?.(tag, e)
    this.taggedQueries.clear()
  }
}

export function isRpcError(v: TlObject | Buffer): v is TlObject & RpcErrorResult {
  return !Buffer.isBuffer(v) && v._ === 'rpc_error'
}

/** invokeWithLayer(layer, initConnection(api_id, query)), the wrapper a client puts on its first request. */
export function withInitConnection(layer: number, apiId: number, query: Record<string, unknown>): Buffer {
  return encode({
    _: 'invokeWithLayer',
    layer,
    query: {
      _: 'initConnection',
      api_id: apiId,
      device_model: 'raw',
      system_version: '1',
      app_version: '1',
      system_lang_code: 'en',
      lang_pack: '',
      lang_code: 'en',
      query,
    },
  } as never)
}
