/**
 * Hand-written protobuf codec for the hot-path stream messages of proto/mtgate_session.proto
 * (GatewayFrame, SessionFrame and what they contain). Same wire format as the .proto (a generic
 * protobuf implementation reads and writes it: test/cluster/wire.test.ts checks both directions
 * against protobufjs), but with bigint / number fields and no per-field object conversion, which the
 * generic loader spends most of a message's time on.
 */

export interface WireInbound {
  connId: string
  clientAddr: string
  authKeyId: bigint
  salt: bigint
  sessionId: bigint
  msgId: bigint
  seqNo: number
  body: Buffer
  /** ms since the epoch */
  receivedAt: number
}
export type WireGatewayItem = { data: WireInbound } | { closed: { connId: string } } | { hello: { gatewayId: string } }
export interface WireGatewayFrame {
  items: WireGatewayItem[]
}

export interface WireOutbound {
  connId: string
  authKeyId: bigint
  salt: bigint
  sessionId: bigint
  msgId: bigint
  seqNo: number
  body: Buffer
}
export type WireSessionItem = { send: WireOutbound } | { close: { connId: string; reason: string } } | { goodbye: { nodeId: string } }
export interface WireSessionFrame {
  items: WireSessionItem[]
}

export class WireError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'WireError'
  }
}

// ------------------------------------------------------------------ sizes

function varintLen(n: number): number {
  if (n < 0) return 10
  let len = 1
  while (n >= 128) {
    n = Math.floor(n / 128)
    len++
  }
  return len
}

const strLen = (s: string): number => Buffer.byteLength(s, 'utf8')
/** tag + length + bytes of a length-delimited field */
const ldLen = (n: number): number => 1 + varintLen(n) + n

function inboundLen(m: WireInbound): number {
  return ldLen(strLen(m.connId)) + ldLen(strLen(m.clientAddr)) + 4 * 9 + 1 + varintLen(m.seqNo) + ldLen(m.body.length) + 1 + varintLen(m.receivedAt)
}

function outboundLen(m: WireOutbound): number {
  return ldLen(strLen(m.connId)) + 4 * 9 + 1 + varintLen(m.seqNo) + ldLen(m.body.length)
}

// ------------------------------------------------------------------ writer

class Writer {
  pos = 0
  constructor(readonly buf: Buffer) {}

  varint(n: number): void {
    if (n < 0) {
      // int32/int64 negative: two's complement, 10 bytes
      let v = BigInt.asUintN(64, BigInt(n))
      for (let i = 0; i < 9; i++) {
        this.buf[this.pos++] = Number(v & 0x7fn) | 0x80
        v >>= 7n
      }
      this.buf[this.pos++] = Number(v)
      return
    }
    while (n >= 128) {
      this.buf[this.pos++] = (n % 128) | 0x80
      n = Math.floor(n / 128)
    }
    this.buf[this.pos++] = n
  }

  tag(field: number, wireType: number): void {
    this.buf[this.pos++] = (field << 3) | wireType
  }

  string(field: number, s: string): void {
    const n = strLen(s)
    this.tag(field, 2)
    this.varint(n)
    this.buf.write(s, this.pos, 'utf8')
    this.pos += n
  }

  bytes(field: number, b: Buffer): void {
    this.tag(field, 2)
    this.varint(b.length)
    b.copy(this.buf, this.pos)
    this.pos += b.length
  }

  sfixed64(field: number, v: bigint): void {
    this.tag(field, 1)
    this.buf.writeBigInt64LE(BigInt.asIntN(64, v), this.pos)
    this.pos += 8
  }

  int(field: number, v: number): void {
    this.tag(field, 0)
    this.varint(v)
  }

  /** Starts a length-delimited sub-message of known size. */
  sub(field: number, size: number): void {
    this.tag(field, 2)
    this.varint(size)
  }
}

function itemLenG(it: WireGatewayItem): [number, number] {
  if ('data' in it) return [1, inboundLen(it.data)]
  if ('closed' in it) return [2, ldLen(strLen(it.closed.connId))]
  return [3, ldLen(strLen(it.hello.gatewayId))]
}

