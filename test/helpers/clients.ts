/**
 * Test harness shared by the handshake, session (D) and store (E) tests: our server (TCP listener
 * + Gateway + HandshakeService) started in-process on 127.x.y.z, and helpers that drive the real
 * client libraries from npm (GramJS `telegram`, mtcute `@mtcute/node`) against it, unmodified
 * apart from the address and our RSA public key.
 */
import { createRequire } from 'node:module'
import { connect as netConnect, type Socket } from 'node:net'
import { createCodec } from '../../src/transport/create-codec.js'
import type { Codec } from '../../src/transport/codec.js'
import { codecTag } from '../../src/transport/codec.js'
import type { PlainRpc } from '../../src/handshake/client.js'
import type { RandomSource } from '../../src/crypto/random.js'
import { firstSecret } from './leading-zero.js'
import { MemoryAuthKeyStore } from '../../src/store/memory.js'
import type { AuthKeyStore } from '../../src/store/types.js'
import { TcpListener } from '../../src/transport/tcp-listener.js'
import { Gateway, type EncryptedPacket, type GatewayConnection, type GatewayOptions } from '../../src/gateway/gateway.js'
import { HandshakeService, type CreatedKey, type HandshakeServiceOptions } from '../../src/handshake/server.js'
import { RsaPrivateKey } from '../../src/handshake/rsa-key.js'
import { RsaKeySet } from '../../src/handshake/rsa-keyset.js'
import { InlineCrypto, type HandshakeCrypto } from '../../src/handshake/crypto-backend.js'
import { CryptoPool } from '../../src/handshake/crypto-pool.js'
import { authKeyId } from '../../src/handshake/kdf.js'

const require = createRequire(import.meta.url)

let sharedKey: RsaPrivateKey | undefined
/** One 2048-bit test key per process (generation costs up to a second on a busy machine). */
export function testRsaKey(): RsaPrivateKey {
  sharedKey ??= RsaPrivateKey.generate()
  return sharedKey
}

export interface TestServerOptions {
  host?: string
  port?: number
  dcId?: number
  store?: AuthKeyStore
  /** 'pool' runs the handshake crypto on worker threads (default 'inline'). */
  crypto?: 'inline' | 'pool'
  handshake?: Partial<HandshakeServiceOptions>
  /** Random source of the handshake (nonces, DH secret a; e.g. firstSecret of a leading-zero pair). */
  random?: RandomSource
  /** Wraps the handshake crypto backend (fault injection, e.g. zeroFirstKeys). */
  wrapCrypto?: (c: HandshakeCrypto) => HandshakeCrypto
  /** The gateway's logger (e.g. to read what it logs). */
  log?: GatewayOptions['log']
  /** Replaces the default encrypted-path handler (records the auth_key_id, closes unknown keys with -404). */
  onEncrypted?: GatewayOptions['onEncrypted']
}

export interface TestServer {
  host: string
  port: number
  dcId: number
  key: RsaPrivateKey
  store: AuthKeyStore
  service: HandshakeService
  gateway: Gateway
  listener: TcpListener
  /** auth_key_ids seen on encrypted packets, in order. */
  encrypted: bigint[]
  /** Keys created by dh_gen_ok, in order. */
  created: CreatedKey[]
  /** Resolves with the first encrypted auth_key_id matching `pred` (rejects after timeoutMs). */
  waitEncrypted(pred?: (id: bigint) => boolean, timeoutMs?: number): Promise<bigint>
  close(): Promise<void>
}

export async function startTestServer(o: TestServerOptions = {}): Promise<TestServer> {
  const host = o.host ?? '127.0.0.1'
  const dcId = o.dcId ?? 2
  const key = testRsaKey()
  const keys = new RsaKeySet([key])
  const store = o.store ?? new MemoryAuthKeyStore()
  const crypto: HandshakeCrypto = o.crypto === 'pool' ? new CryptoPool(keys, 2) : new InlineCrypto(keys, o.random)
  const service = new HandshakeService({ keys, crypto: o.wrapCrypto ? o.wrapCrypto(crypto) : crypto, store, dcId, ...(o.random ? { random: o.random } : {}), ...o.handshake })
  const encrypted: bigint[] = []
  const waiters: Array<{ pred: (id: bigint) => boolean; resolve: (id: bigint) => void }> = []
  const record = async (conn: GatewayConnection, p: EncryptedPacket): Promise<void> => {
    encrypted.push(p.authKeyId)
    for (const w of [...waiters]) {
      if (w.pred(p.authKeyId)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(p.authKeyId)
      }
    }
    if (!(await store.get(p.authKeyId))) conn.close('unknown_auth_key', -404)
  }
  const created: CreatedKey[] = []
  const gateway = new Gateway({ handshake: service, onEncrypted: o.onEncrypted ?? record, onKeyCreated: (_c, k) => created.push(k), log: o.log })
  const listener = new TcpListener({ host, ports: [o.port ?? 0] })
  gateway.attach(listener)
  const [port] = (await listener.listen()) as [number]
  return {
    host,
    port,
    dcId,
    key,
    store,
    service,
    gateway,
    listener,
    encrypted,
    created,
    waitEncrypted(pred = () => true, timeoutMs = 30_000) {
      const seen = encrypted.find(pred)
      if (seen !== undefined) return Promise.resolve(seen)
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no encrypted packet in time')), timeoutMs)
        waiters.push({ pred, resolve: (id) => (clearTimeout(t), resolve(id)) })
      })
    },
    async close() {
      await listener.close()
      service.close()
      await crypto.close()
    },
  }
}

