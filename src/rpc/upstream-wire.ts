/**
 * The upstream wire written and read by hand (proto/mtgate_upstream.proto), as grpc-js's
 * serializer and deserializer of Upstream.Invoke and InvokeStream on mtgate's side.
 *
 * InvokeRequest: the request mtgate builds keeps its 64-bit ids as bigints and goes into one buffer
 * of its exact size, where protobufjs would first turn every id into a decimal string, then into a
 * Long, then walk a list of writer operations. Fields at their proto3 default are left out, as
 * proto3 encoders do.
 * InvokeReply: read in one pass into a plain object (bigint user id, numeric call id, the result a
 * view of the message), where protobufjs decodes into a message object, then converts it (Longs,
 * defaults) into another, with the cluster codec's cursor (cluster/wire-decode.ts). Unknown fields
 * are skipped, the last member of the oneof wins, as in every protobuf decoder.
 */
import { PbClientInfoTag, PbInvokeReplyTag, PbInvokeRequestTag, PbRpcErrorTag, type PbClientInfo, type PbInvokeRequest, type PbRpcError, type PbTransport } from '../cluster/generated/proto.js'
import { rBytes, rFixed64, rPos, rSkip, rSpan, rString, rVarint, withReader } from '../cluster/wire-decode.js'
import { varintLen } from '../cluster/wire-encode.js'
import { writeInt64LE } from '../util/int64.js'

/** A 64-bit field: a bigint, or the decimal string of a decoded message (PbInvokeRequest). */
type Int64In = bigint | string

/** An InvokeRequest to encode: PbInvokeRequest, with bigints (or numbers) where it has decimal strings. */
export interface InvokeRequestIn extends Omit<PbInvokeRequest, 'authKeyId' | 'permAuthKeyId' | 'sessionId' | 'msgId' | 'userId' | 'deadlineMs' | 'callId'> {
  authKeyId: Int64In
  permAuthKeyId: Int64In
  sessionId: Int64In
  msgId: Int64In
  userId: Int64In
  deadlineMs: number | string
  callId: number | string
}

const TRANSPORT_NUMBER: Record<PbTransport, number> = { TRANSPORT_UNSPECIFIED: 0, TRANSPORT_TCP: 1, TRANSPORT_WEBSOCKET: 2, TRANSPORT_HTTP: 3 }

const int64 = (v: Int64In): bigint => (typeof v === 'bigint' ? v : BigInt(v))
const uint = (v: number | string): number => (typeof v === 'number' ? v : Number(v))

/** Bytes of a string or bytes field with its key (keys of fields 1..15 are one byte, 16..2047 two). */
const ldLen = (tag: number, n: number): number => varintLen(tag) + varintLen(n) + n

const EMPTY = Buffer.alloc(0)
let buf: Buffer = EMPTY
let pos = 0

function varint(n: number): void {
  if (n < 0) {
    // a negative int32, as protobuf writes it: the 64-bit two's complement, 10 bytes
    let lo = n | 0
    for (let i = 0; i < 4; i++) {
      buf[pos++] = (lo & 0x7f) | 0x80
      lo >>= 7
    }
    buf[pos++] = (lo & 0x0f) | 0x70 | 0x80
    for (let i = 0; i < 4; i++) buf[pos++] = 0xff
    buf[pos++] = 0x01
    return
  }
  while (n >= 128) {
    buf[pos++] = (n % 128) | 0x80
    n = Math.floor(n / 128)
  }
  buf[pos++] = n
}

function fixed64(tag: number, v: bigint): void {
  if (v === 0n) return
  buf[pos++] = tag
  writeInt64LE(buf, v, pos)
  pos += 8
}

function uintField(tag: number, n: number): void {
  if (n === 0) return
  varint(tag)
  varint(n)
}

function stringField(tag: number, s: string, len: number): void {
  if (len === 0) return
  varint(tag)
  varint(len)
  pos += buf.write(s, pos, len, 'utf8')
}

