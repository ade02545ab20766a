/**
 * One JSON record per frame: the transport's view (sender, framing, length, quick-ack flag), then
 * for an unencrypted message its handshake object, for an encrypted one auth_key_id, msg_key and
 * the decrypted header and body. Bodies are decoded in the client's layer with containers,
 * gzip_packed and rpc_result unpacked; a result is read as its query's method returns it.
 * JSON: 64-bit integers as decimal strings, bytes as hex, undecodable bodies as hex with their id.
 */
import { AuthKey, MessageCryptoError, openMessage, OUTER_HEADER_SIZE } from '../../crypto/message.js'
import { constructorOf, ContainerError, ID_GZIP_PACKED, ID_MSG_CONTAINER, ID_RPC_RESULT, parseContainer, unpackGzip } from '../../session/envelope.js'
import { decode, decodeResult, encodingLayer, registryForLayer, resultDecoders, TlError, type TlMethodName, type TlRegistry } from '../../tl/index.js'
import { parseTransportError } from '../../transport/codec.js'
import { readInt64LE } from '../../util/int64.js'
import type { FramedConnection, WireFrame } from './stream.js'

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

/** A decoded value as JSON: bigints as decimal strings, bytes as hex. */
export function toJson(v: unknown): Json {
  if (typeof v === 'bigint') return v.toString()
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')
  if (Array.isArray(v)) return v.map(toJson)
  if (v !== null && typeof v === 'object') {
    const o: { [k: string]: Json } = {}
    for (const [k, x] of Object.entries(v)) if (x !== undefined) o[k] = toJson(x)
    return o
  }
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v)
  return (v ?? null) as Json
}

const hex32 = (n: number): string => '0x' + (n >>> 0).toString(16).padStart(8, '0')

/** What an undecodable body is printed as: its constructor id, its bytes, why it failed. */
function undecoded(body: Buffer, why: string): Record<string, unknown> {
  const id = constructorOf(body)
  return { _: 'undecoded', id: id === undefined ? null : hex32(id), hex: body, error: why }
}

/** The wrappers a query may sit in: the query inside is what its rpc_result answers. */
const WRAPPERS = new Set(['invokeWithLayer', 'initConnection', 'invokeAfterMsg', 'invokeAfterMsgs', 'invokeWithoutUpdates', 'invokeWithMessagesRange', 'invokeWithTakeout'])

export interface PrinterOptions {
  /** The auth key of an auth_key_id; undefined when it is not known. */
  key(id: bigint): AuthKey | undefined
  /** Decode in this layer; default: the layer of the client's invokeWithLayer, else the newest. */
  layer?: number
}

/** Turns the frames of one connection into records, keeping what the conversation taught (layer, queries). */
export class FramePrinter {
  private layer: number | undefined
  private readonly fixedLayer: boolean
  private registry: TlRegistry
  /** msg_id → method of each query the client sent, to read its rpc_result. */
  private readonly methods = new Map<bigint, string>()
  private readonly scratch = Buffer.allocUnsafe(32)

  constructor(
    private readonly conn: Pick<FramedConnection, 'transport' | 'obfuscated'>,
    private readonly opts: PrinterOptions,
  ) {
    this.layer = opts.layer
    this.fixedLayer = opts.layer !== undefined
    this.registry = registryForLayer(encodingLayer(opts.layer))
  }

  record(w: WireFrame): Record<string, Json> {
    const r: Record<string, unknown> = { from: w.from }
    if (w.time !== undefined && Number.isFinite(w.time)) r.time = w.time
    r.transport = this.conn.transport
    r.obfuscated = this.conn.obfuscated
    if (w.frame.type === 'quickAck') {
      r.quick_ack_token = hex32(w.frame.token)
      return toJson(r) as Record<string, Json>
    }
    const payload = w.frame.payload
    r.length = payload.length
    r.quick_ack = w.frame.quickAck
    const te = parseTransportError(payload)
    if (te !== null) r.transport_error = te
    else if (payload.length < 8) r.error = `frame of ${payload.length} bytes`
    else if (readInt64LE(payload, 0) === 0n) Object.assign(r, this.unencrypted(payload))
    else Object.assign(r, this.encrypted(w.from, payload))
    return toJson(r) as Record<string, Json>
  }

