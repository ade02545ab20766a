import { unzipSync } from 'node:zlib'
import {
  MAX_BYTES_LENGTH,
  MAX_DEPTH,
  MAX_GZIP_OUTPUT,
  MAX_VECTOR_LENGTH,
  TlError,
  hex32,
} from './errors.js'
import { getDefaultRegistry, type IdTable, type TlAnyObject, type TlRegistry } from './registry.js'

export const ID_VECTOR = 0x1cb5c415
export const ID_BOOL_TRUE = 0x997275b5
export const ID_BOOL_FALSE = 0xbc799737
export const ID_GZIP_PACKED = 0x3072cfa1

const fromCharCode = String.fromCharCode

/** Buffer's internal slice method (stable since Node 0.x), cheaper than toString('utf8', a, b). */
interface FastSlices {
  utf8Slice(start: number, end: number): string
}

export interface TlReaderOptions {
  /**
   * Return `!X` / `Object` fields (e.g. `invokeWithLayer.query`) as raw Buffers instead of
   * decoding them. A trailing one takes the rest of the input; others are parsed to find their end.
   */
  rawObjects?: boolean
  /** Inflate `gzip_packed` transparently where an object is expected (default true). */
  unzip?: boolean
  /** What every gzip_packed of this input may inflate to in total (default MAX_GZIP_OUTPUT per reader). */
  inflate?: InflateBudget
}

/** Bytes inflation may still produce; shared by every gzip_packed it is passed to, and lowered by each. */
export interface InflateBudget {
  left: number
  /** Set when a gzip_packed was refused because it would go over the budget. */
  exceeded?: boolean
}

/**
 * Reads TL values from a buffer. All reads check bounds and throw {@link TlError} with the offset.
 * `bytes()`, `int128()`, `int256()` and `raw()` return views into the input (no copy): copy them
 * if the input buffer will be reused.
 */
export class TlReader {
  readonly buf: Buffer
  readonly dv: DataView
  offset: number
  readonly end: number
  readonly registry: TlRegistry
  private readonly table: IdTable
  rawObjects: boolean
  unzip: boolean
  private inflateBudget: InflateBudget | undefined
  /** Where the content of the value skipBytes() last stepped over starts. */
  private spanStart = 0
  depth = 0

