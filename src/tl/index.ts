/**
 * The TL layer: schema-generated types and codecs, the runtime reader/writer, the registry of
 * constructors (several layers at once) and the manually parsed service structures.
 */
import { defaultRegistry, registryForLayer } from './layers.js'
import { MAX_MESSAGE_SIZE, TlError } from './runtime/errors.js'
import { TlReader, type TlReaderOptions } from './runtime/reader.js'
import type { TlAnyObject, TlRegistry } from './runtime/registry.js'
import { TlWriter } from './runtime/writer.js'
import type { TlObject } from './generated/schema.js'

export * from './runtime/errors.js'
export { TlReader, inflateGzip, ID_VECTOR, ID_BOOL_TRUE, ID_BOOL_FALSE, ID_GZIP_PACKED } from './runtime/reader.js'
export type { TlReaderOptions } from './runtime/reader.js'
export { TlWriter } from './runtime/writer.js'
export { TlRegistry, type TlAnyObject, type TlDecoder, type TlEncoder, type TlCodecEntry } from './runtime/registry.js'
export { DEFAULT_LAYER, SUPPORTED_LAYERS, defaultRegistry, registryForLayer } from './layers.js'
export * from './service.js'
export type {
  TlObject,
  TlObjectByName,
  TlTypeByName,
  TlMethodResult,
  TlMethodName,
} from './generated/schema.js'
export { resultDecoders, resultEncoders } from './generated/schema.js'

let pooled: TlWriter | undefined
let pooledBusy = false

/**
 * Boxed serialisation of `obj` in `layer` (default: the default registry's layer). A Buffer inside
 * an `!X` field is written as-is. Throws TlError (code ENCODE) for an object that cannot be written.
 */
export function encode(obj: TlObject | TlAnyObject, layer?: number | TlRegistry): Buffer {
  const reg = layer === undefined ? defaultRegistry : typeof layer === 'number' ? registryForLayer(layer) : layer
  let w: TlWriter
  const usePool = reg === defaultRegistry && !pooledBusy
  if (usePool) {
    w = pooled ??= new TlWriter(defaultRegistry, 64 * 1024)
    w.reset()
    pooledBusy = true
  } else {
    w = new TlWriter(reg)
  }
  try {
    w.object(obj)
    const out = w.finish()
    return usePool ? Buffer.from(out) : out
  } catch (e) {
    if (e instanceof TlError) throw e
    throw new TlError('ENCODE', `cannot encode ${obj._}: ${(e as Error).message}`, w.pos, 'a well-formed object')
  } finally {
    if (usePool) {
      pooledBusy = false
      // Do not pin a huge buffer after one large message.
      if (w.buf.length > 1024 * 1024) pooled = undefined
    }
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
