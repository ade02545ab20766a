/**
 * The reading half of wire.ts: frames decoded with a module-level cursor (see wire.ts). The cursor's
 * primitives are exported for other hand-written decoders (rpc/upstream-wire.ts): inside
 * withReader, each reads the field at the cursor and moves it on, refusing with WireError.
 */
import { readInt64LE } from '../util/int64.js'
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
import { EMPTY, TRANSPORT_KIND, WireError, type WireGatewayFrame, type WireGatewayItem, type WireInbound, type WireOutbound, type WireSessionFrame, type WireSessionItem } from './wire.js'

// ------------------------------------------------------------------ reader (module-level cursor)

let rb: Buffer = EMPTY
let rp = 0

export function rVarint(end: number): number {
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
    if (++i === 10) throw new WireError('varint too long')
    if (rp >= end) throw new WireError('truncated varint')
    b = rb[rp++]!
    v += BigInt(b & 0x7f) << shift
    shift += 7n
  }
  return Number(BigInt.asIntN(64, v))
}

export function rFixed64(end: number): bigint {
  if (rp + 8 > end) throw new WireError('truncated fixed64')
  const v = readInt64LE(rb, rp)
  rp += 8
  return v
}

/** End of the length-delimited field at the cursor (the cursor moves to its start). */
export function rSpan(end: number): number {
  const n = rVarint(end)
  const e = rp + n
  if (e > end) throw new WireError('truncated length-delimited field')
  return e
}

export function rString(end: number): string {
  const e = rSpan(end)
  const s = rb.toString('utf8', rp, e)
  rp = e
  return s
}

export function rBytes(end: number): Buffer {
  const e = rSpan(end)
  const b = e === rp ? EMPTY : rb.subarray(rp, e)
  rp = e
  return b
}

export function rSkip(wireType: number, end: number): void {
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

/** Where the cursor is (a decoder's loop over the fields of a message ending at `end`). */
export function rPos(): number {
  return rp
}

/**
 * Runs `decode` over `buf` with the cursor set, and puts back the cursor it found: at the top level,
 * no reference to the buffer is left behind.
 */
export function withReader<T>(buf: Buffer, decode: (end: number) => T): T {
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
