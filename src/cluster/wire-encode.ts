/** The writing half of wire.ts: frames encoded with a module-level cursor (see wire.ts). */
import { writeInt64LE } from '../util/int64.js'
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
import { EMPTY, TRANSPORT_NUMBER, WireError, type WireGatewayFrame, type WireGatewayItem, type WireInbound, type WireOutbound, type WireSessionFrame, type WireSessionItem } from './wire.js'

// ------------------------------------------------------------------ sizes

/** Bytes of a protobuf varint: n a safe integer ≥ 0, or a negative int32 (10 bytes, sign-extended). */
export function varintLen(n: number): number {
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
