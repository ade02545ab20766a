import { gzipSync } from 'node:zlib'
import { TlError } from './errors.js'
import { getDefaultRegistry, type TlAnyObject, type TlEncoder, type TlRegistry } from './registry.js'
import type { TlObject } from '../generated/schema.js'
import { ID_BOOL_FALSE, ID_BOOL_TRUE, ID_GZIP_PACKED, ID_VECTOR } from './reader.js'

/** Writes TL values into a growable buffer. */
export class TlWriter {
  buf: Buffer
  dv: DataView
  pos = 0
  readonly registry: TlRegistry

  constructor(registry?: TlRegistry, initialSize = 1024) {
    this.registry = registry ?? getDefaultRegistry()
    this.buf = Buffer.allocUnsafe(initialSize)
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength)
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = Buffer.allocUnsafe(size)
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
    this.dv = new DataView(next.buffer, next.byteOffset, next.byteLength)
  }

  /** Forgets everything written (keeps the buffer). */
  reset(): void {
    this.pos = 0
  }

  int(n: number): void {
    if (this.pos + 4 > this.buf.length) this.ensure(4)
    const b = this.buf
    const p = this.pos
    b[p] = n
    b[p + 1] = n >> 8
    b[p + 2] = n >> 16
    b[p + 3] = n >> 24
    this.pos = p + 4
  }

  uint(n: number): void {
    this.int(n | 0)
  }

  long(v: bigint): void {
    if (this.pos + 8 > this.buf.length) this.ensure(8)
    this.dv.setBigInt64(this.pos, v, true)
    this.pos += 8
  }

  double(n: number): void {
    if (this.pos + 8 > this.buf.length) this.ensure(8)
    this.dv.setFloat64(this.pos, n, true)
    this.pos += 8
  }

  private fixed(b: Uint8Array, n: number, what: string): void {
    if (b.length !== n) throw new TlError('ENCODE', `${what} of ${b.length} bytes`, this.pos, `${n} bytes`)
    this.raw(b)
  }

  int128(b: Uint8Array): void {
    this.fixed(b, 16, 'int128')
  }

  int256(b: Uint8Array): void {
    this.fixed(b, 32, 'int256')
  }

  raw(b: Uint8Array): void {
    const n = b.length
    if (this.pos + n > this.buf.length) this.ensure(n)
    this.buf.set(b, this.pos)
    this.pos += n
  }

  bytes(b: Uint8Array): void {
    const len = b.length
    this.ensure(len + 8)
    const buf = this.buf
    let p = this.pos
    if (len < 254) {
      buf[p++] = len
    } else if (len < 0x1000000) {
      buf[p] = 254
      buf[p + 1] = len
      buf[p + 2] = len >> 8
      buf[p + 3] = len >> 16
      p += 4
    } else {
      throw new TlError('ENCODE', `bytes of length ${len}`, this.pos, 'fewer than 2^24 bytes')
    }
    buf.set(b, p)
    p += len
    while (p & 3) buf[p++] = 0
    this.pos = p
  }

  string(s: string): void {
    const n = s.length
    if (n < 84) {
      // At most 3 bytes per UTF-16 unit: the short length form always fits.
      this.ensure(n * 3 + 4)
      const buf = this.buf
      const start = this.pos
      let p = start + 1
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i)
        if (c >= 0x80) {
          p = start + 1 + buf.write(s, start + 1, 'utf8')
          break
        }
        buf[p++] = c
      }
      buf[start] = p - start - 1
      while ((p - start) & 3) buf[p++] = 0
      this.pos = p
      return
    }
    this.bytes(Buffer.from(s, 'utf8'))
  }

  bool(v: boolean): void {
    this.int(v ? ID_BOOL_TRUE : ID_BOOL_FALSE)
  }

  /** Boxed object via the registry; a Buffer is written as already-serialised raw bytes. */
  object(o: TlObject | TlAnyObject | Uint8Array): void {
    if (o instanceof Uint8Array) {
      this.raw(o)
      return
    }
    const e = this.registry.encoders.get(o._)
    if (e === undefined) {
      throw new TlError('ENCODE', `unknown constructor name ${JSON.stringify(o._)}`, this.pos, `a constructor of layer ${this.registry.layer}`)
    }
    this.int(e.id)
    e.fn(this, o)
  }

  vectorHeader(n: number): void {
    this.int(ID_VECTOR)
    this.int(n)
  }

  vector<T>(items: readonly T[], fn: (w: TlWriter, v: T) => void, boxed = true): void {
    if (boxed) this.int(ID_VECTOR)
    const n = items.length
    this.int(n)
    for (let i = 0; i < n; i++) fn(this, items[i]!)
  }

  /** Bare-constructor vector element helper for generated code. */
  vectorBare(items: readonly TlAnyObject[], fn: TlEncoder, boxed = true): void {
    if (boxed) this.int(ID_VECTOR)
    const n = items.length
    this.int(n)
    for (let i = 0; i < n; i++) fn(this, items[i]!)
  }

  vectorObject(items: readonly (TlAnyObject | Uint8Array)[]): void {
    const n = items.length
    this.int(ID_VECTOR)
    this.int(n)
    for (let i = 0; i < n; i++) this.object(items[i]!)
  }

  vectorInt(items: readonly number[]): void {
    const n = items.length
    this.ensure(8 + n * 4)
    this.int(ID_VECTOR)
    this.int(n)
    for (let i = 0; i < n; i++) this.int(items[i]!)
  }

  vectorLong(items: readonly bigint[]): void {
    const n = items.length
    this.ensure(8 + n * 8)
    this.int(ID_VECTOR)
    this.int(n)
    for (let i = 0; i < n; i++) this.long(items[i]!)
  }

  vectorDouble(items: readonly number[]): void {
    const n = items.length
    this.int(ID_VECTOR)
    this.int(n)
    for (let i = 0; i < n; i++) this.double(items[i]!)
  }

  vectorString(items: readonly string[]): void {
    const n = items.length
    this.int(ID_VECTOR)
    this.int(n)
    for (let i = 0; i < n; i++) this.string(items[i]!)
  }

  vectorBytes(items: readonly Uint8Array[]): void {
    const n = items.length
    this.int(ID_VECTOR)
    this.int(n)
    for (let i = 0; i < n; i++) this.bytes(items[i]!)
  }

  vectorBool(items: readonly boolean[]): void {
    const n = items.length
    this.int(ID_VECTOR)
    this.int(n)
    for (let i = 0; i < n; i++) this.bool(items[i]!)
  }

  /** Writes `gzip_packed#3072cfa1 packed_data:bytes` around already-serialised bytes. */
  gzipPacked(serialised: Uint8Array): void {
    this.int(ID_GZIP_PACKED)
    this.bytes(gzipSync(serialised))
  }

  /** The bytes written so far (a view of the internal buffer; copy it if the writer is reused). */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos)
  }
}
