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
 * Open-addressing hash table from constructor id (as a signed int32) to a decoder (or another
 * per-constructor value). Faster than a Map for ids outside V8's small-integer range (half of all
 * ids), which a Map would box.
 */
export class IdTable<T = TlDecoder> {
  private keys: Int32Array
  private fns: (T | undefined)[]
  private shift: number
  private mask: number
  size = 0

  constructor(bits = 13) {
    this.keys = new Int32Array(1 << bits)
    this.fns = new Array<T | undefined>(1 << bits).fill(undefined)
    this.shift = 32 - bits
    this.mask = (1 << bits) - 1
  }

  get(id: number): T | undefined {
    const keys = this.keys
    const fns = this.fns
    let h = Math.imul(id, 0x9e3779b1) >>> this.shift
    for (;;) {
      const f = fns[h]
      if (f === undefined || keys[h] === id) return f
      h = (h + 1) & this.mask
    }
  }

  set(id: number, fn: T): void {
    id |= 0
    if ((this.size + 1) * 2 > this.keys.length) this.grow()
    let h = Math.imul(id, 0x9e3779b1) >>> this.shift
    for (;;) {
      if (this.fns[h] === undefined) {
        this.keys[h] = id
        this.fns[h] = fn
        this.size++
        return
      }
      if (this.keys[h] === id) {
        this.fns[h] = fn
        return
      }
      h = (h + 1) & this.mask
    }
  }

  private grow(): void {
    const oldKeys = this.keys
    const oldFns = this.fns
    const bits = 32 - this.shift + 1
    this.keys = new Int32Array(1 << bits)
    this.fns = new Array<T | undefined>(1 << bits).fill(undefined)
    this.shift = 32 - bits
    this.mask = (1 << bits) - 1
    this.size = 0
    for (let i = 0; i < oldKeys.length; i++) {
      const f = oldFns[i]
      if (f !== undefined) this.set(oldKeys[i]!, f)
    }
  }
}

/**
 * Id → decoder for every known constructor of every layer (ids are unique per shape, so one table
 * serves all layers), shared by the registries of all layers. `load` runs once, on the first id the
 * table lacks, to add what is not loaded up front (the older layers' interpreted codecs).
 */
export class TlDecoders {
  readonly decoders = new Map<number, TlDecoder>()
  /** Same content as `decoders`, keyed by the id as a signed int32, for the reader's hot path. */
  readonly table = new IdTable()
  readonly names = new Map<number, string>()
  private load: ((into: TlDecoders) => void) | undefined

  constructor(load?: (into: TlDecoders) => void) {
    this.load = load
  }

  set(id: number, name: string, decode: TlDecoder): void {
    this.decoders.set(id >>> 0, decode)
    this.table.set(id | 0, decode)
    this.names.set(id >>> 0, name)
  }

  /** The decoder of an id the table lacked, after loading the rest once. */
  miss(id: number): TlDecoder | undefined {
    if (this.load === undefined) return undefined
    const load = this.load
    this.load = undefined
    load(this)
    return this.table.get(id | 0)
  }

  has(id: number): boolean {
    return this.decoders.has(id >>> 0) || (this.load !== undefined && this.miss(id) !== undefined)
  }

  nameOf(id: number): string | undefined {
    return this.names.get(id >>> 0) ?? (this.miss(id) !== undefined ? this.names.get(id >>> 0) : undefined)
  }
}

/**
 * Constructor registry of one layer: the shared decoders of every layer, and name → (id, encoder)
 * for the layer this registry answers in.
 */
export class TlRegistry {
  readonly decoding: TlDecoders
  readonly encoders = new Map<string, TlEncoderEntry>()

  constructor(
    readonly layer: number,
    decoding?: TlDecoders,
  ) {
    this.decoding = decoding ?? new TlDecoders()
  }

  get table(): IdTable {
    return this.decoding.table
  }

  /** Adds constructors: decoded by id, and their names encode with these ids. */
  add(entries: Iterable<TlCodecEntry>): this {
    for (const e of entries) {
      this.decoding.set(e.id, e.name, e.decode)
      this.encoders.set(e.name, { id: e.id, fn: e.encode })
    }
    return this
  }

  /** Makes `name` encode with the constructor `id`. */
  encodeAs(name: string, id: number, fn: TlEncoder): void {
    this.encoders.set(name, { id, fn })
  }

  has(id: number): boolean {
    return this.decoding.has(id)
  }

  nameOf(id: number): string | undefined {
    return this.decoding.nameOf(id)
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
