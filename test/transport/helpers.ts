/**
 * Test helpers for the transport tests (not a test file): a seeded PRNG, chunk splitting, and a
 * minimal MTProto transport client built on our own client-side codecs.
 */
import { connect, type Socket } from 'node:net'
import { WebSocket } from 'ws'
import type { RandomSource } from '../../src/crypto/random.js'
import { codecTag, type Codec, type CodecName, type Frame } from '../../src/transport/codec.js'
import { createCodec } from '../../src/transport/create-codec.js'
import { createObfuscatedClient } from '../../src/transport/obfuscated.js'
import { appRecord, checkServerHello, clientHello, unwrapRecords } from '../helpers/fake-tls-client.js'

/** sfc32 seeded PRNG: reproducible fuzz cases and padding, fast enough for 100k+ cases. */
export class Prng {
  private a: number
  private b: number
  private c: number
  private d: number
  constructor(seed: number) {
    this.a = 0x9e3779b9
    this.b = 0x243f6a88
    this.c = 0xb7e15162
    this.d = seed >>> 0
    for (let i = 0; i < 15; i++) this.u32()
  }
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }
  int(n: number): number {
    return this.u32() % n
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n)
    let i = 0
    for (; i + 4 <= n; i += 4) b.writeUInt32LE(this.u32(), i)
    for (; i < n; i++) b[i] = this.u32() & 0xff
    return b
  }
  source(): RandomSource {
    return (n) => this.bytes(n)
  }
}

/** Splits `buf` into chunks of random sizes 1..max. */
export function splitRandom(buf: Buffer, rng: Prng, max = 64): Buffer[] {
  const out: Buffer[] = []
  let i = 0
  while (i < buf.length) {
    const n = 1 + rng.int(max)
    out.push(buf.subarray(i, i + n))
    i += n
  }
  return out
}

/** Feeds chunks to a codec and collects every frame. */
export function pushAll(codec: Codec, chunks: Buffer[]): Frame[] {
  const out: Frame[] = []
  for (const c of chunks) out.push(...codec.push(c))
  return out
}

/** A waitable queue of frames. */
class FrameQueue {
  private readonly frames: Frame[] = []
  private waiters: Array<(f: Frame) => void> = []
  closed = false
  put(f: Frame): void {
    const w = this.waiters.shift()
    if (w) w(f)
    else this.frames.push(f)
  }
  next(timeoutMs = 3000): Promise<Frame> {
    const f = this.frames.shift()
    if (f) return Promise.resolve(f)
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for a frame')), timeoutMs)
      this.waiters.push((x) => {
        clearTimeout(t)
        resolve(x)
      })
    })
  }
}

export interface ClientSpec {
  codec: CodecName
  obfuscated?: boolean
  secret?: Uint8Array
  dcId?: number
  maxFrameSize?: number
}

/** A fake-TLS client: its ee secret's key and domain, and what to send instead of a fresh hello. */
export interface TlsSpec {
  key: Uint8Array
  domain: string
  /** Unix time in the hello (default now). */
  unixTime?: number
  /** Send these bytes as the ClientHello (a replay). */
  hello?: Buffer
  /** Write the ClientHello in pieces of this many bytes, a timer turn apart. */
  helloPieces?: number
}

/** A client speaking one of our transports over TCP or WebSocket. */
export class TestClient {
  readonly frames = new FrameQueue()
  private closedP: Promise<void>
  private constructor(
    private readonly sink: { write(b: Buffer): void; close(): void },
    readonly codec: Codec,
    closedP: Promise<void>,
  ) {
    this.closedP = closedP
  }

  static header(spec: ClientSpec, rng: Prng): { header: Buffer; codec: Codec } {
    const maxFrameSize = spec.maxFrameSize ?? 4 * 1024 * 1024
    if (spec.obfuscated) {
      if (spec.codec === 'full') throw new Error('obfuscated full is not a thing')
      const c = createObfuscatedClient({ codec: spec.codec, maxFrameSize, random: rng.source(), secret: spec.secret, dcId: spec.dcId })
      return { header: c.init, codec: c.codec }
    }
    return { header: codecTag(spec.codec), codec: createCodec(spec.codec, { side: 'client', maxFrameSize, random: rng.source() }) }
  }

