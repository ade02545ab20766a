/**
 * The client side of fake-TLS for tests, laid out as TDLib's TlsInit.cpp builds its hello (the
 * non-Apple ops list, extensions in list order instead of permuted): a ClientHello with GREASE,
 * SNI, an ML-KEM-768 + x25519 key share and an ECH-looking extension, its random the HMAC of the
 * secret XOR'd with the time; the check of the server's answer TDLib makes (wait_hello_response).
 */
import { createHmac, randomBytes } from 'node:crypto'

export interface HelloSpec {
  key: Uint8Array
  /** The SNI. */
  domain: string
  /** Unix time XOR'd into the random's last 4 bytes. */
  unixTime: number
  random?: (n: number) => Buffer
}

/** A GREASE byte pair seed list like TDLib's Grease::init: 0x?A bytes, neighbours differing. */
function greases(random: (n: number) => Buffer): number[] {
  const g = [...random(7)].map((c) => (c & 0xf0) + 0x0a)
  for (let i = 1; i < g.length; i += 2) if (g[i] === g[i - 1]) g[i]! ^= 0x10
  return g
}

/** Builds bytes with nested 2-byte length scopes, as TDLib's TlsHelloStore does. */
class Builder {
  private readonly parts: Buffer[] = []
  private readonly scopes: number[] = []
  private size = 0
  add(b: Buffer | string): this {
    const buf = typeof b === 'string' ? Buffer.from(b.replace(/\s/g, ''), 'hex') : b
    this.parts.push(buf)
    this.size += buf.length
    return this
  }
  begin(): this {
    this.scopes.push(this.parts.length)
    return this.add(Buffer.alloc(2))
  }
  end(): this {
    const at = this.scopes.pop()!
    let len = 0
    for (let i = at + 1; i < this.parts.length; i++) len += this.parts[i]!.length
    this.parts[at]!.writeUInt16BE(len)
    return this
  }
  get offset(): number {
    return this.size
  }
  build(): Buffer {
    return Buffer.concat(this.parts)
  }
}

/** A ClientHello record as TDLib sends it for an ee secret. */
export function clientHello(s: HelloSpec): Buffer {
  const random = s.random ?? randomBytes
  const g = greases(random)
  const grease = (i: number): Buffer => Buffer.from([g[i]!, g[i]!])
  const b = new Builder()
  b.add('160301').begin().add('0100').begin().add('0303').add(Buffer.alloc(32)).add('20').add(random(32))
  b.add('0020').add(grease(0)).add('130113021303c02bc02fc02cc030cca9cca8c013c014009c009d002f0035').add('0100')
  b.begin().add(grease(2)).add('0000')
  b.add('0000').begin().begin().add('00').begin().add(Buffer.from(s.domain, 'latin1')).end().end().end()
  b.add('000500050100000000')
  b.add('000a000c000a').add(grease(4)).add('11ec001d00170018')
  b.add('000b00020100')
  b.add('000d0012001004030804040105030805050108060601')
  b.add('0010000e000c02683208687474702f312e31')
  b.add('00120000').add('00170000').add('001b0003020002').add('00230000')
  b.add('002b000706').add(grease(6)).add('03040303')
  b.add('002d00020101')
  b.add('003304ef04ed').add(grease(4)).add('000100').add('11ec04c0').add(random(1184 + 32)).add('001d0020').add(random(32))
  b.add('44cd00050003026832')
  b.add('fe0d').begin().add('0000010001').add(random(1)).add('0020').add(random(32)).begin().add(random(144 + 32 * (random(1)[0]! % 4))).end().end()
  b.add('ff01000100')
  b.add(grease(3)).add('000100')
  const pad = 513 - b.offset
  if (pad > 0) b.add('0015').begin().add(Buffer.alloc(pad)).end()
  b.end().end().end()
  const hello = b.build()
  const mac = createHmac('sha256', s.key).update(hello).digest()
  mac.writeUInt32LE((mac.readUInt32LE(28) ^ s.unixTime) >>> 0, 28)
  mac.copy(hello, 11)
  return hello
}

/**
 * What TDLib's wait_hello_response checks of the server's answer at the start of `buf`: a
 * handshake record, then ChangeCipherSpec + one application-data record, the handshake's random
 * (offset 11) being HMAC(key, client random + the answer with it zeroed). Returns the answer's
 * length, 0 while incomplete; throws when it is wrong.
 */
export function checkServerHello(buf: Buffer, key: Uint8Array, hello: Buffer): number {
  let p = 0
  for (const prefix of [Buffer.from('160303', 'hex'), Buffer.from('140303000101170303', 'hex')]) {
    if (buf.length < p + prefix.length + 2) return 0
    if (!buf.subarray(p, p + prefix.length).equals(prefix)) throw new Error(`server answer: ${buf.subarray(p, p + prefix.length).toString('hex')} where ${prefix.toString('hex')} belongs`)
    const len = buf.readUInt16BE(p + prefix.length)
    p += prefix.length + 2
    if (buf.length < p + len) return 0
    p += len
  }
  const answer = Buffer.from(buf.subarray(0, p))
  const got = Buffer.from(answer.subarray(11, 43))
  answer.fill(0, 11, 43)
  const want = createHmac('sha256', key).update(hello.subarray(11, 43)).update(answer).digest()
  if (!want.equals(got)) throw new Error('server answer: random is not the HMAC TDLib expects')
  return p
}

/** `payload` (at most 16384 bytes) as one application-data record. */
export function appRecord(payload: Buffer): Buffer {
  const h = Buffer.from([0x17, 3, 3, 0, 0])
  h.writeUInt16BE(payload.length, 3)
  return Buffer.concat([h, payload])
}

/** Splits application-data records; returns their payloads and the bytes of an incomplete one. */
export function unwrapRecords(buf: Buffer): { payloads: Buffer[]; rest: Buffer } {
  const payloads: Buffer[] = []
  let p = 0
  while (buf.length >= p + 5) {
    if (buf[p] !== 0x17 || buf[p + 1] !== 3 || buf[p + 2] !== 3) throw new Error(`not an application-data record: ${buf.subarray(p, p + 5).toString('hex')}`)
    const len = buf.readUInt16BE(p + 3)
    if (buf.length < p + 5 + len) break
    payloads.push(buf.subarray(p + 5, p + 5 + len))
    p += 5 + len
  }
  return { payloads, rest: buf.subarray(p) }
}
