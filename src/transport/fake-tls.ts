/**
 * Fake-TLS, the MTProxy transport of `ee` secrets (Telegram's MTProxy net-tcp-rpc-ext-server.c,
 * mtg's faketls, TDLib's TlsInit / TlsReaderByteFlow):
 * 1. The client sends a TLS 1.3-looking ClientHello record whose `random` (32 bytes at offset 11)
 *    is HMAC-SHA256(secret, the whole record with random zeroed) with its last 4 bytes XOR'd with
 *    the client's unix time (little-endian). Its SNI must be the secret's domain.
 * 2. The server answers ServerHello + ChangeCipherSpec + one application-data record of noise, the
 *    ServerHello's random being HMAC-SHA256(secret, client random + the whole answer with that
 *    random zeroed).
 * 3. Then both directions are TLS application-data records (0x17 0x03 0x03, 2-byte length), the
 *    client's first one preceded by a ChangeCipherSpec record; their payloads are the ordinary
 *    obfuscated2 stream keyed by the same secret. FakeTlsSocket unwraps and wraps those records
 *    under a Connection, which sees a plain byte stream.
 */
import { createHmac, generateKeyPairSync, randomInt } from 'node:crypto'
import { constantTimeEqual } from '../crypto/hash.js'
import { ByteSocketProtocolError, type ByteSocket, type ByteSocketHandlers } from './byte-socket.js'

const HANDSHAKE = 0x16
const CHANGE_CIPHER_SPEC = 0x14
const APPLICATION_DATA = 0x17
/** Offset of the ClientHello / ServerHello random in its record. */
export const RANDOM_OFFSET = 11
const RANDOM_LENGTH = 32
/** Largest record payload either side writes (TLS's 2^14). */
export const MAX_RECORD_PAYLOAD = 16384
/** Largest record accepted from a client (a TLS 1.3 ciphertext may be 256 bytes over 2^14). */
const MAX_RECORD_IN = MAX_RECORD_PAYLOAD + 256

/** Whether the first bytes are a TLS handshake record (16 03 01); 'more' until 3 bytes are in. */
export function startsLikeClientHello(head: Buffer): boolean | 'more' {
  if (head.length >= 1 && head[0] !== HANDSHAKE) return false
  if (head.length >= 2 && head[1] !== 0x03) return false
  if (head.length >= 3) return head[2] === 0x01
  return 'more'
}

/** The ee secrets a ClientHello is checked against: their keys and domains, and their index in the configured list. */
export interface TlsSecret {
  key: Uint8Array
  domain: string
  index: number
}

export interface HelloCheckOptions {
  secrets: readonly TlsSecret[]
  nowMs: number
  /** Accepted difference between the client's timestamp and now, ms. */
  maxSkewMs: number
}

export type HelloCheck =
  | { kind: 'more' }
  | { kind: 'reject'; reason: string; why: 'malformed' | 'bad_digest' | 'sni' | 'clock' }
  | { kind: 'ok'; length: number; secret: TlsSecret; clientRandom: Buffer; sessionId: Buffer; cipherSuite: number; timestamp: number }

/** Reads big-endian fields of `b` from `pos` up to `end`; throws RangeError on overrun. */
class Reader {
  constructor(
    private readonly b: Buffer,
    public pos: number,
    private readonly end: number,
  ) {}
  u8(): number {
    this.need(1)
    return this.b[this.pos++]!
  }
  u16(): number {
    this.need(2)
    const v = this.b.readUInt16BE(this.pos)
    this.pos += 2
    return v
  }
  bytes(n: number): Buffer {
    this.need(n)
    const v = this.b.subarray(this.pos, this.pos + n)
    this.pos += n
    return v
  }
  get left(): number {
    return this.end - this.pos
  }
  private need(n: number): void {
    if (this.pos + n > this.end) throw new RangeError('truncated')
  }
}

const isGrease = (v: number): boolean => (v & 0x0f0f) === 0x0a0a

/** Fields of a ClientHello record `r` (its whole bytes); throws RangeError when malformed. */
function parseHello(r: Buffer): { sessionId: Buffer; cipherSuite: number; sni: string[] } {
  const rd = new Reader(r, 5, r.length)
  if (rd.u8() !== 0x01) throw new RangeError('not a ClientHello')
  const len = (rd.u8() << 16) | rd.u16()
  if (len !== r.length - 9) throw new RangeError(`handshake length ${len} does not fill the record`)
  rd.u16() // client_version
  rd.bytes(RANDOM_LENGTH)
  const sessionId = rd.bytes(rd.u8())
  const suitesLen = rd.u16()
  const suitesStart = rd.pos
  rd.bytes(suitesLen)
  let cipherSuite = 0
  for (const s = new Reader(r, suitesStart, suitesStart + suitesLen); s.left >= 2; ) {
    const cs = s.u16()
    if (!isGrease(cs)) {
      cipherSuite = cs
      break
    }
  }
  if (cipherSuite === 0) throw new RangeError('no cipher suite')
  rd.bytes(rd.u8()) // compression methods
  const extLen = rd.u16()
  if (extLen !== rd.left) throw new RangeError('extensions do not fill the hello')
  const sni: string[] = []
  while (rd.left > 0) {
    const type = rd.u16()
    const data = rd.bytes(rd.u16())
    if (type !== 0) continue
    const list = new Reader(data, 0, data.length)
    const listEnd = list.u16() + 2
    if (listEnd !== data.length) throw new RangeError('bad server_name list length')
    while (list.left > 0) {
      const nameType = list.u8()
      const name = list.bytes(list.u16())
      if (nameType === 0) sni.push(name.toString('latin1'))
    }
  }
  return { sessionId: Buffer.from(sessionId), cipherSuite, sni }
}