export function encodeGatewayFrame(f: WireGatewayFrame): Buffer {
  const sizes = f.items.map(itemLenG)
  let total = 0
  for (const [, n] of sizes) total += ldLen(ldLen(n)) // items entry holding a message with one field
  const w = new Writer(Buffer.allocUnsafe(total))
  f.items.forEach((it, i) => {
    const [field, n] = sizes[i]!
    w.sub(1, ldLen(n)) // GatewayFrame.items
    w.sub(field, n) // the oneof member
    if ('data' in it) {
      const m = it.data
      w.string(1, m.connId)
      w.string(2, m.clientAddr)
      w.sfixed64(3, m.authKeyId)
      w.sfixed64(4, m.salt)
      w.sfixed64(5, m.sessionId)
      w.sfixed64(6, m.msgId)
      w.int(7, m.seqNo)
      w.bytes(8, m.body)
      w.int(9, m.receivedAt)
    } else if ('closed' in it) w.string(1, it.closed.connId)
    else w.string(1, it.hello.gatewayId)
  })
  if (w.pos !== total) throw new WireError(`gateway frame size mismatch ${w.pos} != ${total}`)
  return w.buf
}

function itemLenS(it: WireSessionItem): [number, number] {
  if ('send' in it) return [1, outboundLen(it.send)]
  if ('close' in it) return [2, ldLen(strLen(it.close.connId)) + ldLen(strLen(it.close.reason))]
  return [3, ldLen(strLen(it.goodbye.nodeId))]
}

export function encodeSessionFrame(f: WireSessionFrame): Buffer {
  const sizes = f.items.map(itemLenS)
  let total = 0
  for (const [, n] of sizes) total += ldLen(ldLen(n))
  const w = new Writer(Buffer.allocUnsafe(total))
  f.items.forEach((it, i) => {
    const [field, n] = sizes[i]!
    w.sub(1, ldLen(n))
    w.sub(field, n)
    if ('send' in it) {
      const m = it.send
      w.string(1, m.connId)
      w.sfixed64(2, m.authKeyId)
      w.sfixed64(3, m.salt)
      w.sfixed64(4, m.sessionId)
      w.sfixed64(5, m.msgId)
      w.int(6, m.seqNo)
      w.bytes(7, m.body)
    } else if ('close' in it) {
      w.string(1, it.close.connId)
      w.string(2, it.close.reason)
    } else w.string(1, it.goodbye.nodeId)
  })
  if (w.pos !== total) throw new WireError(`session frame size mismatch ${w.pos} != ${total}`)
  return w.buf
}

// ------------------------------------------------------------------ reader

class Reader {
  pos: number
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start
  }

  get done(): boolean {
    return this.pos >= this.end
  }

  varint(): number {
    let result = 0
    let mul = 1
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError('truncated varint')
      const b = this.buf[this.pos++]!
      if (i === 9 || (i >= 7 && mul * (b & 0x7f) > Number.MAX_SAFE_INTEGER)) {
        // beyond 2^53: only negative int32/int64 are sent that large; decode exactly
        return this.bigVarintFrom(result, i, b)
      }
      result += (b & 0x7f) * mul
      if (b < 0x80) return result
      mul *= 128
    }
    throw new WireError('varint too long')
  }

  private bigVarintFrom(low: number, i: number, b: number): number {
    let v = BigInt(low) + (BigInt(b & 0x7f) << BigInt(7 * i))
    let shift = BigInt(7 * (i + 1))
    while (b >= 0x80) {
      if (this.pos >= this.end) throw new WireError('truncated varint')
      b = this.buf[this.pos++]!
      v += BigInt(b & 0x7f) << shift
      shift += 7n
    }
    return Number(BigInt.asIntN(64, v))
  }

  sfixed64(): bigint {
    if (this.pos + 8 > this.end) throw new WireError('truncated fixed64')
    const v = this.buf.readBigInt64LE(this.pos)
    this.pos += 8
    return v
  }

  /** [start, end) of a length-delimited field. */
  span(): [number, number] {
    const n = this.varint()
    const s = this.pos
    if (s + n > this.end) throw new WireError('truncated length-delimited field')
    this.pos = s + n
    return [s, s + n]
  }

  string(): string {
    const [s, e] = this.span()
    return this.buf.toString('utf8', s, e)
  }

  bytes(): Buffer {
    const [s, e] = this.span()
    return this.buf.subarray(s, e)
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint()
    else if (wireType === 1) this.pos += 8
    else if (wireType === 2) this.span()
    else if (wireType === 5) this.pos += 4
    else throw new WireError(`unsupported wire type ${wireType}`)
    if (this.pos > this.end) throw new WireError('truncated field')
  }
}