const clientStrings = (c: PbClientInfo): string[] => [c.deviceModel, c.systemVersion, c.appVersion, c.systemLangCode, c.langPack, c.langCode]

const CLIENT_STRING_TAGS = [
  PbClientInfoTag.deviceModel,
  PbClientInfoTag.systemVersion,
  PbClientInfoTag.appVersion,
  PbClientInfoTag.systemLangCode,
  PbClientInfoTag.langPack,
  PbClientInfoTag.langCode,
] as const

/** Bytes of ClientInfo `c` (without its key and length); each string's length goes into `lens`. */
function clientLen(c: PbClientInfo, strings: string[], lens: number[]): number {
  let n = c.apiId === 0 ? 0 : 1 + varintLen(c.apiId)
  for (let i = 0; i < strings.length; i++) {
    const len = Buffer.byteLength(strings[i]!, 'utf8')
    lens[i] = len
    if (len > 0) n += 1 + varintLen(len) + len
  }
  return n
}

/** The protobuf bytes of `r`. */
export function encodeInvokeRequest(r: InvokeRequestIn): Buffer {
  const strings = r.client === null ? [] : clientStrings(r.client)
  const clientLens: number[] = []
  const clientSize = r.client === null ? -1 : clientLen(r.client, strings, clientLens)
  const ipLen = Buffer.byteLength(r.clientIp, 'utf8')
  const methodLen = Buffer.byteLength(r.method, 'utf8')
  const gatewayLen = Buffer.byteLength(r.gatewayId, 'utf8')
  const traceparentLen = Buffer.byteLength(r.traceparent, 'utf8')
  const tracestateLen = Buffer.byteLength(r.tracestate, 'utf8')
  const deadline = uint(r.deadlineMs)
  const callId = uint(r.callId)
  const transport = TRANSPORT_NUMBER[r.transport]
  const ids = [int64(r.authKeyId), int64(r.permAuthKeyId), int64(r.sessionId), int64(r.msgId), int64(r.userId)]
  let size = 0
  for (const id of ids) if (id !== 0n) size += 9
  if (r.layer !== 0) size += 1 + varintLen(r.layer)
  if (clientSize >= 0) size += ldLen(PbInvokeRequestTag.client, clientSize)
  if (ipLen > 0) size += ldLen(PbInvokeRequestTag.clientIp, ipLen)
  if (r.clientPort !== 0) size += 1 + varintLen(r.clientPort)
  if (r.dcId !== 0) size += 1 + varintLen(r.dcId)
  if (deadline !== 0) size += 1 + varintLen(deadline)
  if (methodLen > 0) size += ldLen(PbInvokeRequestTag.method, methodLen)
  if (r.constructorId !== 0) size += 5
  if (r.query.length > 0) size += ldLen(PbInvokeRequestTag.query, r.query.length)
  if (r.withoutUpdates) size += 2
  if (transport !== 0) size += 2 + varintLen(transport)
  if (gatewayLen > 0) size += ldLen(PbInvokeRequestTag.gatewayId, gatewayLen)
  if (callId !== 0) size += 2 + varintLen(callId)
  if (traceparentLen > 0) size += ldLen(PbInvokeRequestTag.traceparent, traceparentLen)
  if (tracestateLen > 0) size += ldLen(PbInvokeRequestTag.tracestate, tracestateLen)

  buf = Buffer.allocUnsafe(size)
  pos = 0
  fixed64(PbInvokeRequestTag.authKeyId, ids[0]!)
  fixed64(PbInvokeRequestTag.permAuthKeyId, ids[1]!)
  fixed64(PbInvokeRequestTag.sessionId, ids[2]!)
  fixed64(PbInvokeRequestTag.msgId, ids[3]!)
  fixed64(PbInvokeRequestTag.userId, ids[4]!)
  uintField(PbInvokeRequestTag.layer, r.layer)
  if (r.client !== null) {
    const c = r.client
    varint(PbInvokeRequestTag.client)
    varint(clientSize)
    uintField(PbClientInfoTag.apiId, c.apiId)
    for (let i = 0; i < strings.length; i++) stringField(CLIENT_STRING_TAGS[i]!, strings[i]!, clientLens[i]!)
  }
  stringField(PbInvokeRequestTag.clientIp, r.clientIp, ipLen)
  uintField(PbInvokeRequestTag.clientPort, r.clientPort)
  uintField(PbInvokeRequestTag.dcId, r.dcId)
  uintField(PbInvokeRequestTag.deadlineMs, deadline)
  stringField(PbInvokeRequestTag.method, r.method, methodLen)
  if (r.constructorId !== 0) {
    buf[pos++] = PbInvokeRequestTag.constructorId
    pos = buf.writeUInt32LE(r.constructorId >>> 0, pos)
  }
  if (r.query.length > 0) {
    varint(PbInvokeRequestTag.query)
    varint(r.query.length)
    pos += r.query.copy(buf, pos)
  }
  if (r.withoutUpdates) {
    buf[pos++] = PbInvokeRequestTag.withoutUpdates
    buf[pos++] = 1
  }
  uintField(PbInvokeRequestTag.transport, transport)
  stringField(PbInvokeRequestTag.gatewayId, r.gatewayId, gatewayLen)
  uintField(PbInvokeRequestTag.callId, callId)
  stringField(PbInvokeRequestTag.traceparent, r.traceparent, traceparentLen)
  stringField(PbInvokeRequestTag.tracestate, r.tracestate, tracestateLen)
  const out = buf
  buf = EMPTY
  if (pos !== size) throw new Error(`InvokeRequest: wrote ${pos} bytes of ${size}`)
  return out
}

