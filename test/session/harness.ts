/**
 * Test harness for the session layer: a recording GatewayLink (a fake of our own interface), a
 * scriptable RpcDispatcher, a ManualClock, a deterministic random source and a tiny "client" that
 * builds InboundMessages with client msg_ids and seqnos like a real client does.
 */
import { createHash } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import type { GatewayLink, InboundMessage, OutboundMessage, RpcCall, RpcDispatcher, RpcOutcome } from '../../src/session/api.js'
import { SessionManager, type SessionManagerOptions } from '../../src/session/manager.js'
import { msToMsgId } from '../../src/session/msg-id.js'
import { buildContainer, ID_MSG_CONTAINER, ID_RPC_RESULT } from '../../src/session/envelope.js'
import { MemoryAuthKeyStore } from '../../src/store/memory.js'
import { AuthKeyType, type AuthKeyRecord } from '../../src/store/types.js'
import { decode, encode, TlReader, TlWriter, inflateGzip, ID_GZIP_PACKED, type TlObject } from '../../src/tl/index.js'
import { ManualClock } from '../../src/util/clock.js'

export const T0 = 1_750_000_000_000

/** Lets key loading, dispatch promises and the deferred flush run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
}

/** Deterministic counter-based random bytes. */
export function testRandom(seed = 1): (n: number) => Buffer {
  let ctr = seed
  return (n) => {
    const out = Buffer.alloc(n)
    let o = 0
    while (o < n) {
      const h = createHash('sha256').update(String(ctr++)).digest()
      o += h.copy(out, o)
    }
    return out
  }
}

export interface Sent {
  connId: string
  out: OutboundMessage
}

export class RecordingLink implements GatewayLink {
  sent: Sent[] = []
  closed: { connId: string; reason: string }[] = []
  forgotten: bigint[] = []
  forgetAuthKey(authKeyId: bigint): void {
    this.forgotten.push(authKeyId)
  }
  send(connId: string, out: OutboundMessage): void {
    this.sent.push({ connId, out })
  }
  closeConnection(connId: string, reason: string): void {
    this.closed.push({ connId, reason })
  }
  take(): Sent[] {
    const s = this.sent
    this.sent = []
    return s
  }
}

export type Handler = (call: RpcCall) => RpcOutcome | Promise<RpcOutcome>

export class ScriptedDispatcher implements RpcDispatcher {
  calls: RpcCall[] = []
  handlers = new Map<string, Handler>()
  async dispatch(call: RpcCall): Promise<RpcOutcome> {
    this.calls.push(call)
    const h = this.handlers.get(call.method)
    if (!h) return { kind: 'error', code: 400, message: 'METHOD_INVALID' }
    return h(call)
  }
}

/** A decoded server → client message (containers flattened). */
export interface Got {
  msgId: bigint
  seqNo: number
  /** For rpc_result: the decoded result (gzip inflated); otherwise the message itself. */
  obj: TlObject
  reqMsgId?: bigint
  gzipped?: boolean
  /** Outer packet this came in. */
  connId: string
  salt: bigint
  sessionId: bigint
  inContainer: boolean
}

export function unpack(sent: Sent[]): Got[] {
  const out: Got[] = []
  for (const s of sent) {
    const { body } = s.out
    const base = { connId: s.connId, salt: s.out.salt, sessionId: s.out.sessionId }
    if (body.readUInt32LE(0) === ID_MSG_CONTAINER) {
      const r = new TlReader(body, 8)
      const n = body.readInt32LE(4)
      for (let i = 0; i < n; i++) {
        const msgId = r.long()
        const seqNo = r.int()
        const len = r.int()
        const inner = r.raw(len)
        if (msgId >= s.out.msgId) throw new Error('inner msg_id not below container msg_id')
        out.push({ ...base, ...one(msgId, seqNo, inner), inContainer: true })
      }
    } else {
      out.push({ ...base, ...one(s.out.msgId, s.out.seqNo, body), inContainer: false })
    }
  }
  return out
}

function one(msgId: bigint, seqNo: number, body: Buffer): Pick<Got, 'msgId' | 'seqNo' | 'obj' | 'reqMsgId' | 'gzipped'> {
  if (body.readUInt32LE(0) === ID_RPC_RESULT) {
    const reqMsgId = body.readBigInt64LE(4)
    let result = body.subarray(12)
    let gzipped = false
    if (result.readUInt32LE(0) === ID_GZIP_PACKED) {
      const r = new TlReader(result, 4)
      result = inflateGzip(r.bytes())
      gzipped = true
    }
    return { msgId, seqNo, obj: decode(result), reqMsgId, gzipped }
  }
  return { msgId, seqNo, obj: decode(body) }
}

export function permKeyRecord(seed: number, type: AuthKeyType = AuthKeyType.perm, expiresAt?: number): AuthKeyRecord {
  const key = testRandom(1000 + seed)(256)
  const id = createHash('sha1').update(key).digest().readBigInt64LE(12)
  const r: AuthKeyRecord = { id, key, type, createdAt: Math.floor(T0 / 1000) }
  if (expiresAt !== undefined) r.expiresAt = expiresAt
  return r
}

export interface Rig {
  clock: ManualClock
  store: MemoryAuthKeyStore
  link: RecordingLink
  dispatcher: ScriptedDispatcher
  manager: SessionManager
  key: AuthKeyRecord
}

