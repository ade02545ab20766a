/**
 * Hand-written protobuf codec for the hot-path stream messages of proto/mtgate_session.proto
 * (GatewayFrame, SessionFrame and what they contain). Same wire format as the .proto (a generic
 * protobuf implementation reads and writes it: test/cluster/wire.test.ts checks both directions
 * against protobufjs), but with bigint / number fields and no per-field object conversion, which the
 * generic loader spends most of a message's time on.
 *
 * Every message of a client passes through here twice (each way), so the codec allocates only what
 * it returns: one object per item and per message, the body as a view of the frame, 64-bit fields
 * through util/int64 (no intermediate bigints), no closures or reader objects. Connection ids and
 * addresses repeat from message to message: their decoded strings are reused (StrCache) and their
 * encoded lengths measured without native calls.
 *
 * Field keys (field number << 3 | wire type) come from the generated module (const enums: the
 * compiler writes the numbers in). Every key here is one byte (field numbers below 16), as the sizes
 * count them.
 *
 * The cursors are module-level (no reader or writer objects). Each encode and decode puts back the
 * cursor it found when done, and an encode running inside another gets its own sizes table, so an
 * encode or decode started while another is under way (e.g. from a getter of the objects being
 * encoded) leaves the outer one intact.
 */
import type { InboundMessage, OutboundMessage, TransportKind } from '../session/api.js'
import { readInt64LE, writeInt64LE } from '../util/int64.js'
import {
  PbCloseConnectionTag,
  PbConnectionClosedTag,
  PbGatewayFrameTag,
  PbGatewayHelloTag,
  PbGatewayItemTag,
  PbGoodbyeTag,
  PbInboundMessageTag,
  PbOutboundMessageTag,
  PbSessionFrameTag,
  PbSessionItemTag,
} from './generated/proto.js'

/**
 * SendData's message is the session layer's InboundMessage itself: the gateway queues it as is and the
 * session node hands the decoded object on. `gatewayId` is not on the wire (the stream names the
 * gateway): ignored when encoding, '' when decoded, for the session node to fill in.
 */
export type WireInbound = InboundMessage

/** InboundMessage.transport on the wire: mtgate.upstream.v1.Transport's numbers. */
const TRANSPORT_NUMBER: Record<TransportKind, number> = { tcp: 1, ws: 2, http: 3 }
const TRANSPORT_KIND: readonly (TransportKind | undefined)[] = [undefined, 'tcp', 'ws', 'http']
export type WireGatewayItem = { data: WireInbound } | { closed: { connId: string } } | { hello: { gatewayId: string } }
export interface WireGatewayFrame {
  items: WireGatewayItem[]
}

