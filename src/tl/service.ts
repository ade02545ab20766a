/**
 * Service structures parsed manually, as mtproto-service_messages says: `message`, `msg_container`,
 * `rpc_result` and `gzip_packed` (they carry `Object` bodies whose length TL alone cannot tell).
 */
import { gzipSync } from 'node:zlib'
import { MAX_CONTAINER_MESSAGES, MAX_GZIP_OUTPUT, TlError, hex32 } from './runtime/errors.js'
import { ID_GZIP_PACKED, TlReader, inflateGzip } from './runtime/reader.js'
import { TlWriter } from './runtime/writer.js'
import { getDefaultRegistry, type TlAnyObject, type TlRegistry } from './runtime/registry.js'

export const ID_MSG_CONTAINER = 0x73f1f8dc
export const ID_RPC_RESULT = 0xf35c6d01
export const ID_MSG_COPY = 0xe06046b2

/** `message msg_id:long seqno:int bytes:int body:Object` — `bytes` is `body.length`. */
export interface TlMessage {
  msg_id: bigint
  seqno: number
  /** Serialised body (a view into the input when decoded). */
  body: Buffer
}

export interface TlRpcResult<R = TlAnyObject | Buffer> {
  req_msg_id: bigint
  result: R
}

/** Constructor id at the start of a serialised body (TlError if shorter than 4 bytes). */
export function peekId(body: Uint8Array): number {
  if (body.length < 4) throw new TlError('TRUNCATED', `body of ${body.length} bytes`, 0, 'constructor id')
  return (body[0]! | (body[1]! << 8) | (body[2]! << 16) | (body[3]! << 24)) >>> 0
}

/** Reads one bare `message` (msg_id, seqno, bytes, body). */
export function readMessage(r: TlReader): TlMessage {
  const msg_id = r.long()
  const seqno = r.int()
  const at = r.offset
  const len = r.int()
  if (len < 0 || len % 4 !== 0) throw new TlError('BAD_VALUE', `message length ${len}`, at, 'a non-negative multiple of 4')
  if (len > r.remaining()) throw r.truncated(`message body of ${len} bytes`, at)
  return { msg_id, seqno, body: r.raw(len) }
}

export function writeMessage(w: TlWriter, m: TlMessage): void {
  w.long(m.msg_id)
  w.int(m.seqno)
  w.int(m.body.length)
  w.raw(m.body)
}

/**
 * Decodes `msg_container#73f1f8dc messages:vector<message>` (body including the id). Rejects more
 * than {@link MAX_CONTAINER_MESSAGES} messages, nested containers and trailing bytes.
 */
export function decodeMsgContainer(body: Uint8Array): TlMessage[] {
  const r = new TlReader(body, 0, getDefaultRegistry())
  const id = r.uint()
  if (id !== ID_MSG_CONTAINER) throw new TlError('UNEXPECTED_CONSTRUCTOR', `got ${hex32(id)}`, 0, 'msg_container#73f1f8dc')
  const at = r.offset
  const n = r.int()
  if (n < 0 || n > MAX_CONTAINER_MESSAGES) throw new TlError('LIMIT', `container of ${n} messages`, at, `0..${MAX_CONTAINER_MESSAGES} messages`)
  if (n * 16 > r.remaining()) throw r.truncated(`${n} messages`, at)
  const out: TlMessage[] = new Array(n)
  for (let i = 0; i < n; i++) {
    const start = r.offset
    const m = readMessage(r)
    if (m.body.length >= 4 && peekId(m.body) === ID_MSG_CONTAINER) {
      throw new TlError('BAD_VALUE', 'container inside a container', start, 'a message that is not a container')
    }
    out[i] = m
  }
  if (r.remaining() !== 0) throw new TlError('TRAILING', `${r.remaining()} bytes after the container`, r.offset, 'end of container')
  return out
}

export function encodeMsgContainer(messages: readonly TlMessage[]): Buffer {
  if (messages.length > MAX_CONTAINER_MESSAGES) {
    throw new TlError('ENCODE', `container of ${messages.length} messages`, 0, `<= ${MAX_CONTAINER_MESSAGES} messages`)
  }
  let size = 8
  for (const m of messages) size += 16 + m.body.length
  const w = new TlWriter(getDefaultRegistry(), size)
  w.int(ID_MSG_CONTAINER)
  w.int(messages.length)
  for (const m of messages) writeMessage(w, m)
  return w.finish()
}