  constructor(buf: Uint8Array, offset = 0, registry?: TlRegistry, options?: TlReaderOptions) {
    this.buf = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength)
    this.offset = offset
    this.end = this.buf.length
    this.registry = registry ?? getDefaultRegistry()
    this.table = this.registry.table
    this.rawObjects = options?.rawObjects ?? false
    this.unzip = options?.unzip ?? true
    this.inflateBudget = options?.inflate
  }

  remaining(): number {
    return this.end - this.offset
  }

  truncated(expected: string, at = this.offset): TlError {
    return new TlError('TRUNCATED', `input ends after ${this.end} bytes`, at, expected)
  }

  int(): number {
    const o = this.offset
    if (o + 4 > this.end) throw this.truncated('int')
    this.offset = o + 4
    return this.dv.getInt32(o, true)
  }

  uint(): number {
    const o = this.offset
    if (o + 4 > this.end) throw this.truncated('int')
    this.offset = o + 4
    return this.dv.getUint32(o, true)
  }

  long(): bigint {
    const o = this.offset
    if (o + 8 > this.end) throw this.truncated('long')
    this.offset = o + 8
    return this.dv.getBigInt64(o, true)
  }

  double(): number {
    const o = this.offset
    if (o + 8 > this.end) throw this.truncated('double')
    this.offset = o + 8
    return this.dv.getFloat64(o, true)
  }

  int128(): Buffer {
    const o = this.offset
    if (o + 16 > this.end) throw this.truncated('int128')
    this.offset = o + 16
    return this.buf.subarray(o, o + 16)
  }

  int256(): Buffer {
    const o = this.offset
    if (o + 32 > this.end) throw this.truncated('int256')
    this.offset = o + 32
    return this.buf.subarray(o, o + 32)
  }

  /** Steps over `n` bytes of a fixed-size value (`what` names it in the error). */
  skip(n: number, what: string): void {
    const o = this.offset
    if (o + n > this.end) throw this.truncated(what)
    this.offset = o + n
  }

  raw(n: number): Buffer {
    const o = this.offset
    if (n < 0 || o + n > this.end) throw this.truncated(`${n} raw bytes`)
    this.offset = o + n
    return this.buf.subarray(o, o + n)
  }

  bytes(): Buffer {
    const stop = this.skipBytes()
    return this.buf.subarray(this.spanStart, stop)
  }

  /**
   * Steps over one TL `bytes`/`string` value (bounds and length prefix checked); its content runs
   * from spanStart to the returned offset.
   */
  skipBytes(): number {
    const b = this.buf
    const o = this.offset
    if (o >= this.end) throw this.truncated('bytes')
    let len = b[o]!
    let start: number
    if (len < 254) {
      start = o + 1
    } else if (len === 254) {
      if (o + 4 > this.end) throw this.truncated('bytes length')
      len = b[o + 1]! | (b[o + 2]! << 8) | (b[o + 3]! << 16)
      if (len > MAX_BYTES_LENGTH) throw new TlError('LIMIT', `bytes length ${len} over limit`, o, `<= ${MAX_BYTES_LENGTH} bytes`)
      start = o + 4
    } else {
      throw new TlError('BAD_VALUE', 'bytes length prefix 255', o, 'length prefix 0..254')
    }
    const stop = start + len
    const next = o + ((stop - o + 3) & ~3)
    if (next > this.end) throw this.truncated(`bytes of length ${len}`, o)
    this.offset = next
    this.spanStart = start
    return stop
  }

  string(): string {
    const b = this.buf
    const o = this.offset
    if (o >= this.end) throw this.truncated('string')
    const len = b[o]!
    if (len < 254) {
      const start = o + 1
      const stop = start + len
      const next = o + ((len + 4) & ~3)
      if (next > this.end) throw this.truncated(`string of length ${len}`, o)
      this.offset = next
      if (len <= 12) {
        // Short ASCII (names, codes, emoticon-free text): built in JS, no call into C++.
        let acc = 0
        for (let i = start; i < stop; i++) acc |= b[i]!
        if (acc < 0x80) {
          let s = ''
          let i = start
          for (; i + 4 <= stop; i += 4) s += fromCharCode(b[i]!, b[i + 1]!, b[i + 2]!, b[i + 3]!)
          for (; i < stop; i++) s += fromCharCode(b[i]!)
          return s
        }
      }
      return (b as unknown as FastSlices).utf8Slice(start, stop)
    }
    const stop = this.skipBytes()
    return (b as unknown as FastSlices).utf8Slice(this.spanStart, stop)
  }

  bool(): boolean {
    const id = this.uint()
    if (id === ID_BOOL_TRUE) return true
    if (id === ID_BOOL_FALSE) return false
    throw new TlError('UNEXPECTED_CONSTRUCTOR', `got ${hex32(id)}`, this.offset - 4, 'boolTrue or boolFalse')
  }

  /** Reads a boxed object through the registry (gzip_packed is inflated transparently). */
  object(): TlAnyObject {
    const o = this.offset
    const id = this.int()
    let dec = this.table.get(id)
    if (dec === undefined) {
      if (id === (ID_GZIP_PACKED | 0) && this.unzip) return this.gzipped(o)
      dec = this.registry.decoding.miss(id)
      if (dec === undefined) throw new TlError('UNKNOWN_CONSTRUCTOR', `unknown constructor ${hex32(id)}`, o, 'a known constructor id')
    }
    const depth = this.depth
    if (depth >= MAX_DEPTH) throw new TlError('LIMIT', 'nesting too deep', o, `depth <= ${MAX_DEPTH}`)
    this.depth = depth + 1
    const v = dec(this)
    this.depth = depth
    return v
  }

  /** `!X` / `Object` field: decoded, or a raw Buffer when `rawObjects` is set. */
  objectOrRaw(last: boolean): TlAnyObject | Buffer {
    if (!this.rawObjects) return this.object()
    if (last) return this.raw(this.end - this.offset)
    const start = this.offset
    this.rawObjects = false
    try {
      this.object()
    } finally {
      this.rawObjects = true
    }
    return this.buf.subarray(start, this.offset)
  }

  private gzipped(at: number): TlAnyObject {
    const packed = this.bytes()
    let data: Buffer
    try {
      data = inflateGzip(packed, (this.inflateBudget ??= { left: MAX_GZIP_OUTPUT }))
    } catch (e) {
      if (e instanceof TlError) throw new TlError(e.code, e.message, at, e.expected)
      throw new TlError('BAD_VALUE', `gzip_packed does not inflate: ${(e as Error).message}`, at, 'gzip data')
    }
    const inner = new TlReader(data, 0, this.registry, { rawObjects: this.rawObjects, unzip: false })
    inner.depth = this.depth
    const v = inner.object()
    if (inner.offset !== inner.end) throw new TlError('TRAILING', `${inner.end - inner.offset} bytes after gzip_packed body`, at, 'end of gzip_packed body')
    return v
  }

  /** Checks a vector header and count; `minSize` is the smallest encoding of one element. */
  vectorCount(minSize: number, boxed = true): number {
    if (boxed) {
      const o = this.offset
      const id = this.uint()
      if (id !== ID_VECTOR) throw new TlError('UNEXPECTED_CONSTRUCTOR', `got ${hex32(id)}`, o, 'vector#1cb5c415')
    }
    const o = this.offset
    const n = this.int()
    if (n < 0 || n > MAX_VECTOR_LENGTH) throw new TlError('LIMIT', `vector length ${n}`, o, `0..${MAX_VECTOR_LENGTH} elements`)
    if (n * minSize > this.end - this.offset) throw this.truncated(`${n} vector elements`, o)
    return n
  }

  vector<T>(fn: (r: TlReader) => T, minSize = 0, boxed = true): T[] {
    const n = this.vectorCount(minSize, boxed)
    if (++this.depth > MAX_DEPTH) throw new TlError('LIMIT', 'nesting too deep', this.offset, `depth <= ${MAX_DEPTH}`)
    const out = new Array<T>(n)
    for (let i = 0; i < n; i++) out[i] = fn(this)
    this.depth--
    return out
  }

  vectorObject(): TlAnyObject[] {
    const n = this.vectorCount(4)
    const out = new Array<TlAnyObject>(n)
    for (let i = 0; i < n; i++) out[i] = this.object()
    return out
  }

  vectorInt(): number[] {
    const n = this.vectorCount(4)
    const out = new Array<number>(n)
    for (let i = 0; i < n; i++) out[i] = this.int()
    return out
  }

  vectorLong(): bigint[] {
    const n = this.vectorCount(8)
    const out = new Array<bigint>(n)
    for (let i = 0; i < n; i++) out[i] = this.long()
    return out
  }

  vectorDouble(): number[] {
    const n = this.vectorCount(8)
    const out = new Array<number>(n)
    for (let i = 0; i < n; i++) out[i] = this.double()
    return out
  }

  vectorString(): string[] {
    const n = this.vectorCount(4)
    const out = new Array<string>(n)
    for (let i = 0; i < n; i++) out[i] = this.string()
    return out
  }

  vectorBytes(): Buffer[] {
    const n = this.vectorCount(4)
    const out = new Array<Buffer>(n)
    for (let i = 0; i < n; i++) out[i] = this.bytes()
    return out
  }

  vectorBool(): boolean[] {
    const n = this.vectorCount(4)
    const out = new Array<boolean>(n)
    for (let i = 0; i < n; i++) out[i] = this.bool()
    return out
  }
}