/** An OutboundMessage and the connection it goes to. */
export interface WireOutbound extends OutboundMessage {
  connId: string
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

const EMPTY = Buffer.alloc(0)

// ------------------------------------------------------------------ sizes

function varintLen(n: number): number {
  if (n < 0) return 10
  if (n < 0x80) return 1
  if (n < 0x4000) return 2
  if (n < 0x200000) return 3
  let len = 4
  n = Math.floor(n / 0x200000)
  while (n >= 128) {
    n = Math.floor(n / 128)
    len++
  }
  return len
}

/** key + length + bytes of a length-delimited field */
const ldLen = (n: number): number => 1 + varintLen(n) + n

/** UTF-8 length of a string field: short ASCII strings (ids, addresses) are measured here, without a native call. */
function utf8Len(s: string): number {
  const n = s.length
  if (n <= 32) {
    let i = 0
    while (i < n && s.charCodeAt(i) < 0x80) i++
    if (i === n) return n
  }
  return Buffer.byteLength(s, 'utf8')
}

/** utf8Len, remembered for the last string seen in each slot (asked twice per item: size, then write). */
class StrLen {
  private s = ''
  private n = 0
  of(s: string): number {
    if (s !== this.s) {
      this.s = s
      this.n = utf8Len(s)
    }
    return this.n
  }
}
const connLen = new StrLen()
const addrLen = new StrLen()
const otherLen = new StrLen()

// ------------------------------------------------------------------ writer (module-level cursor)

let wb: Buffer = EMPTY
let wp = 0

function wVarint(n: number): void {
  if (n >= 0 && n <= 0x7fffffff) {
    // lengths, seq_no: 32-bit arithmetic (cursor in locals: module bindings are reloaded per access)
    const b = wb
    let p = wp
    while (n > 0x7f) {
      b[p++] = (n & 0x7f) | 0x80
      n >>>= 7
    }
    b[p++] = n
    wp = p
    return
  }
  if (n < 0) {
    // int32/int64 negative: two's complement, 10 bytes
    let v = BigInt.asUintN(64, BigInt(n))
    for (let i = 0; i < 9; i++) {
      wb[wp++] = Number(v & 0x7fn) | 0x80
      v >>= 7n
    }
    wb[wp++] = Number(v)
    return
  }
  // 2^31..2^53 (received_at in ms): the low 28 bits as four groups, the rest (< 2^25) as above
  const b = wb
  let p = wp
  const lo = n % 0x10000000
  let hi = (n - lo) / 0x10000000
  b[p] = (lo & 0x7f) | 0x80
  b[p + 1] = ((lo >>> 7) & 0x7f) | 0x80
  b[p + 2] = ((lo >>> 14) & 0x7f) | 0x80
  b[p + 3] = (lo >>> 21) | 0x80
  p += 4
  while (hi > 0x7f) {
    b[p++] = (hi & 0x7f) | 0x80
    hi >>>= 7
  }
  b[p++] = hi
  wp = p
}

/** A string field whose UTF-8 length `n` is known. */
function wString(tag: number, s: string, n: number): void {
  wb[wp++] = tag
  wVarint(n)
  const b = wb
  const p = wp
  if (n === s.length && n <= 32) {
    // ASCII (one byte per UTF-16 unit): short ids and addresses are copied here, without a native call
    for (let i = 0; i < n; i++) b[p + i] = s.charCodeAt(i)
  } else b.write(s, p, n, 'utf8')
  wp = p + n
}

function wBytes(tag: number, b: Buffer): void {
  wb[wp++] = tag
  wVarint(b.length)
  wb.set(b, wp)
  wp += b.length
}

function wFixed64(tag: number, v: bigint): void {
  wb[wp++] = tag
  writeInt64LE(wb, v, wp)
  wp += 8
}

function wInt(tag: number, v: number): void {
  wb[wp++] = tag
  wVarint(v)
}

/** The finished buffer, checked to be filled exactly. */
function finish(total: number, what: string): Buffer {
  if (wp !== total) throw new WireError(`${what} frame size mismatch ${wp} != ${total}`)
  return wb
}

/** Sizes of the items of the frame being encoded (reused between frames). */
let sizes: Float64Array = new Float64Array(256)
/** `sizes` while an encode holds the table: an encode nested in it allocates its own. */
const TAKEN = new Float64Array(0)

function takeSizes(n: number): Float64Array {
  let s = sizes
  if (s.length < n) s = new Float64Array(Math.max(n, s.length * 2))
  sizes = TAKEN
  return s
}

/**
 * Runs `encode` over a frame's items with a sizes table to itself, and puts back the cursor (and
 * the table) it found: at the top level, no reference to the buffer is left behind.
 */
function withWriter<I>(items: I[], encode: (items: I[], sz: Float64Array) => Buffer): Buffer {
  const outerB = wb
  const outerP = wp
  const sz = takeSizes(items.length)
  try {
    return encode(items, sz)
  } finally {
    sizes = sz
    wb = outerB
    wp = outerP
  }
}

function inboundLen(m: WireInbound): number {
  return ldLen(connLen.of(m.connId)) + ldLen(addrLen.of(m.clientAddr)) + 4 * 9 + 1 + varintLen(m.seqNo) + ldLen(m.body.length) + 1 + varintLen(m.receivedAt) + 1 + varintLen(m.dcId) + 2
}

function outboundLen(m: WireOutbound): number {
  return ldLen(connLen.of(m.connId)) + 4 * 9 + 1 + varintLen(m.seqNo) + ldLen(m.body.length)
}

export function encodeGatewayFrame(f: WireGatewayFrame): Buffer {
  return withWriter(f.items, gatewayFrame)
}

export function encodeSessionFrame(f: WireSessionFrame): Buffer {
  return withWriter(f.items, sessionFrame)
}

function gatewayFrame(items: WireGatewayItem[], sz: Float64Array): Buffer {
  let total = 0
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!
    const n = 'data' in it ? inboundLen(it.data) : 'closed' in it ? ldLen(otherLen.of(it.closed.connId)) : ldLen(otherLen.of(it.hello.gatewayId))
    sz[i] = n
    total += ldLen(ldLen(n)) // items entry holding a message with one field
  }
  wb = Buffer.allocUnsafe(total)
  wp = 0
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!
    const n = sz[i]!
    wb[wp++] = PbGatewayFrameTag.items
    wVarint(ldLen(n))
    if ('data' in it) {
      const m = it.data
      wb[wp++] = PbGatewayItemTag.data
      wVarint(n)
      wString(PbInboundMessageTag.connId, m.connId, connLen.of(m.connId))
      wString(PbInboundMessageTag.clientAddr, m.clientAddr, addrLen.of(m.clientAddr))
      wFixed64(PbInboundMessageTag.authKeyId, m.authKeyId)
      wFixed64(PbInboundMessageTag.salt, m.salt)
      wFixed64(PbInboundMessageTag.sessionId, m.sessionId)
      wFixed64(PbInboundMessageTag.msgId, m.msgId)
      wInt(PbInboundMessageTag.seqNo, m.seqNo)
      wBytes(PbInboundMessageTag.body, m.body)
      wInt(PbInboundMessageTag.receivedAt, m.receivedAt)
      wInt(PbInboundMessageTag.dcId, m.dcId)
      wInt(PbInboundMessageTag.transport, TRANSPORT_NUMBER[m.transport])
    } else if ('closed' in it) {
      wb[wp++] = PbGatewayItemTag.closed
      wVarint(n)
      wString(PbConnectionClosedTag.connId, it.closed.connId, otherLen.of(it.closed.connId))
    } else {
      wb[wp++] = PbGatewayItemTag.hello
      wVarint(n)
      wString(PbGatewayHelloTag.gatewayId, it.hello.gatewayId, otherLen.of(it.hello.gatewayId))
    }
  }
  return finish(total, 'gateway')
}