/**
 * Checks the ClientHello record at the start of `head` (which starts with 16 03 01): waits for the
 * whole record, finds the ee secret whose HMAC it carries, its SNI and timestamp.
 */
export function checkClientHello(head: Buffer, o: HelloCheckOptions): HelloCheck {
  if (head.length < 5) return { kind: 'more' }
  const bodyLen = head.readUInt16BE(3)
  if (bodyLen > MAX_RECORD_PAYLOAD || bodyLen < 4 + 2 + RANDOM_LENGTH + 1) return { kind: 'reject', why: 'malformed', reason: `ClientHello record of ${bodyLen} bytes` }
  if (head.length < 5 + bodyLen) return { kind: 'more' }
  const record = Buffer.from(head.subarray(0, 5 + bodyLen))
  let fields: ReturnType<typeof parseHello>
  try {
    fields = parseHello(record)
  } catch (e) {
    return { kind: 'reject', why: 'malformed', reason: `malformed ClientHello: ${(e as Error).message}` }
  }
  const clientRandom = Buffer.from(record.subarray(RANDOM_OFFSET, RANDOM_OFFSET + RANDOM_LENGTH))
  record.fill(0, RANDOM_OFFSET, RANDOM_OFFSET + RANDOM_LENGTH)
  const zero = Buffer.alloc(RANDOM_LENGTH - 4)
  for (const secret of o.secrets) {
    const mac = createHmac('sha256', secret.key).update(record).digest()
    for (let i = 0; i < RANDOM_LENGTH; i++) mac[i]! ^= clientRandom[i]!
    if (!constantTimeEqual(mac.subarray(0, RANDOM_LENGTH - 4), zero)) continue
    if (!fields.sni.includes(secret.domain)) {
      return { kind: 'reject', why: 'sni', reason: `SNI ${JSON.stringify(fields.sni.join(','))} is not the secret's domain ${secret.domain}` }
    }
    const timestamp = mac.readUInt32LE(RANDOM_LENGTH - 4)
    const skewS = timestamp - Math.floor(o.nowMs / 1000)
    if (Math.abs(skewS) * 1000 > o.maxSkewMs) {
      return { kind: 'reject', why: 'clock', reason: `ClientHello timestamp ${timestamp} is ${skewS} s from now (at most ±${o.maxSkewMs / 1000} s)` }
    }
    return { kind: 'ok', length: 5 + bodyLen, secret, clientRandom, sessionId: fields.sessionId, cipherSuite: fields.cipherSuite, timestamp }
  }
  return { kind: 'reject', why: 'bad_digest', reason: 'ClientHello random keyed by no ee secret' }
}

/** The fixed tail of the ServerHello: no compression, supported_versions TLS 1.3, an x25519 key_share header. */
const SERVER_HELLO_TAIL = Buffer.from('00' + '002e' + '002b00020304' + '00330024001d0020', 'hex')

/** A random x25519 public key, as a real server's key_share holds. */
function x25519Public(): Buffer {
  const der = generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' })
  return der.subarray(der.length - 32)
}

/**
 * The answer to a checked ClientHello: ServerHello (the client's session id and cipher suite) +
 * ChangeCipherSpec + one application-data record of `noiseBytes` random bytes (default 2500–4700,
 * like a certificate chain), with the HMAC the client verifies in the ServerHello random.
 */
export function serverHello(hello: { secret: { key: Uint8Array }; clientRandom: Buffer; sessionId: Buffer; cipherSuite: number }, random: (n: number) => Uint8Array, noiseBytes = randomInt(2500, 4700)): Buffer {
  const sid = hello.sessionId
  const bodyLen = 2 + RANDOM_LENGTH + 1 + sid.length + 2 + SERVER_HELLO_TAIL.length + 32
  const out = Buffer.alloc(5 + 4 + bodyLen + 6 + 5 + noiseBytes)
  let p = 0
  p = out.writeUInt8(HANDSHAKE, p)
  p = out.writeUInt16BE(0x0303, p)
  p = out.writeUInt16BE(4 + bodyLen, p)
  p = out.writeUInt32BE((0x02 << 24) | bodyLen, p)
  p = out.writeUInt16BE(0x0303, p)
  p += RANDOM_LENGTH
  p = out.writeUInt8(sid.length, p)
  p += sid.copy(out, p)
  p = out.writeUInt16BE(hello.cipherSuite, p)
  p += SERVER_HELLO_TAIL.copy(out, p)
  p += x25519Public().copy(out, p)
  p += Buffer.from([CHANGE_CIPHER_SPEC, 3, 3, 0, 1, 1]).copy(out, p)
  p = out.writeUInt8(APPLICATION_DATA, p)
  p = out.writeUInt16BE(0x0303, p)
  p = out.writeUInt16BE(noiseBytes, p)
  Buffer.from(random(noiseBytes)).copy(out, p)
  const mac = createHmac('sha256', hello.secret.key).update(hello.clientRandom).update(out).digest()
  mac.copy(out, RANDOM_OFFSET)
  return out
}

