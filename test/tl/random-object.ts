/** Random TL objects built from the parsed schema, and mutated buffers, for round-trip and fuzz tests. */
import type { TlEntry } from '../../src/tl/parser/parse.js'
import { ID_GZIP_PACKED, ID_VECTOR } from '../../src/tl/index.js'

export type Rng = () => number

/** Deterministic xorshift32 in [0, 1). */
export function rng(seed: number): Rng {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s / 0x100000000
  }
}

export class RandomObjects {
  readonly byName = new Map<string, TlEntry>()
  readonly types = new Map<string, TlEntry[]>()

  constructor(entries: TlEntry[], private readonly r: Rng) {
    for (const e of entries) {
      if (!this.byName.has(e.name) || e.kind === 'constructor') this.byName.set(e.name, e)
      if (e.kind !== 'constructor') continue
      let l = this.types.get(e.result)
      if (!l) this.types.set(e.result, (l = []))
      l.push(e)
    }
  }

  int(): number {
    return (this.r() * 0x100000000) | 0
  }

  long(): bigint {
    return BigInt.asIntN(64, (BigInt(this.int() >>> 0) << 32n) | BigInt(this.int() >>> 0))
  }

  buf(n: number): Buffer {
    const b = Buffer.alloc(n)
    for (let i = 0; i < n; i++) b[i] = (this.r() * 256) | 0
    return b
  }

  str(): string {
    const pick = this.r()
    if (pick < 0.1) return ''
    if (pick < 0.15) return 'é漢字🙂' + 'x'.repeat((this.r() * 300) | 0)
    const n = (this.r() * 20) | 0
    let s = ''
    for (let i = 0; i < n; i++) s += String.fromCharCode(32 + ((this.r() * 95) | 0))
    return s
  }

  bytesVal(): Buffer {
    const p = this.r()
    return this.buf(p < 0.1 ? 0 : p < 0.2 ? 250 + ((this.r() * 300) | 0) : (this.r() * 20) | 0)
  }

  /** A value of TL type `t` inside `e` at nesting `depth`. */
  value(e: TlEntry, t: string, depth: number): unknown {
    switch (t) {
      case 'int':
        return this.int()
      case 'long':
        return this.long()
      case 'int128':
        return this.buf(16)
      case 'int256':
        return this.buf(32)
      case 'double':
        return (this.r() - 0.5) * 1e6
      case 'string':
        return this.str()
      case 'bytes':
        return this.bytesVal()
      case 'Bool':
        return this.r() < 0.5
      case 'true':
        return true
    }
    const v = /^(Vector|vector)<(.+)>$/.exec(t)
    if (v) {
      const n = depth > 3 ? 0 : (this.r() * 3) | 0
      const out: unknown[] = []
      for (let i = 0; i < n; i++) out.push(this.value(e, v[2]!, depth + 1))
      return out
    }
    const g = t.startsWith('!') ? t.slice(1) : t
    if (e.generics.some((x) => x.name === g) || t === 'Object') return { _: 'help.getConfig' }
    if (t.startsWith('%')) return this.object(this.types.get(t.slice(1))![0]!, depth + 1)
    const bare = this.byName.get(t)
    if (bare && /^[a-z]/.test(t.split('.').pop()!)) return this.object(bare, depth + 1)
    const list = this.types.get(t)
    if (!list) throw new Error(`no constructors for ${t}`)
    return this.object(this.pick(list, depth), depth + 1)
  }

  private pick(list: TlEntry[], depth: number): TlEntry {
    if (depth > 4) {
      // Prefer constructors without required object fields so recursion ends.
      const simple = list.filter((c) => c.args.every((a) => a.cond || /^(int|long|string|bytes|double|int128|int256|Bool|#|true)$/.test(a.type)))
      if (simple.length) return simple[(this.r() * simple.length) | 0]!
    }
    return list[(this.r() * list.length) | 0]!
  }

  /** A random object of constructor/method `e`, shaped as our decoder returns it. */
  object(e: TlEntry, depth = 0): Record<string, unknown> {
    const o: Record<string, unknown> = { _: e.name }
    const bits = new Map<string, number>()
    for (const a of e.args) {
      if (a.type === '#') bits.set(a.name, depth > 3 ? 0 : this.int())
    }
    // Fields sharing a bit must be present together; compute presence per (field, bit).
    for (const a of e.args) {
      if (a.type === '#') continue
      if (a.cond) {
        const on = ((bits.get(a.cond.field)! >>> a.cond.bit) & 1) === 1
        o[a.name] = a.type === 'true' ? on : on ? this.value(e, a.type, depth) : undefined
      } else {
        o[a.name] = this.value(e, a.type, depth)
      }
    }
    return o
  }
}

const INTERESTING = [0, 1, 3, 4, 253, 254, 255, -1, 0x7fffffff, -0x80000000, 0x100000, ID_VECTOR, ID_GZIP_PACKED, 0x997275b5, 0xbc799737, 0x73f1f8dc, 0xf35c6d01]

/**
 * `src` with one random mutation: flipped bits, a random byte, an interesting int32, truncation,
 * 4 bytes dropped or duplicated, or garbage appended.
 */
export function mutate(src: Buffer, r: Rng): Buffer {
  const b = Buffer.from(src)
  const kind = (r() * 7) | 0
  const pos = (r() * Math.max(1, b.length)) | 0
  switch (kind) {
    case 0: // flip bits
      for (let i = 0, n = 1 + ((r() * 4) | 0); i < n && b.length; i++) b[(r() * b.length) | 0]! ^= 1 << ((r() * 8) | 0)
      return b
    case 1: // random byte
      if (b.length) b[pos] = (r() * 256) | 0
      return b
    case 2: // interesting int32 at an aligned position
      if (b.length >= 4) b.writeInt32LE(INTERESTING[(r() * INTERESTING.length) | 0]! | 0, Math.min(pos & ~3, b.length - 4))
      return b
    case 3: // truncate
      return b.subarray(0, pos)
    case 4: // drop 4 bytes
      return Buffer.concat([b.subarray(0, pos & ~3), b.subarray((pos & ~3) + 4)])
    case 5: // duplicate 4 bytes
      return Buffer.concat([b.subarray(0, pos & ~3), b.subarray(pos & ~3, (pos & ~3) + 4), b.subarray(pos & ~3)])
    default: // append garbage
      return Buffer.concat([b, Buffer.from([(r() * 256) | 0, 0, 0, 0])])
  }
}