/**
 * Fault injection: the first `count` auth keys come out of dhFinish with their first byte set to
 * 0, as 1 key in 256 really does. A client's random secret b cannot be chosen from outside, so
 * this is how the server's refusal (dh_gen_fail) and the real clients' recovery are exercised.
 */
export function zeroFirstKeys(inner: HandshakeCrypto, count = 1): HandshakeCrypto & { zeroed: number } {
  return {
    zeroed: 0,
    rsaDecrypt: (fp, data) => inner.rsaDecrypt(fp, data),
    dhStart: () => inner.dhStart(),
    async dhFinish(a, gB) {
      const key = await inner.dhFinish(a, gB)
      if (this.zeroed < count) {
        this.zeroed++
        key[0] = 0
      }
      return key
    },
    close: () => inner.close(),
  }
}

// ---------------------------------------------------------------------------------------------
// GramJS
// ---------------------------------------------------------------------------------------------

export type GramTransport = 'full' | 'abridged' | 'obfuscated'

/** Registers our public key in GramJS's key table (`_serverKeys` of telegram/crypto/RSA). */
export function addKeyToGramJs(key: RsaPrivateKey): void {
  const rsa = require('telegram/crypto/RSA.js') as { _serverKeys: Map<string, { n: unknown; e: number }> }
  const bigInt = require('big-integer') as (s: string) => unknown
  rsa._serverKeys.set(key.fingerprint.toString(), { n: bigInt(key.publicKey.modulus.toString()), e: 65537 })
}

/**
 * Runs GramJS's own handshake (telegram/network/Authenticator doAuthentication over its
 * MTProtoPlainSender and its Connection class) against the server; returns GramJS's auth key.
 * A failed exchange is started again on the same connection, `attempts` times in all, as
 * GramJS's MTProtoSender.connect does (connectionRetries, 5 by default).
 */
export async function gramjsHandshake(server: TestServer, transport: GramTransport, attempts = 3): Promise<{ authKey: Buffer; authKeyId: bigint; failures: number }> {
  addKeyToGramJs(server.key)
  const net = require('telegram/network/index.js') as Record<string, new (o: Record<string, unknown>) => { connect(): Promise<void>; disconnect(): Promise<void> }>
  const ext = require('telegram/extensions/index.js') as { Logger: new (level: string) => unknown; PromisedNetSockets: unknown }
  const { MTProtoPlainSender } = require('telegram/network/MTProtoPlainSender.js') as { MTProtoPlainSender: new (c: unknown, l: unknown) => unknown }
  const { doAuthentication } = require('telegram/network/Authenticator.js') as {
    doAuthentication: (s: unknown, log: unknown) => Promise<{ authKey: { getKey(): Buffer | undefined } }>
  }
  const Cls = { full: net.ConnectionTCPFull, abridged: net.ConnectionTCPAbridged, obfuscated: net.ConnectionTCPObfuscated }[transport]!
  const loggers = new ext.Logger('none')
  const conn = new Cls({ ip: server.host, port: server.port, dcId: server.dcId, loggers, proxy: undefined, socket: ext.PromisedNetSockets, testServers: false })
  await conn.connect()
  try {
    for (let failures = 0; ; failures++) {
      try {
        const sender = new MTProtoPlainSender(conn, loggers)
        const { authKey } = await doAuthentication(sender, loggers)
        const key = authKey.getKey()
        if (!key) throw new Error('GramJS returned no key')
        return { authKey: key, authKeyId: authKeyId(key), failures }
      } catch (err) {
        if (failures + 1 >= attempts) throw err
      }
    }
  } finally {
    await conn.disconnect()
  }
}

