/**
 * Test harness shared by the handshake, session (D) and store (E) tests: our server (TCP listener
 * + Gateway + HandshakeService) started in-process on 127.x.y.z, for the real client libraries
 * (test/helpers/gramjs.ts, test/helpers/mtcute.ts) and our own plain client below.
 */
import { connect as netConnect, type Socket } from 'node:net'
import { createCodec } from '../../src/transport/create-codec.js'
import type { Codec } from '../../src/transport/codec.js'
import { codecTag } from '../../src/transport/codec.js'
import type { PlainRpc } from '../../src/handshake/client.js'
import type { RandomSource } from '../../src/crypto/random.js'
import { MemoryAuthKeyStore } from '../../src/store/memory.js'
import type { AuthKeyStore } from '../../src/store/types.js'
import { TcpListener } from '../../src/transport/tcp-listener.js'
import { Gateway, type EncryptedPacket, type GatewayConnection, type GatewayOptions } from '../../src/gateway/gateway.js'
import { HandshakeService, type CreatedKey, type HandshakeServiceOptions } from '../../src/handshake/server.js'
import { RsaPrivateKey } from '../../src/handshake/rsa-key.js'
import { RsaKeySet } from '../../src/handshake/rsa-keyset.js'
import { InlineCrypto, type HandshakeCrypto } from '../../src/handshake/crypto-backend.js'
import { CryptoPool } from '../../src/handshake/crypto-pool.js'

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
  const service = new HandshakeService({ keys, crypto: o.wrapCrypto ? o.wrapCrypto(crypto) : crypto, store, dcIds: [dcId], ...(o.random ? { random: o.random } : {}), ...o.handshake })
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
 * Fault injection: the first `count` server-side auth keys come out of dhFinish with their first
 * byte set to 0 (to 1 when it is 0 already: 1 key in 256), so the server's key differs from the
 * client's: the client gets a dh_gen_ok whose
 * new_nonce_hash1 it cannot verify, as a client that drops a real key's zero byte does. For
 * clients whose DH secret cannot be injected (TDLib; see leading-zero.ts for the others).
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
        key[0] = key[0] === 0 ? 1 : 0
      }
      return key
    },
    close: () => inner.close(),
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
  /** Bytes written (framed). */
  bytes = 0

  private constructor(
    private readonly socket: Socket,
    private readonly codec: Codec,
  ) {
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const f of this.codec.push(chunk)) if (f.type === 'packet') this.deliver(f.payload)
      } catch (err) {
        this.fail(err as Error)
        socket.destroy()
      }
    })
    socket.on('close', () => this.fail(new Error('connection closed')))
    socket.on('error', (err) => this.fail(err))
  }

  /**
   * Connects (from `localAddress` when given) and sends the framing's tag, after `proxyHeader` (a
   * PROXY protocol header) when given; rejects after `timeoutMs`.
   */
  static connect(
    host: string,
    port: number,
    codecName: 'intermediate' | 'abridged' | 'padded' = 'intermediate',
    o: { localAddress?: string; timeoutMs?: number; proxyHeader?: Buffer } = {},
  ): Promise<PlainTcpClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host, port, localAddress: o.localAddress }, () => {
        clearTimeout(timer)
        socket.setNoDelay(true)
        socket.off('error', reject)
        socket.write(o.proxyHeader === undefined ? codecTag(codecName) : Buffer.concat([o.proxyHeader, codecTag(codecName)]))
        resolve(new PlainTcpClient(socket, createCodec(codecName, { side: 'client', maxFrameSize: 1 << 20 })))
      })
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new Error('connect timeout'))
      }, o.timeoutMs ?? 5000)
      socket.once('error', (e) => {
        clearTimeout(timer)
        reject(e)
      })
    })
  }

  /** The connection ended (closed by either side, or failed). */
  get closed(): boolean {
    return this.ended !== undefined
  }

  nextMsgId(): bigint {
    let id = (BigInt(Math.floor(Date.now() / 1000)) << 32n) | (BigInt(Math.floor(Math.random() * 2 ** 30)) << 2n)
    if (id <= this.lastMsgId) id = this.lastMsgId + 4n
    this.lastMsgId = id
    return id
  }

  /** Sends one payload as it is (already an MTProto message). */
  sendRaw(payload: Uint8Array): void {
    const framed = this.codec.encodePacket(payload)
    this.bytes += framed.length
    this.socket.write(framed)
  }

  /** Sends `body` in an unencrypted message, answer not awaited. */
  send(body: Buffer): void {
    const msg = Buffer.alloc(20 + body.length)
    msg.writeBigInt64LE(this.nextMsgId(), 8)
    msg.writeUInt32LE(body.length, 16)
    body.copy(msg, 20)
    this.sendRaw(msg)
  }

  /** The next packet from the server (raw payload); rejects after `timeoutMs` when given. */
  nextPacket(timeoutMs?: number): Promise<Buffer> {
    const p = this.queue.shift()
    if (p) return Promise.resolve(p)
    if (this.ended) return Promise.reject(this.ended)
    return new Promise((resolve, reject) => {
      const w: { resolve: (b: Buffer) => void; reject: (e: Error) => void } = { resolve, reject }
      this.waiting.push(w)
      if (timeoutMs === undefined) return
      const t = setTimeout(() => {
        const i = this.waiting.indexOf(w)
        if (i >= 0) this.waiting.splice(i, 1)
        reject(new Error(`no answer within ${timeoutMs} ms`))
      }, timeoutMs)
      w.resolve = (b: Buffer) => {
        clearTimeout(t)
        resolve(b)
      }
      w.reject = (e: Error) => {
        clearTimeout(t)
        reject(e)
      }
    })
  }

  async call(body: Buffer, timeoutMs?: number): Promise<Buffer> {
    this.send(body)
    const ans = await this.nextPacket(timeoutMs)
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