/** `data` as application-data records of at most MAX_RECORD_PAYLOAD bytes each. */
export function wrapRecords(data: Buffer): Buffer {
  const n = Math.max(1, Math.ceil(data.length / MAX_RECORD_PAYLOAD))
  const out = Buffer.allocUnsafe(data.length + 5 * n)
  let p = 0
  for (let i = 0; i < data.length || p === 0; i += MAX_RECORD_PAYLOAD) {
    const part = data.subarray(i, i + MAX_RECORD_PAYLOAD)
    out[p] = APPLICATION_DATA
    out.writeUInt16BE(0x0303, p + 1)
    out.writeUInt16BE(part.length, p + 3)
    p += 5 + part.copy(out, p + 5)
  }
  return out
}

/**
 * The byte stream inside a fake-TLS connection, after the hello exchange: the payloads of the
 * client's application-data records (one ChangeCipherSpec record is allowed before the first),
 * and everything written wrapped in application-data records. Anything else from the client is a
 * carrier protocol error (the socket is destroyed).
 */
export class FakeTlsSocket implements ByteSocket, ByteSocketHandlers {
  private handlers: ByteSocketHandlers | undefined
  /** Received bytes not yet unwrapped (an incomplete record), joined once `need` bytes are in. */
  private parts: Buffer[] = []
  private size = 0
  private need = 5
  private sawData = false
  private failed = false

  constructor(private readonly inner: ByteSocket) {
    inner.setHandlers(this)
  }

  get kind(): ByteSocket['kind'] {
    return this.inner.kind
  }
  get remoteAddress(): string {
    return this.inner.remoteAddress
  }
  set remoteAddress(v: string) {
    this.inner.remoteAddress = v
  }
  get remotePort(): number {
    return this.inner.remotePort
  }
  set remotePort(v: number) {
    this.inner.remotePort = v
  }
  get localPort(): number {
    return this.inner.localPort
  }
  get pendingWriteBytes(): number {
    return this.inner.pendingWriteBytes
  }

  setHandlers(h: ByteSocketHandlers): void {
    this.handlers = h
  }

  write(data: Buffer): void {
    this.inner.write(wrapRecords(data))
  }
  pause(): void {
    this.inner.pause()
  }
  resume(): void {
    this.inner.resume()
  }
  end(): void {
    this.inner.end()
  }
  destroy(): void {
    this.inner.destroy()
  }

  /** Also fed the bytes that followed the ClientHello in its chunk. */
  onSocketData(chunk: Buffer): void {
    if (this.failed) return
    this.parts.push(chunk)
    this.size += chunk.length
    if (this.size < this.need) return
    let b = this.parts.length === 1 ? chunk : Buffer.concat(this.parts)
    const payloads: Buffer[] = []
    this.need = 5
    while (b.length >= 5) {
      const type = b[0]!
      const len = b.readUInt16BE(3)
      if (b[1] !== 3 || b[2] !== 3 || len > MAX_RECORD_IN || len === 0) return this.fail(`bad TLS record header ${b.subarray(0, 5).toString('hex')}`)
      if (b.length < 5 + len) {
        this.need = 5 + len
        break
      }
      if (type === APPLICATION_DATA) {
        payloads.push(b.subarray(5, 5 + len))
        this.sawData = true
      } else if (type !== CHANGE_CIPHER_SPEC || this.sawData || len !== 1 || b[5] !== 1) {
        return this.fail(`unexpected TLS record type 0x${type.toString(16)}`)
      }
      b = b.subarray(5 + len)
    }
    this.parts = b.length === 0 ? [] : [b]
    this.size = b.length
    if (payloads.length > 0) this.handlers?.onSocketData(payloads.length === 1 ? payloads[0]! : Buffer.concat(payloads))
  }

  private fail(reason: string): void {
    this.failed = true
    this.handlers?.onSocketError(new ByteSocketProtocolError(`fake-TLS: ${reason}`))
    this.inner.destroy()
  }

  onSocketDrain(): void {
    this.handlers?.onSocketDrain()
  }
  onSocketClose(): void {
    this.handlers?.onSocketClose()
  }
  onSocketError(err: Error): void {
    this.handlers?.onSocketError(err)
  }
}