/**
 * A whole GramJS TelegramClient (StringSession, `connection` class by name) pointed at the server.
 * GramJS always dials port 80; rather than needing root for that, its connection class is
 * subclassed only to replace the port with the server's (the address is the one thing changed).
 * `connect()` is started but not awaited (it waits for the answer to invokeWithLayer, which a
 * handshake-only server never sends); `authKeyId()` reads the key GramJS saved in its session.
 */
export async function startGramJsClient(server: TestServer, transport: GramTransport, connectionRetries = 3): Promise<{ authKeyId(): bigint | undefined; close(): Promise<void> }> {
  addKeyToGramJs(server.key)
  const tg = require('telegram') as { TelegramClient: new (...a: unknown[]) => GramClient }
  const { StringSession } = require('telegram/sessions/index.js') as { StringSession: new (s: string) => GramSession }
  const net = require('telegram/network/index.js') as Record<string, unknown>
  const { LogLevel } = require('telegram/extensions/Logger.js') as { LogLevel: { NONE: string } }
  const session = new StringSession('')
  session.setDC(server.dcId, server.host, 80)
  const base = { full: net.ConnectionTCPFull, abridged: net.ConnectionTCPAbridged, obfuscated: net.ConnectionTCPObfuscated }[transport] as new (o: Record<string, unknown>) => object
  const port = server.port
  const cls = class extends base {
    constructor(o: Record<string, unknown>) {
      super({ ...o, port })
    }
  }
  const client = new tg.TelegramClient(session, 1, '00000000000000000000000000000000', { connection: cls, connectionRetries, autoReconnect: false, baseLogger: undefined })
  client.setLogLevel(LogLevel.NONE)
  client.connect().catch(() => undefined)
  return {
    authKeyId() {
      const key = session.getAuthKey()?.getKey()
      return key ? authKeyId(key) : undefined
    },
    async close() {
      await Promise.race([client.destroy().catch(() => undefined), new Promise((r) => setTimeout(r, 2000))])
    },
  }
}

interface GramSession {
  setDC(dc: number, ip: string, port: number): void
  getAuthKey(): { getKey(): Buffer | undefined } | undefined
}
interface GramClient {
  connect(): Promise<unknown>
  destroy(): Promise<void>
  setLogLevel(l: string): void
}

// ---------------------------------------------------------------------------------------------
// mtcute
// ---------------------------------------------------------------------------------------------

export interface MtcuteOptions {
  /** obfuscated2 over intermediate instead of plain intermediate. */
  obfuscated?: boolean
  /** mtcute's PFS: a temp key (p_q_inner_data_temp_dc) bound to the permanent one. */
  pfs?: boolean
  /** Register our key as "old" so mtcute uses the legacy SHA-1 RSA form. */
  legacyRsa?: boolean
  /** Its first 256-byte random draw (the DH secret b) returns this (e.g. a leading-zero pair's b). */
  firstDhSecret?: Buffer
}

export interface MtcuteHandle {
  /** Sends help.getConfig (not awaited: the test server may not answer) to trigger the handshake. */
  poke(): void
  close(): Promise<void>
}

