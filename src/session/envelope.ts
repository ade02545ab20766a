/**
 * The message structures the session layer parses and builds by hand, as the spec says
 * (mtproto-service_messages.md): msg_container, message, rpc_result and gzip_packed.
 */
import { gzipSync, type ZlibOptions } from 'node:zlib'
import { TlReader, inflateGzip, ID_GZIP_PACKED, MAX_CONTAINER_MESSAGES, MT_ID, type InflateBudget } from '../tl/index.js'
import { readInt64LE, writeInt64LE } from '../util/int64.js'

export const ID_MSG_CONTAINER = MT_ID.msg_container
export const ID_RPC_RESULT = MT_ID.rpc_result
export const ID_MSG_COPY = MT_ID.msg_copy
export { ID_GZIP_PACKED }

/** Results whose serialisation is larger than this are sent gzip_packed (when that is smaller). */
export const GZIP_MIN_BYTES = 1024
/** Largest inflated body accepted from a gzip_packed when no budget is given. */
export const MAX_INFLATED_BYTES = 16 * 1024 * 1024
/** Outgoing containers are cut at this many bytes of content. */
export const CONTAINER_MAX_BYTES = 1024 * 1024

export interface Message {
  msgId: bigint
  seqNo: number
  body: Buffer
}

export class ContainerError extends Error {
  constructor(readonly reason: string) {
    super(`invalid container: ${reason}`)
    this.name = 'ContainerError'
  }
}

/** Constructor id of a boxed body, or undefined when it is shorter than 4 bytes. */
export function constructorOf(body: Buffer): number | undefined {
  return body.length >= 4 ? body.readUInt32LE(0) : undefined
}

/**
 * Splits `msg_container#73f1f8dc messages:vector<%Message>` (body includes the constructor id).
 * Checks what the spec requires of a container: bounded count, exact lengths (multiples of 4),
 * no nested containers, inner msg_ids below the container's.
 */
export function parseContainer(body: Buffer, containerMsgId: bigint): Message[] {
  if (constructorOf(body) !== ID_MSG_CONTAINER) throw new ContainerError('not a msg_container')
  if (body.length < 8) throw new ContainerError('truncated header')
  const count = body.readInt32LE(4)
  if (count < 0 || count > MAX_CONTAINER_MESSAGES) throw new ContainerError(`${count} messages`)
  const out: Message[] = []
  let o = 8
  for (let i = 0; i < count; i++) {
    if (o + 16 > body.length) throw new ContainerError(`message ${i} header truncated`)
    const msgId = readInt64LE(body, o)
    const seqNo = body.readInt32LE(o + 8)
    const len = body.readInt32LE(o + 12)
    o += 16
    if (len < 4 || len % 4 !== 0 || o + len > body.length) throw new ContainerError(`message ${i} length ${len}`)
    const inner = body.subarray(o, o + len)
    o += len
    if (msgId >= containerMsgId) throw new ContainerError(`message ${i} msg_id not below the container's`)
    const ctor = inner.readUInt32LE(0)
    if (ctor === ID_MSG_CONTAINER) throw new ContainerError(`message ${i} is a nested container`)
    out.push({ msgId, seqNo, body: inner })
  }
  if (o !== body.length) throw new ContainerError(`${body.length - o} trailing bytes`)
  return out
}

/**
 * The msg_id of the first message handled in a message `msgId` with `body`: a container's smallest
 * inner msg_id (below the container's own), else `msgId`. A malformed container counts as itself.
 */
export function firstHandledMsgId(msgId: bigint, body: Buffer): bigint {
  if (constructorOf(body) !== ID_MSG_CONTAINER) return msgId
  let first = msgId
  try {
    for (const m of parseContainer(body, msgId)) if (m.msgId < first) first = m.msgId
  } catch (e) {
    if (!(e instanceof ContainerError)) throw e
  }
  return first
}

/** Serialises a msg_container of `messages`. */
export function buildContainer(messages: readonly Message[]): Buffer {
  let size = 8
  for (const m of messages) size += 16 + m.body.length
  const out = Buffer.allocUnsafe(size)
  out.writeUInt32LE(ID_MSG_CONTAINER, 0)
  out.writeInt32LE(messages.length, 4)
  let o = 8
  for (const m of messages) {
    writeInt64LE(out, m.msgId, o)
    out.writeInt32LE(m.seqNo, o + 8)
    out.writeInt32LE(m.body.length, o + 12)
    m.body.copy(out, o + 16)
    o += 16 + m.body.length
  }
  return out
}

/** `rpc_result#f35c6d01 req_msg_id:long result:Object` around a serialised result. */
export function buildRpcResult(reqMsgId: bigint, result: Buffer): Buffer {
  // memory of its own: it waits in the session's outbox and result cache (see outbox.ts ownMemory)
  const out = Buffer.allocUnsafeSlow(12 + result.length)
  out.writeUInt32LE(ID_RPC_RESULT, 0)
  writeInt64LE(out, reqMsgId, 4)
  result.copy(out, 12)
  return out
}

/**
 * zlib options by windowBits (9..15), fitted to the input. A window as large as the input loses no
 * match (none reaches further back than the input's start). zlib's defaults (windowBits 15,
 * memLevel 8, a 16 KB output chunk) take about 280 KB of native memory per call, which V8 counts as
 * external memory: a few hundred large results then force a collection, a pause of several ms
 * every ~100 ms under load. Fitted, a 2 KB result needs about 34 KB. The output chunk is half the
 * window (a packed result is only used when smaller than the input; a longer one takes more chunks).
 */
const GZIP_OPTIONS: ZlibOptions[] = []
for (let windowBits = 9; windowBits <= 15; windowBits++) {
  GZIP_OPTIONS[windowBits] = { windowBits, memLevel: Math.max(1, windowBits - 7), chunkSize: 1 << (windowBits - 1) }
}

/** The gzip options for `length` bytes of input (see GZIP_OPTIONS). */
function gzipOptionsFor(length: number): ZlibOptions {
  return GZIP_OPTIONS[Math.min(15, Math.max(9, Math.ceil(Math.log2(length))))]!
}

/** The result, gzip_packed when larger than GZIP_MIN_BYTES and packing makes it smaller. */
export function maybeGzip(result: Buffer, minBytes = GZIP_MIN_BYTES): Buffer {
  if (result.length < minBytes || result.length < 4 || result.readUInt32LE(0) === ID_GZIP_PACKED) return result
  const packed = gzipSync(result, gzipOptionsFor(result.length))
  // gzip_packed#3072cfa1 packed_data:bytes, written in place
  if (packed.length >= 0x1000000) return result
  const head = packed.length < 254 ? 1 : 4
  const size = 4 + ((head + packed.length + 3) & ~3)
  if (size >= result.length) return result
  const out = Buffer.allocUnsafe(size)
  out.writeUInt32LE(ID_GZIP_PACKED, 0)
  if (head === 1) out[4] = packed.length
  else out.writeUInt32LE(254 | (packed.length << 8), 4)
  packed.copy(out, 4 + head)
  out.fill(0, 4 + head + packed.length)
  return out
}

/**
 * Inflates `gzip_packed#3072cfa1 packed_data:bytes` (body includes the constructor id) within
 * `budget` (a byte count, or an InflateBudget shared with the packet's other gzip_packed).
 */
export function unpackGzip(body: Buffer, budget: InflateBudget | number = MAX_INFLATED_BYTES): Buffer {
  const r = new TlReader(body, 4)
  const packed = r.bytes()
  if (r.remaining() !== 0) throw new Error(`${r.remaining()} bytes after gzip_packed`)
  return inflateGzip(packed, budget)
}
