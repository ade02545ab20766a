import type { TlReader } from './reader.js'
import type { TlWriter } from './writer.js'

/** Any TL object: a constructor or method value discriminated by its schema name in `_`. */
export interface TlAnyObject {
  readonly _: string
}

/** Reads the body of one constructor (the id has already been consumed). */
export type TlDecoder = (r: TlReader) => TlAnyObject
/** Writes the body of one constructor (the caller writes the id). */
export type TlEncoder = (w: TlWriter, o: TlAnyObject) => void

export interface TlEncoderEntry {
  readonly id: number
  readonly fn: TlEncoder
}

/** One constructor or method as a generated module describes it. */
export interface TlCodecEntry {
  readonly id: number
  readonly name: string
  readonly decode: TlDecoder
  readonly encode: TlEncoder
}

/**
 * Constructor registry: id → decoder (the union of every loaded layer, since ids are unique per
 * shape) and name → (id, encoder) for the one layer this registry answers in.
 */
export class TlRegistry {
  readonly decoders = new Map<number, TlDecoder>()
  readonly encoders = new Map<string, TlEncoderEntry>()
  readonly names = new Map<number, string>()

  constructor(readonly layer: number) {}

  /**
   * Adds constructors. `asEncoding` (default true) also makes their names encode with these ids;
   * pass false to load extra layers for decoding only without changing how names encode.
   */
  add(entries: Iterable<TlCodecEntry>, asEncoding = true): this {
    for (const e of entries) {
      this.decoders.set(e.id, e.decode)
      this.names.set(e.id, e.name)
      if (asEncoding || !this.encoders.has(e.name)) this.encoders.set(e.name, { id: e.id, fn: e.encode })
    }
    return this
  }

  /** Makes `name` encode with the constructor `id` (already loaded). Used to switch a layer. */
  encodeAs(name: string, id: number, fn: TlEncoder): void {
    this.encoders.set(name, { id, fn })
  }

  has(id: number): boolean {
    return this.decoders.has(id)
  }

  nameOf(id: number): string | undefined {
    return this.names.get(id)
  }

  idOf(name: string): number | undefined {
    return this.encoders.get(name)?.id
  }
}

let defaultRegistry: TlRegistry | undefined

/** Set once by src/tl/default.ts when the generated schema modules load. */
export function setDefaultRegistry(r: TlRegistry): void {
  defaultRegistry = r
}

export function getDefaultRegistry(): TlRegistry {
  if (!defaultRegistry) throw new Error('TL default registry not loaded: import from src/tl/index.js')
  return defaultRegistry
}