function sessionFrame(items: WireSessionItem[], sz: Float64Array): Buffer {
  let total = 0
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!
    const n =
      'send' in it
        ? outboundLen(it.send)
        : 'close' in it
          ? ldLen(otherLen.of(it.close.connId)) + ldLen(Buffer.byteLength(it.close.reason, 'utf8'))
          : ldLen(otherLen.of(it.goodbye.nodeId))
    sz[i] = n
    total += ldLen(ldLen(n))
  }
  wb = Buffer.allocUnsafe(total)
  wp = 0
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!
    const n = sz[i]!
    wb[wp++] = PbSessionFrameTag.items
    wVarint(ldLen(n))
    if ('send' in it) {
      const m = it.send
      wb[wp++] = PbSessionItemTag.send
      wVarint(n)
      wString(PbOutboundMessageTag.connId, m.connId, connLen.of(m.connId))
      wFixed64(PbOutboundMessageTag.authKeyId, m.authKeyId)
      wFixed64(PbOutboundMessageTag.salt, m.salt)
      wFixed64(PbOutboundMessageTag.sessionId, m.sessionId)
      wFixed64(PbOutboundMessageTag.msgId, m.msgId)
      wInt(PbOutboundMessageTag.seqNo, m.seqNo)
      wBytes(PbOutboundMessageTag.body, m.body)
    } else if ('close' in it) {
      wb[wp++] = PbSessionItemTag.close
      wVarint(n)
      wString(PbCloseConnectionTag.connId, it.close.connId, otherLen.of(it.close.connId))
      wString(PbCloseConnectionTag.reason, it.close.reason, Buffer.byteLength(it.close.reason, 'utf8'))
    } else {
      wb[wp++] = PbSessionItemTag.goodbye
      wVarint(n)
      wString(PbGoodbyeTag.nodeId, it.goodbye.nodeId, otherLen.of(it.goodbye.nodeId))
    }
  }
  return finish(total, 'session')
}

// ------------------------------------------------------------------ reader (module-level cursor)

let rb: Buffer = EMPTY
let rp = 0

function rVarint(end: number): number {
  if (rp >= end) throw new WireError('truncated varint')
  const b0 = rb[rp++]!
  if (b0 < 0x80) return b0
  let result = b0 & 0x7f
  let mul = 128
  for (let i = 1; i < 10; i++) {
    if (rp >= end) throw new WireError('truncated varint')
    const b = rb[rp++]!
    if (i === 9 || (i >= 7 && mul * (b & 0x7f) > Number.MAX_SAFE_INTEGER)) {
      // beyond 2^53: only negative int32/int64 are sent that large; decode exactly
      return bigVarintFrom(result, i, b, end)
    }
    result += (b & 0x7f) * mul
    if (b < 0x80) return result
    mul *= 128
  }
  throw new WireError('varint too long')
}