  private unencrypted(payload: Buffer): Record<string, unknown> {
    const r: Record<string, unknown> = { auth_key_id: '0' }
    if (payload.length < 20) return { ...r, error: 'unencrypted message shorter than its 20-byte header' }
    const len = payload.readInt32LE(16)
    r.msg_id = readInt64LE(payload, 8)
    if (len < 0 || 20 + len > payload.length) return { ...r, error: `message_data_length ${len} past the frame's end` }
    r.body = this.body(payload.subarray(20, 20 + len), r.msg_id as bigint, 'client')
    return r
  }

  private encrypted(from: 'client' | 'server', payload: Buffer): Record<string, unknown> {
    // padded intermediate: up to 15 random bytes follow the packet
    const extra = (payload.length - OUTER_HEADER_SIZE) % 16
    const packet = extra > 0 ? payload.subarray(0, payload.length - extra) : payload
    const id = readInt64LE(packet, 0)
    const r: Record<string, unknown> = { auth_key_id: id, msg_key: packet.subarray(8, 24) }
    const key = this.opts.key(id)
    if (key === undefined) return { ...r, error: 'no key for this auth_key_id' }
    let plain: Buffer
    try {
      plain = openMessage(key, packet, from, this.scratch)
    } catch (e) {
      if (e instanceof MessageCryptoError) return { ...r, error: `${e.reason}: ${e.message}` }
      throw e
    }
    const msgId = readInt64LE(plain, 16)
    Object.assign(r, { salt: readInt64LE(plain, 0), session_id: readInt64LE(plain, 8), msg_id: msgId, seqno: plain.readInt32LE(24) })
    r.body = this.body(plain.subarray(32, 32 + plain.readInt32LE(28)), msgId, from)
    return r
  }

  /** A boxed body, unpacked: containers, gzip_packed and rpc_result by hand, the rest by the registry. */
  private body(body: Buffer, msgId: bigint, from: 'client' | 'server'): unknown {
    try {
      switch (constructorOf(body)) {
        case ID_MSG_CONTAINER:
          return {
            _: 'msg_container',
            messages: parseContainer(body, msgId).map((m) => ({ msg_id: m.msgId, seqno: m.seqNo, bytes: m.body.length, body: this.body(m.body, m.msgId, from) })),
          }
        case ID_GZIP_PACKED:
          return { _: 'gzip_packed', body: this.body(unpackGzip(body), msgId, from) }
        case ID_RPC_RESULT: {
          if (body.length < 16) return undecoded(body, 'rpc_result shorter than 16 bytes')
          const reqMsgId = readInt64LE(body, 4)
          return { _: 'rpc_result', req_msg_id: reqMsgId, result: this.result(body.subarray(12), this.methods.get(reqMsgId)) }
        }
      }
      const obj = decode(body, { registry: this.registry })
      if (from === 'client') this.noteQuery(obj, msgId)
      return obj
    } catch (e) {
      if (e instanceof TlError || e instanceof ContainerError) return undecoded(body, e.message)
      throw e
    }
  }

  private result(body: Buffer, method: string | undefined): unknown {
    if (constructorOf(body) === ID_GZIP_PACKED) return { _: 'gzip_packed', body: this.result(unpackGzip(body), method) }
    if (method === undefined || resultDecoders[method] === undefined) return this.body(body, 0n, 'server')
    try {
      return decodeResult(method as TlMethodName, body, this.registry)
    } catch (e) {
      if (e instanceof TlError) return undecoded(body, `${method} result: ${e.message}`)
      throw e
    }
  }

  /** Remembers the method a query's rpc_result will answer; takes the layer of invokeWithLayer. */
  private noteQuery(obj: { _: string }, msgId: bigint): void {
    let q = obj as { _: string; layer?: number; query?: unknown }
    while (WRAPPERS.has(q._) && q.query !== null && typeof q.query === 'object' && !(q.query instanceof Uint8Array)) {
      if (q._ === 'invokeWithLayer' && !this.fixedLayer && typeof q.layer === 'number' && q.layer !== this.layer) {
        this.layer = q.layer
        this.registry = registryForLayer(encodingLayer(q.layer))
      }
      q = q.query as typeof q
    }
    this.methods.set(msgId, q._)
  }
}