/** Reads the fields of one message in [start, end), calling `field` for each. */
function fields(buf: Buffer, start: number, end: number, field: (r: Reader, no: number, wt: number) => boolean): void {
  const r = new Reader(buf, start, end)
  while (!r.done) {
    const key = r.varint()
    const no = Math.floor(key / 8)
    const wt = key & 7
    if (!field(r, no, wt)) r.skip(wt)
  }
}

function decodeInbound(buf: Buffer, s: number, e: number): WireInbound {
  const m: WireInbound = { connId: '', clientAddr: '', authKeyId: 0n, salt: 0n, sessionId: 0n, msgId: 0n, seqNo: 0, body: Buffer.alloc(0), receivedAt: 0 }
  fields(buf, s, e, (r, no, wt) => {
    if (no === 1 && wt === 2) m.connId = r.string()
    else if (no === 2 && wt === 2) m.clientAddr = r.string()
    else if (no === 3 && wt === 1) m.authKeyId = r.sfixed64()
    else if (no === 4 && wt === 1) m.salt = r.sfixed64()
    else if (no === 5 && wt === 1) m.sessionId = r.sfixed64()
    else if (no === 6 && wt === 1) m.msgId = r.sfixed64()
    else if (no === 7 && wt === 0) m.seqNo = r.varint() | 0
    else if (no === 8 && wt === 2) m.body = r.bytes()
    else if (no === 9 && wt === 0) m.receivedAt = r.varint()
    else return false
    return true
  })
  return m
}

function decodeOutbound(buf: Buffer, s: number, e: number): WireOutbound {
  const m: WireOutbound = { connId: '', authKeyId: 0n, salt: 0n, sessionId: 0n, msgId: 0n, seqNo: 0, body: Buffer.alloc(0) }
  fields(buf, s, e, (r, no, wt) => {
    if (no === 1 && wt === 2) m.connId = r.string()
    else if (no === 2 && wt === 1) m.authKeyId = r.sfixed64()
    else if (no === 3 && wt === 1) m.salt = r.sfixed64()
    else if (no === 4 && wt === 1) m.sessionId = r.sfixed64()
    else if (no === 5 && wt === 1) m.msgId = r.sfixed64()
    else if (no === 6 && wt === 0) m.seqNo = r.varint() | 0
    else if (no === 7 && wt === 2) m.body = r.bytes()
    else return false
    return true
  })
  return m
}

/** A message of string fields only (field number → value). */
function decodeStrings(buf: Buffer, s: number, e: number): Map<number, string> {
  const out = new Map<number, string>()
  fields(buf, s, e, (r, no, wt) => {
    if (wt !== 2) return false
    out.set(no, r.string())
    return true
  })
  return out
}

export function decodeGatewayFrame(buf: Buffer): WireGatewayFrame {
  const items: WireGatewayItem[] = []
  fields(buf, 0, buf.length, (r, no, wt) => {
    if (no !== 1 || wt !== 2) return false
    const [s, e] = r.span()
    let item: WireGatewayItem | undefined
    fields(buf, s, e, (ir, ino, iwt) => {
      if (iwt !== 2) return false
      const [ms, me] = ir.span()
      if (ino === 1) item = { data: decodeInbound(buf, ms, me) }
      else if (ino === 2) item = { closed: { connId: decodeStrings(buf, ms, me).get(1) ?? '' } }
      else if (ino === 3) item = { hello: { gatewayId: decodeStrings(buf, ms, me).get(1) ?? '' } }
      return true
    })
    if (item) items.push(item)
    return true
  })
  return { items }
}

export function decodeSessionFrame(buf: Buffer): WireSessionFrame {
  const items: WireSessionItem[] = []
  fields(buf, 0, buf.length, (r, no, wt) => {
    if (no !== 1 || wt !== 2) return false
    const [s, e] = r.span()
    let item: WireSessionItem | undefined
    fields(buf, s, e, (ir, ino, iwt) => {
      if (iwt !== 2) return false
      const [ms, me] = ir.span()
      if (ino === 1) item = { send: decodeOutbound(buf, ms, me) }
      else if (ino === 2) {
        const f = decodeStrings(buf, ms, me)
        item = { close: { connId: f.get(1) ?? '', reason: f.get(2) ?? '' } }
      } else if (ino === 3) item = { goodbye: { nodeId: decodeStrings(buf, ms, me).get(1) ?? '' } }
      return true
    })
    if (item) items.push(item)
    return true
  })
  return { items }
}
