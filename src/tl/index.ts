/**
 * The TL layer: schema-generated types and codecs, the runtime reader/writer and the registry of
 * constructors (several layers at once).
 */
import { resultTypeOf } from './convert.js'
import { defaultRegistry, registryForLayer } from './layers.js'
import type { TlEntry } from './parser/parse.js'
import { layerSchema, NEWEST_LAYER } from './schemas.js'
import { skimObject } from './skim.js'
import { MAX_MESSAGE_SIZE, TlError } from './runtime/errors.js'
import { TlReader, type TlReaderOptions } from './runtime/reader.js'
import type { TlAnyObject, TlRegistry } from './runtime/registry.js'
import { TlWriter } from './runtime/writer.js'
import type { TlObject, TlMethodName, TlMethodResult } from './generated/schema.js'
import { resultDecoders, resultEncoders } from './generated/schema.js'

export * from './runtime/errors.js'
export { TlReader, inflateGzip, type InflateBudget, ID_VECTOR, ID_BOOL_TRUE, ID_BOOL_FALSE, ID_GZIP_PACKED } from './runtime/reader.js'
export type { TlReaderOptions } from './runtime/reader.js'
export { TlWriter } from './runtime/writer.js'
export { TlDecoders, TlRegistry, type TlAnyObject, type TlDecoder, type TlEncoder, type TlCodecEntry } from './runtime/registry.js'
export { NEWEST_LAYER, OLDEST_LAYER, VENDORED_LAYERS, defaultRegistry, encodingLayer, registryForLayer, servedLayer } from './layers.js'
export { DROP, FALLBACKS, converter, fromLayer, resultTypeOf, toLayer } from './convert.js'
export { layerSchema } from './schemas.js'
export type {
  TlObject,
  TlObjectByName,
  TlTypeByName,
  TlMethodResult,
  TlMethodName,
} from './generated/schema.js'
export { resultDecoders, resultEncoders } from './generated/schema.js'
export { API_ID, API_LAYER, MT_ID } from './generated/ids.js'

/** One reusable writer per registry (layer); output is copied out, so callers own their Buffer. */
const pool = new Map<TlRegistry, TlWriter>()
const POOL_MAX_BUFFER = 1024 * 1024

/**
 * Boxed serialisation of `obj` in `layer` (default: the default registry's layer). A Buffer inside
 * an `!X` field is written as-is. Throws TlError (code ENCODE) for an object that cannot be written.
 */
export function encode(obj: TlObject | TlAnyObject, layer?: number | TlRegistry): Buffer {
  const reg = layer === undefined ? defaultRegistry : typeof layer === 'number' ? registryForLayer(layer) : layer
  let w = pool.get(reg)
  if (w === undefined) w = new TlWriter(reg, 64 * 1024)
  else pool.delete(reg) // taken: a re-entrant call gets its own writer
  w.reset()
  try {
    w.object(obj)
    return Buffer.from(w.finish())
  } catch (e) {
    if (e instanceof TlError) throw e
    throw new TlError('ENCODE', `cannot encode ${obj._}: ${(e as Error).message}`, w.pos, 'a well-formed object')
  } finally {
    // Do not pin a huge buffer after one large message.
    if (w.buf.length <= POOL_MAX_BUFFER) pool.set(reg, w)
  }
}

/** Decodes one boxed object that must span the whole buffer. */
export function decode(buf: Uint8Array, options?: TlReaderOptions & { registry?: TlRegistry }): TlObject {
  if (buf.length > MAX_MESSAGE_SIZE) throw new TlError('LIMIT', `input of ${buf.length} bytes`, 0, `<= ${MAX_MESSAGE_SIZE} bytes`)
  const r = new TlReader(buf, 0, options?.registry ?? defaultRegistry, options)
  const v = r.object()
  if (r.offset !== r.end) throw new TlError('TRAILING', `${r.end - r.offset} bytes after the object`, r.offset, 'end of input')
  return v as TlObject
}

/**
 * Serialises the result of `method` (what goes inside rpc_result): a boxed object for most methods,
 * a boxed vector / Bool / primitive where the schema says so (e.g. `users.getUsers` → Vector<User>).
 */
export function encodeResult<M extends TlMethodName>(method: M, value: TlMethodResult[M], layer?: number | TlRegistry): Buffer {
  const enc = resultEncoders[method] as ((w: TlWriter, v: unknown) => void) | undefined
  if (enc === undefined) return encode(value as unknown as TlAnyObject, layer)
  const reg = layer === undefined ? defaultRegistry : typeof layer === 'number' ? registryForLayer(layer) : layer
  const w = new TlWriter(reg, 256)
  try {
    enc(w, value)
  } catch (e) {
    if (e instanceof TlError) throw e
    throw new TlError('ENCODE', `cannot encode result of ${method}: ${(e as Error).message}`, w.pos, 'a well-formed result')
  }
  return w.finish()
}

/** Decodes the result of `method` (the whole buffer; gzip_packed inflated where an object is read). */
export function decodeResult<M extends TlMethodName>(method: M, buf: Uint8Array, registry?: TlRegistry): TlMethodResult[M] {
  return readResult(method, buf, registry)
}

/**
 * The result of `method` in `buf`, if it is one in the newest layer: what decodeResult reads, and a
 * boxed object of the method's result type; else a TlError.
 */
export function checkResult<M extends TlMethodName>(method: M, buf: Uint8Array): TlMethodResult[M] {
  const v: unknown = readResult(method, buf)
  if (resultDecoders[method] === undefined) {
    const name = (v as { _: string })._
    checkType(method, layerSchema(NEWEST_LAYER).byName.get(name), name)
  }
  return v as TlMethodResult[M]
}

/**
 * What checkResult checks, for bytes that are passed on as they are: an object result is stepped
 * over without being built (skim.ts); a vector, Bool or primitive result is decoded.
 */
export function checkResultBytes(method: TlMethodName, buf: Uint8Array): void {
  if (resultDecoders[method] !== undefined) {
    readResult(method, buf)
    return
  }
  const e = skimObject(buf)
  checkType(method, e, e.name)
}

/** Constructor `name` (its newest-layer definition `e`, if any) not of the result type of `method` → TlError BAD_VALUE. */
function checkType(method: TlMethodName, e: TlEntry | undefined, name: string): void {
  const type = resultTypeOf(method)
  if (type === undefined || (e !== undefined && e.kind === 'constructor' && e.result === type)) return
  throw new TlError('BAD_VALUE', `${name} is not a ${type}${e === undefined ? ' (not in the newest layer)' : ''}`, 0, `a ${type}`)
}

function readResult<M extends TlMethodName>(method: M, buf: Uint8Array, registry?: TlRegistry): TlMethodResult[M] {
  const dec = resultDecoders[method]
  if (dec === undefined) return decode(buf, { registry }) as TlMethodResult[M]
  const r = new TlReader(buf, 0, registry ?? defaultRegistry)
  const v = dec(r)
  if (r.offset !== r.end) throw new TlError('TRAILING', `${r.end - r.offset} bytes after the result`, r.offset, 'end of input')
  return v as TlMethodResult[M]
}