function bigVarintFrom(low: number, i: number, b: number, end: number): number {
  let v = BigInt(low) + (BigInt(b & 0x7f) << BigInt(7 * i))
  let shift = BigInt(7 * (i + 1))
  while (b >= 0x80) {
    if (rp >= end) throw new WireError('truncated varint')
    b = rb[rp++]!
    v += BigInt(b & 0x7f) << shift
    shift += 7n
  }
  return Number(BigInt.asIntN(64, v))
}

function rFixed64(end: number): bigint {
  if (rp + 8 > end) throw new WireError('truncated fixed64')
  const v = readInt64LE(rb, rp)
  rp += 8
  return v
}

/** End of the length-delimited field at the cursor (the cursor moves to its start). */
function rSpan(end: number): number {
  const n = rVarint(end)
  const e = rp + n
  if (e > end) throw new WireError('truncated length-delimited field')
  return e
}

function rString(end: number): string {
  const e = rSpan(end)
  const s = rb.toString('utf8', rp, e)
  rp = e
  return s
}

function rBytes(end: number): Buffer {
  const e = rSpan(end)
  const b = e === rp ? EMPTY : rb.subarray(rp, e)
  rp = e
  return b
}

function rSkip(wireType: number, end: number): void {
  if (wireType === 0) rVarint(end)
  else if (wireType === 1) rp += 8
  else if (wireType === 2) rp = rSpan(end)
  else if (wireType === 5) rp += 4
  else throw new WireError(`unsupported wire type ${wireType}`)
  if (rp > end) throw new WireError('truncated field')
}

/**
 * Strings decoded recently, by their bytes: a small table indexed by a hash of the bytes, each slot
 * holding the bytes and the string. A gateway's connection ids and addresses repeat from message to
 * message, so they are decoded once and the same string object comes back each time (its hash is
 * then computed once for the maps it is looked up in). Strings longer than SLOT_BYTES are decoded
 * every time.
 */
const SLOTS = 512
const SLOT_BYTES = 48
class StrCache {
  private readonly bytes = Buffer.alloc(SLOTS * SLOT_BYTES)
  private readonly lens = new Int32Array(SLOTS).fill(-1)
  private readonly strs: string[] = new Array<string>(SLOTS).fill('')
  read(end: number): string {
    const e = rSpan(end)
    const start = rp
    const n = e - start
    rp = e
    if (n > SLOT_BYTES) return rb.toString('utf8', start, e)
    const b = rb
    let h = 0x811c9dc5
    for (let i = start; i < e; i++) h = Math.imul(h ^ b[i]!, 0x01000193)
    const slot = (h ^ (h >>> 15)) & (SLOTS - 1)
    const bytes = this.bytes
    const at = slot * SLOT_BYTES
    if (this.lens[slot] === n) {
      let i = 0
      while (i < n && bytes[at + i] === b[start + i]) i++
      if (i === n) return this.strs[slot]!
    }
    const str = b.toString('utf8', start, e)
    for (let i = 0; i < n; i++) bytes[at + i] = b[start + i]!
    this.lens[slot] = n
    this.strs[slot] = str
    return str
  }
}
const connCache = new StrCache()
const addrCache = new StrCache()

function decodeInbound(end: number): WireInbound {
  const m: WireInbound = { gatewayId: '', connId: '', clientAddr: '', dcId: 0, transport: 'tcp', authKeyId: 0n, salt: 0n, sessionId: 0n, msgId: 0n, seqNo: 0, body: EMPTY, receivedAt: 0 }
  while (rp < end) {
    const key = rVarint(end)
    switch (key) {
      case PbInboundMessageTag.connId:
        m.connId = connCache.read(end)
        break
      case PbInboundMessageTag.clientAddr:
        m.clientAddr = addrCache.read(end)
        break
      case PbInboundMessageTag.authKeyId:
        m.authKeyId = rFixed64(end)
        break
      case PbInboundMessageTag.salt:
        m.salt = rFixed64(end)
        break
      case PbInboundMessageTag.sessionId:
        m.sessionId = rFixed64(end)
        break
      case PbInboundMessageTag.msgId:
        m.msgId = rFixed64(end)
        break
      case PbInboundMessageTag.seqNo:
        m.seqNo = rVarint(end) | 0
        break
      case PbInboundMessageTag.body:
        m.body = rBytes(end)
        break
      case PbInboundMessageTag.receivedAt:
        m.receivedAt = rVarint(end)
        break
      case PbInboundMessageTag.dcId:
        m.dcId = rVarint(end) | 0
        break
      case PbInboundMessageTag.transport:
        m.transport = TRANSPORT_KIND[rVarint(end)] ?? 'tcp'
        break
      default:
        rSkip(key & 7, end)
    }
  }
  return m
}