/**
 * Inflates gzip data within a budget: a number (the most bytes this call may produce) or an
 * InflateBudget shared with other calls, lowered by what this one produced. A gzip stream whose
 * trailer (ISIZE) announces more than the budget is refused before anything is inflated; one that
 * announces less and produces more stops at the budget. Over budget → TlError LIMIT.
 */
export function inflateGzip(packed: Uint8Array, budget: InflateBudget | number = MAX_GZIP_OUTPUT): Buffer {
  const b = typeof budget === 'number' ? { left: budget } : budget
  const left = Math.floor(b.left)
  if (packed.length >= 18 && packed[0] === 0x1f && packed[1] === 0x8b) {
    const claimed = (packed[packed.length - 4]! | (packed[packed.length - 3]! << 8) | (packed[packed.length - 2]! << 16) | (packed[packed.length - 1]! << 24)) >>> 0
    if (claimed > left) {
      b.exceeded = true
      throw new TlError('LIMIT', `gzip_packed announces ${claimed} inflated bytes: too large`, 0, `<= ${left} bytes`)
    }
  }
  if (left <= 0) {
    b.exceeded = true
    throw new TlError('LIMIT', 'inflate budget spent', 0, 'no more gzip_packed')
  }
  let out: Buffer
  try {
    out = unzipSync(packed, { maxOutputLength: left })
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      b.left = 0
      b.exceeded = true
      throw new TlError('LIMIT', 'gzip_packed inflates too large', 0, `<= ${left} bytes`)
    }
    throw e
  }
  b.left = left - out.length
  return out
}