export async function rig(opts: Partial<SessionManagerOptions> = {}, keyType: AuthKeyType = AuthKeyType.perm): Promise<Rig> {
  const clock = new ManualClock(T0)
  const store = new MemoryAuthKeyStore()
  const link = new RecordingLink()
  const dispatcher = new ScriptedDispatcher()
  const key = permKeyRecord(1, keyType, keyType === AuthKeyType.perm ? undefined : Math.floor(Date.now() / 1000) + 86400)
  await store.put(key)
  const manager = new SessionManager({ store, link, dispatcher, clock, random: testRandom(7), ...opts })
  return { clock, store, link, dispatcher, manager, key }
}

/** A minimal client: msg_ids from the (skewable) clock, seqnos, salt learnt from the server. */
export class TestClient {
  salt = 0n
  seq = 0
  lastMsgId = 0n
  skewMs = 0
  connId = 'c1'

  constructor(
    readonly r: Rig,
    readonly sessionId: bigint = 0x1122334455667788n,
    readonly authKeyId: bigint = r.key.id,
  ) {}

  nextMsgId(): bigint {
    let id = msToMsgId(this.r.clock.now() + this.skewMs) & ~3n
    if (id <= this.lastMsgId) id = this.lastMsgId + 4n
    this.lastMsgId = id
    return id
  }

  nextSeq(content: boolean): number {
    return content ? this.seq++ * 2 + 1 : this.seq * 2
  }

  /** Sends one message; returns its msg_id. */
  send(obj: TlObject | Buffer, content = true, over?: Partial<InboundMessage>): bigint {
    const body = Buffer.isBuffer(obj) ? obj : encode(obj)
    const msgId = over?.msgId ?? this.nextMsgId()
    const seqNo = over?.seqNo ?? this.nextSeq(content)
    this.r.manager.sendData(this.inbound(msgId, seqNo, body, over))
    return msgId
  }

  inbound(msgId: bigint, seqNo: number, body: Buffer, over?: Partial<InboundMessage>): InboundMessage {
    return {
      gatewayId: 'g1',
      connId: this.connId,
      clientAddr: '127.0.0.1:5000',
      dcId: 2,
      transport: 'tcp',
      authKeyId: this.authKeyId,
      salt: this.salt,
      sessionId: this.sessionId,
      msgId,
      seqNo,
      body,
      receivedAt: this.r.clock.now(),
      ...over,
    }
  }

  /** Sends a container of [obj, content] pairs; returns [container id, inner ids]. */
  sendContainer(items: [TlObject | Buffer, boolean][], over?: Partial<InboundMessage>): [bigint, bigint[]] {
    const inner = items.map(([o, content]) => ({
      msgId: this.nextMsgId(),
      seqNo: this.nextSeq(content),
      body: Buffer.isBuffer(o) ? o : encode(o),
    }))
    const id = this.nextMsgId()
    this.r.manager.sendData(this.inbound(id, this.nextSeq(false), buildContainer(inner), over))
    return [id, inner.map((m) => m.msgId)]
  }

  /** Learns the salt the way clients do (first message → bad_server_salt → resend). */
  async handshakeSalt(): Promise<void> {
    this.salt = (await this.r.manager.queryAuthKey(this.authKeyId)) ? this.salt : 0n
    this.send({ _: 'ping', ping_id: 0n })
    await settle()
    const got = unpack(this.r.link.take())
    const bad = got.find((g) => g.obj._ === 'bad_server_salt')
    if (bad && bad.obj._ === 'bad_server_salt') this.salt = bad.obj.new_server_salt
    this.seq = 0
  }
}

export function gzipPacked(obj: TlObject): Buffer {
  const w = new TlWriter()
  w.int(ID_GZIP_PACKED)
  w.bytes(gzipSync(encode(obj)))
  return Buffer.from(w.finish())
}

/** encrypted_message of auth.bindTempAuthKey, built as mtcute builds it (its own v1 AES key derivation). */
export async function buildBindMessage(
  perm: AuthKeyRecord,
  tempId: bigint,
  sessionId: bigint,
  msgId: bigint,
  nonce: bigint,
  expiresAt: number,
): Promise<Buffer> {
  const inner = encode({
    _: 'bind_auth_key_inner',
    nonce,
    temp_auth_key_id: tempId,
    perm_auth_key_id: perm.id,
    temp_session_id: sessionId,
    expires_at: expiresAt,
  })
  const head = Buffer.alloc(32)
  testRandom(99)(16).copy(head, 0)
  head.writeBigInt64LE(msgId, 16)
  head.writeInt32LE(0, 24)
  head.writeInt32LE(inner.length, 28)
  const plain = Buffer.concat([head, inner])
  const msgKey = createHash('sha1').update(plain).digest().subarray(4, 20)
  const padded = Buffer.concat([plain, Buffer.alloc(8, 1)])
  const { NodeCryptoProvider } = await import('@mtcute/node/utils.js')
  const { createAesIgeForMessageOld } = await import('@mtcute/core/utils.js')
  const provider = new NodeCryptoProvider()
  await provider.initialize()
  const enc = Buffer.from(createAesIgeForMessageOld(provider, perm.key, msgKey, true).encrypt(padded))
  const idBuf = Buffer.alloc(8)
  idBuf.writeBigInt64LE(perm.id)
  return Buffer.concat([idBuf, msgKey, enc])
}