/**
 * Decodes `rpc_result#f35c6d01 req_msg_id:long result:Object` (body including the id). With
 * `raw` the result is the remaining bytes untouched (still gzipped if it was); otherwise it is decoded
 * through the registry, gzip_packed inflated transparently.
 */
export function decodeRpcResult(body: Uint8Array, opts?: { raw?: boolean; registry?: TlRegistry }): TlRpcResult {
  const r = new TlReader(body, 0, opts?.registry ?? getDefaultRegistry())
  const id = r.uint()
  if (id !== ID_RPC_RESULT) throw new TlError('UNEXPECTED_CONSTRUCTOR', `got ${hex32(id)}`, 0, 'rpc_result#f35c6d01')
  const req_msg_id = r.long()
  if (opts?.raw) {
    if (r.remaining() < 4) throw r.truncated('rpc_result body')
    return { req_msg_id, result: r.raw(r.remaining()) }
  }
  const result = r.object()
  if (r.remaining() !== 0) throw new TlError('TRAILING', `${r.remaining()} bytes after rpc_result`, r.offset, 'end of rpc_result')
  return { req_msg_id, result }
}

export interface EncodeRpcResultOptions {
  registry?: TlRegistry
  /** gzip the result when its serialisation is at least this many bytes (default: never). */
  gzipAbove?: number
}

/** Encodes `rpc_result` around an object (serialised with the registry) or already-serialised bytes. */
export function encodeRpcResult(req_msg_id: bigint, result: TlAnyObject | Uint8Array, opts?: EncodeRpcResultOptions): Buffer {
  const reg = opts?.registry ?? getDefaultRegistry()
  let inner: Uint8Array
  if (result instanceof Uint8Array) {
    inner = result
  } else {
    const iw = new TlWriter(reg)
    iw.object(result)
    inner = iw.finish()
  }
  const w = new TlWriter(reg, inner.length + 16)
  w.int(ID_RPC_RESULT)
  w.long(req_msg_id)
  if (opts?.gzipAbove !== undefined && inner.length >= opts.gzipAbove) w.gzipPacked(inner)
  else w.raw(inner)
  return w.finish()
}

/** `gzip_packed#3072cfa1 packed_data:bytes` around serialised bytes. */
export function encodeGzipPacked(serialised: Uint8Array): Buffer {
  const packed = gzipSync(serialised)
  const w = new TlWriter(getDefaultRegistry(), packed.length + 16)
  w.int(ID_GZIP_PACKED)
  w.bytes(packed)
  return w.finish()
}

/** Inflates a `gzip_packed` body (id included) to the serialised object, at most `maxOutput` bytes. */
export function decodeGzipPacked(body: Uint8Array, maxOutput = MAX_GZIP_OUTPUT): Buffer {
  const r = new TlReader(body, 0, getDefaultRegistry())
  const id = r.uint()
  if (id !== ID_GZIP_PACKED) throw new TlError('UNEXPECTED_CONSTRUCTOR', `got ${hex32(id)}`, 0, 'gzip_packed#3072cfa1')
  const packed = r.bytes()
  if (r.remaining() !== 0) throw new TlError('TRAILING', `${r.remaining()} bytes after gzip_packed`, r.offset, 'end of gzip_packed')
  try {
    return inflateGzip(packed, maxOutput)
  } catch (e) {
    if (e instanceof TlError) throw new TlError(e.code, e.message, 0, e.expected)
    throw new TlError('BAD_VALUE', `gzip_packed does not inflate: ${(e as Error).message}`, 0, 'gzip data')
  }
}

/** The serialised object inside `body`: inflated if it is gzip_packed, else `body` itself. */
export function unwrapGzip(body: Uint8Array, maxOutput = MAX_GZIP_OUTPUT): Buffer {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  return b.length >= 4 && peekId(b) === ID_GZIP_PACKED ? decodeGzipPacked(b, maxOutput) : b
}