/** Starts an mtcute TelegramClient (memory storage) pointed at the server. */
export async function startMtcute(server: TestServer, o: MtcuteOptions = {}): Promise<MtcuteHandle> {
  const node = (await import('@mtcute/node')) as unknown as Record<string, unknown>
  const core = (await import('@mtcute/core')) as unknown as Record<string, unknown>
  const utils = (await import('@mtcute/core/utils.js')) as unknown as { addPublicKey: (c: unknown, pem: string, old?: boolean) => void }
  const TcpTransport = node.TcpTransport as new () => { connect(dc: unknown): Promise<unknown>; packetCodec(): unknown }
  const ObfuscatedPacketCodec = core.ObfuscatedPacketCodec as new (inner: unknown) => unknown
  const IntermediatePacketCodec = core.IntermediatePacketCodec as new () => unknown
  const MemoryStorage = core.MemoryStorage as new () => unknown
  const TelegramClient = node.TelegramClient as new (o: Record<string, unknown>) => {
    _client?: { crypto: unknown }
    call(req: unknown): Promise<unknown>
    destroy?(): Promise<void>
    close?(): Promise<void>
  }
  const tcp = new TcpTransport()
  const transport = o.obfuscated
    ? { connect: (dc: unknown) => tcp.connect(dc), packetCodec: () => new ObfuscatedPacketCodec(new IntermediatePacketCodec()) }
    : tcp
  const dc = { id: server.dcId, ipAddress: server.host, port: server.port }
  const tg = new TelegramClient({
    apiId: 1,
    apiHash: '00000000000000000000000000000000',
    storage: new MemoryStorage(),
    defaultDcs: { main: dc, media: dc },
    transport,
    logLevel: 0,
    disableUpdates: true,
    network: { usePfs: o.pfs ?? false },
  })
  const crypto = (tg as unknown as { _client: { crypto: unknown } })._client.crypto
  utils.addPublicKey(crypto, server.key.publicKey.toPem(), o.legacyRsa ?? false)
  if (o.firstDhSecret) {
    const provider = crypto as { randomBytes(n: number): Uint8Array }
    const real = provider.randomBytes.bind(provider)
    provider.randomBytes = firstSecret(o.firstDhSecret, (n) => Buffer.from(real(n)))
  }
  return {
    poke() {
      tg.call({ _: 'help.getConfig' }).catch(() => undefined)
    },
    async close() {
      if (tg.destroy) await tg.destroy()
      else if (tg.close) await tg.close()
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Our own plain client on the project's codecs (negative tests, bench load generator)
// ---------------------------------------------------------------------------------------------

export class TransportErrorPacket extends Error {
  constructor(readonly code: number) {
    super(`transport error ${code}`)
  }
}

/**
 * A TCP client speaking unencrypted MTProto messages through our transport codecs (client side).
 * `call` wraps a body in an unencrypted message (client msg_id ≡ 0 mod 4) and resolves with the
 * answer body; a 4-byte packet is a transport error (rejects with TransportErrorPacket).
 */
export class PlainTcpClient implements PlainRpc {
  private readonly queue: Buffer[] = []
  private readonly waiting: Array<{ resolve: (b: Buffer) => void; reject: (e: Error) => void }> = []
  private ended: Error | undefined
  private lastMsgId = 0n

  private constructor(
    private readonly socket: Socket,
    private readonly codec: Codec,
  ) {
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const f of this.codec.push(chunk)) if (f.type === 'packet') this.deliver(f.payload)
      } catch (err) {
        this.fail(err as Error)
      }
    })
    socket.on('close', () => this.fail(new Error('connection closed')))
    socket.on('error', (err) => this.fail(err))
  }

  static connect(host: string, port: number, codecName: 'intermediate' | 'abridged' | 'padded' = 'intermediate'): Promise<PlainTcpClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host, port }, () => {
        socket.setNoDelay(true)
        socket.off('error', reject)
        socket.write(codecTag(codecName))
        resolve(new PlainTcpClient(socket, createCodec(codecName, { side: 'client', maxFrameSize: 1 << 20 })))
      })
      socket.once('error', reject)
    })
  }

  nextMsgId(): bigint {
    let id = (BigInt(Math.floor(Date.now() / 1000)) << 32n) | (BigInt(Math.floor(Math.random() * 2 ** 30)) << 2n)
    if (id <= this.lastMsgId) id = this.lastMsgId + 4n
    this.lastMsgId = id
    return id
  }

  /** Sends one payload as it is (already an MTProto message). */
  sendRaw(payload: Uint8Array): void {
    this.socket.write(this.codec.encodePacket(payload))
  }

  /** The next packet from the server (raw payload). */
  nextPacket(): Promise<Buffer> {
    const p = this.queue.shift()
    if (p) return Promise.resolve(p)
    if (this.ended) return Promise.reject(this.ended)
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }))
  }

  async call(body: Buffer): Promise<Buffer> {
    const msg = Buffer.alloc(20 + body.length)
    msg.writeBigInt64LE(this.nextMsgId(), 8)
    msg.writeUInt32LE(body.length, 16)
    body.copy(msg, 20)
    this.sendRaw(msg)
    const ans = await this.nextPacket()
    if (ans.length === 4) throw new TransportErrorPacket(ans.readInt32LE(0))
    if (ans.length < 20 || ans.readBigInt64LE(0) !== 0n) throw new Error('not an unencrypted answer')
    const len = ans.readUInt32LE(16)
    return ans.subarray(20, 20 + len)
  }

  close(): void {
    this.socket.destroy()
  }

  private deliver(p: Buffer): void {
    const w = this.waiting.shift()
    if (w) w.resolve(p)
    else this.queue.push(p)
  }

  private fail(err: Error): void {
    this.ended ??= err
    for (const w of this.waiting.splice(0)) w.reject(err)
  }
}