function decodeOutbound(end: number): WireOutbound {
  const m: WireOutbound = { connId: '', authKeyId: 0n, salt: 0n, sessionId: 0n, msgId: 0n, seqNo: 0, body: EMPTY }
  while (rp < end) {
    const key = rVarint(end)
    switch (key) {
      case PbOutboundMessageTag.connId:
        m.connId = connCache.read(end)
        break
      case PbOutboundMessageTag.authKeyId:
        m.authKeyId = rFixed64(end)
        break
      case PbOutboundMessageTag.salt:
        m.salt = rFixed64(end)
        break
      case PbOutboundMessageTag.sessionId:
        m.sessionId = rFixed64(end)
        break
      case PbOutboundMessageTag.msgId:
        m.msgId = rFixed64(end)
        break
      case PbOutboundMessageTag.seqNo:
        m.seqNo = rVarint(end) | 0
        break
      case PbOutboundMessageTag.body:
        m.body = rBytes(end)
        break
      default:
        rSkip(key & 7, end)
    }
  }
  return m
}

/** The string field with key `tag` of a message (other fields skipped). */
function decodeString(end: number, tag: number): string {
  let s = ''
  while (rp < end) {
    const key = rVarint(end)
    if (key === tag) s = rString(end)
    else rSkip(key & 7, end)
  }
  return s
}

function decodeCloseConnection(end: number): { connId: string; reason: string } {
  let connId = ''
  let reason = ''
  while (rp < end) {
    const key = rVarint(end)
    if (key === PbCloseConnectionTag.connId) connId = rString(end)
    else if (key === PbCloseConnectionTag.reason) reason = rString(end)
    else rSkip(key & 7, end)
  }
  return { connId, reason }
}

/**
 * Runs `decode` over `buf` with the cursor set, and puts back the cursor it found: at the top level,
 * no reference to the buffer is left behind.
 */
function withReader<T>(buf: Buffer, decode: (end: number) => T): T {
  const outerB = rb
  const outerP = rp
  rb = buf
  rp = 0
  try {
    return decode(buf.length)
  } finally {
    rb = outerB
    rp = outerP
  }
}

function gatewayItem(end: number): WireGatewayItem | undefined {
  let item: WireGatewayItem | undefined
  while (rp < end) {
    const key = rVarint(end)
    if ((key & 7) !== 2) {
      rSkip(key & 7, end)
      continue
    }
    const e = rSpan(end)
    if (key === PbGatewayItemTag.data) item = { data: decodeInbound(e) }
    else if (key === PbGatewayItemTag.closed) item = { closed: { connId: decodeString(e, PbConnectionClosedTag.connId) } }
    else if (key === PbGatewayItemTag.hello) item = { hello: { gatewayId: decodeString(e, PbGatewayHelloTag.gatewayId) } }
    rp = e
  }
  return item
}

function sessionItem(end: number): WireSessionItem | undefined {
  let item: WireSessionItem | undefined
  while (rp < end) {
    const key = rVarint(end)
    if ((key & 7) !== 2) {
      rSkip(key & 7, end)
      continue
    }
    const e = rSpan(end)
    if (key === PbSessionItemTag.send) item = { send: decodeOutbound(e) }
    else if (key === PbSessionItemTag.close) item = { close: decodeCloseConnection(e) }
    else if (key === PbSessionItemTag.goodbye) item = { goodbye: { nodeId: decodeString(e, PbGoodbyeTag.nodeId) } }
    rp = e
  }
  return item
}

/** The items (key `tag`) of a frame, each decoded by `item`. */
function frameItems<I>(end: number, tag: number, item: (end: number) => I | undefined): I[] {
  const items: I[] = []
  while (rp < end) {
    const key = rVarint(end)
    if (key !== tag) {
      rSkip(key & 7, end)
      continue
    }
    const e = rSpan(end)
    const it = item(e)
    if (it !== undefined) items.push(it)
    rp = e
  }
  return items
}

const gatewayItems = (end: number): WireGatewayItem[] => frameItems(end, PbGatewayFrameTag.items, gatewayItem)
const sessionItems = (end: number): WireSessionItem[] => frameItems(end, PbSessionFrameTag.items, sessionItem)

export function decodeGatewayFrame(buf: Buffer): WireGatewayFrame {
  return { items: withReader(buf, gatewayItems) }
}

export function decodeSessionFrame(buf: Buffer): WireSessionFrame {
  return { items: withReader(buf, sessionItems) }
}