  static async tcp(port: number, spec: ClientSpec, rng = new Prng(1)): Promise<TestClient> {
    const { header, codec } = TestClient.header(spec, rng)
    const sock: Socket = connect(port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve)
      sock.once('error', reject)
    })
    sock.on('error', () => {})
    const closed = new Promise<void>((r) => sock.once('close', () => r()))
    const c = new TestClient({ write: (b) => sock.write(b), close: () => sock.destroy() }, codec, closed)
    sock.on('data', (d: Buffer) => c.onData(d))
    closed.then(() => (c.frames.closed = true))
    if (header.length > 0) sock.write(header)
    return c
  }

  static async ws(port: number, spec: ClientSpec, rng = new Prng(1), path = '/apiws'): Promise<TestClient> {
    const { header, codec } = TestClient.header(spec, rng)
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, 'binary')
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    ws.on('error', () => {})
    const closed = new Promise<void>((r) => ws.once('close', () => r()))
    const c = new TestClient({ write: (b) => ws.send(b), close: () => ws.terminate() }, codec, closed)
    ws.on('message', (d: Buffer) => c.onData(d))
    if (header.length > 0) ws.send(header)
    return c
  }

  /**
   * Fake-TLS over TCP (TDLib's layout): sends the ClientHello, checks the answer as TDLib does,
   * then the obfuscated2 stream (keyed by the same key) in application-data records, the first
   * preceded by ChangeCipherSpec. Rejects when the server closes before answering.
   */
  static async fakeTls(port: number, spec: Omit<ClientSpec, 'obfuscated' | 'secret'>, tls: TlsSpec, rng = new Prng(1)): Promise<TestClient & { hello: Buffer }> {
    const { header, codec } = TestClient.header({ ...spec, obfuscated: true, secret: tls.key }, rng)
    const sock: Socket = connect(port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve)
      sock.once('error', reject)
    })
    sock.on('error', () => {})
    const hello = tls.hello ?? clientHello({ key: tls.key, domain: tls.domain, unixTime: tls.unixTime ?? Math.floor(Date.now() / 1000), random: (n) => rng.bytes(n) })
    const closed = new Promise<void>((r) => sock.once('close', () => r()))
    let first = true
    const write = (b: Buffer): void => {
      sock.write(first ? Buffer.concat([Buffer.from('140303000101', 'hex'), appRecord(Buffer.concat([header, b]))]) : appRecord(b))
      first = false
    }
    const c = Object.assign(new TestClient({ write, close: () => sock.destroy() }, codec, closed), { hello })
    closed.then(() => (c.frames.closed = true))
    let buf: Buffer = Buffer.alloc(0)
    let answered = false
    await new Promise<void>((resolve, reject) => {
      closed.then(() => reject(new Error('closed before the server answered the ClientHello')))
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d])
        if (!answered) {
          const n = checkServerHello(buf, tls.key, hello)
          if (n === 0) return
          answered = true
          buf = buf.subarray(n)
          resolve()
        }
        const { payloads, rest } = unwrapRecords(buf)
        buf = rest
        for (const p of payloads) c.onData(p)
      })
      void writePieces(sock, hello, tls.helloPieces ?? hello.length)
    })
    return c
  }

  private onData(d: Buffer): void {
    for (const f of this.codec.push(d)) this.frames.put(f)
  }

  send(payload: Buffer, quickAck = false): void {
    this.sink.write(this.codec.encodePacket(payload, quickAck))
  }

  writeRaw(b: Buffer): void {
    this.sink.write(b)
  }

  async nextPacket(timeoutMs?: number): Promise<Buffer> {
    const f = await this.frames.next(timeoutMs)
    if (f.type !== 'packet') throw new Error(`expected a packet, got ${f.type}`)
    return f.payload
  }

  /** Resolves when the server closes the connection. */
  waitClosed(timeoutMs = 3000): Promise<void> {
    return Promise.race([
      this.closedP,
      new Promise<void>((_, reject) => setTimeout(() => reject(new Error('connection not closed in time')), timeoutMs).unref()),
    ])
  }

  close(): void {
    this.sink.close()
  }
}

/** Writes `b` in pieces of `n` bytes (no Nagle), a timer turn apart, so they arrive apart. */
async function writePieces(sock: Socket, b: Buffer, n: number): Promise<void> {
  sock.setNoDelay(true)
  for (let i = 0; i < b.length; i += n) {
    if (i > 0) await new Promise((r) => setTimeout(r, 1))
    sock.write(b.subarray(i, i + n))
  }
}

/** A payload of `n` bytes (multiple of 4 for the aligned framings). */
export function payload(n: number, rng: Prng): Buffer {
  return rng.bytes(n)
}