/** InvokeReply as decodeInvokeReply reads it (PbInvokeReply with a bigint user id and a numeric call id). */
export type InvokeReplyIn = {
  bindUserId: bigint
  unbindUser: boolean
  closeConnection: boolean
  destroyAuthKey: boolean
  deferred: boolean
  callId: number
} & (
  | { outcome: 'result'; result: Buffer; rpcError?: undefined }
  | { outcome: 'rpcError'; rpcError: PbRpcError; result?: undefined }
  | { outcome?: undefined; result?: undefined; rpcError?: undefined }
)

function rRpcError(end: number): PbRpcError {
  const e = { code: 0, message: '' }
  while (rPos() < end) {
    const key = rVarint(end)
    if (key === PbRpcErrorTag.code) e.code = rVarint(end) | 0 // int32: its low 32 bits
    else if (key === PbRpcErrorTag.message) e.message = rString(end)
    else rSkip(key & 7, end)
  }
  return e
}

/** The InvokeReply in `b`; throws WireError. */
export function decodeInvokeReply(b: Buffer): InvokeReplyIn {
  return withReader(b, (end) => {
    const r = { bindUserId: 0n, unbindUser: false, closeConnection: false, destroyAuthKey: false, deferred: false, callId: 0 } as InvokeReplyIn
    while (rPos() < end) {
      const key = rVarint(end)
      switch (key) {
        case PbInvokeReplyTag.result:
          Object.assign(r, { outcome: 'result', result: rBytes(end), rpcError: undefined })
          break
        case PbInvokeReplyTag.rpcError:
          Object.assign(r, { outcome: 'rpcError', rpcError: rRpcError(rSpan(end)), result: undefined })
          break
        case PbInvokeReplyTag.bindUserId:
          r.bindUserId = rFixed64(end)
          break
        case PbInvokeReplyTag.unbindUser:
          r.unbindUser = rVarint(end) !== 0
          break
        case PbInvokeReplyTag.closeConnection:
          r.closeConnection = rVarint(end) !== 0
          break
        case PbInvokeReplyTag.destroyAuthKey:
          r.destroyAuthKey = rVarint(end) !== 0
          break
        case PbInvokeReplyTag.deferred:
          r.deferred = rVarint(end) !== 0
          break
        case PbInvokeReplyTag.callId:
          r.callId = rVarint(end)
          break
        default:
          rSkip(key & 7, end)
      }
    }
    return r
  })
}
