import type { TlArg, TlEntry } from '../parser/parse.js'
import type { TlReader } from './reader.js'
import type { TlAnyObject, TlDecoder, TlEncoder } from './registry.js'
import type { TlWriter } from './writer.js'

/**
 * Codecs read from a parsed definition at run time, for the constructors of older layers that
 * schema.ts does not compile. Same wire format and object shape as the generated codecs (fields by
 * schema name, flags from field presence); built once per definition, a closure per field.
 */

type Read = (r: TlReader) => unknown
type Write = (w: TlWriter, v: never) => void

const PRIM_READ: Record<string, Read> = {
  int: (r) => r.int(),
  long: (r) => r.long(),
  int128: (r) => r.int128(),
  int256: (r) => r.int256(),
  double: (r) => r.double(),
  string: (r) => r.string(),
  bytes: (r) => r.bytes(),
  Bool: (r) => r.bool(),
}

const PRIM_WRITE: Record<string, Write> = {
  int: (w, v: number) => w.int(v),
  long: (w, v: bigint) => w.long(v),
  int128: (w, v: Uint8Array) => w.int128(v),
  int256: (w, v: Uint8Array) => w.int256(v),
  double: (w, v: number) => w.double(v),
  string: (w, v: string) => w.string(v),
  bytes: (w, v: Uint8Array) => w.bytes(v),
  Bool: (w, v: boolean) => w.bool(v),
}

/** Smallest encoding of one vector element of a primitive type (0: unknown, checked while reading). */
const PRIM_MIN: Record<string, number> = { int: 4, long: 8, int128: 16, int256: 32, double: 8, string: 4, bytes: 4, Bool: 4 }

/** `Vector<T>` / `vector<T>` → the element type and whether the vector is boxed. */
export function vectorOf(t: string): { inner: string; boxed: boolean } | undefined {
  const m = /^(Vector|vector)<(.+)>$/.exec(t)
  return m ? { inner: m[2]!, boxed: m[1] === 'Vector' } : undefined
}

/** A field whose value is any boxed object, or raw bytes (`!X`, a generic parameter, `Object`). */
export function isGenericType(e: TlEntry, t: string): boolean {
  const n = t.startsWith('!') ? t.slice(1) : t
  return n === 'Object' || e.generics.some((g) => g.name === n)
}

/** A bare constructor reference (`%T`, `a.lowerName`): the API schemas have none; not interpreted. */
export function isBareType(t: string): boolean {
  return t.startsWith('%') || (!(t in PRIM_READ) && t !== 'true' && t !== '#' && /^[a-z]/.test(t.split('.').pop()!) && !vectorOf(t))
}

function reader(e: TlEntry, t: string, last: boolean): Read {
  const prim = PRIM_READ[t]
  if (prim) return prim
  const v = vectorOf(t)
  if (v) {
    const inner = reader(e, v.inner, false)
    const min = PRIM_MIN[v.inner] ?? 4
    return (r) => r.vector(inner, min, v.boxed)
  }
  if (isGenericType(e, t)) return (r) => r.objectOrRaw(last)
  if (isBareType(t)) throw new TypeError(`${e.name}: bare type ${t} is not interpreted`)
  return (r) => r.object()
}

function writer(e: TlEntry, t: string): Write {
  const prim = PRIM_WRITE[t]
  if (prim) return prim
  const v = vectorOf(t)
  if (v) {
    const inner = writer(e, v.inner) as (w: TlWriter, x: unknown) => void
    return (w, items: unknown[]) => w.vector(items, inner, v.boxed)
  }
  if (isBareType(t) && !isGenericType(e, t)) throw new TypeError(`${e.name}: bare type ${t} is not interpreted`)
  return (w, o: TlAnyObject | Uint8Array) => w.object(o)
}

interface FieldPlan {
  readonly name: string
  readonly arg: TlArg
  /** Index of the flags field this one is conditional on, and its bit mask. */
  readonly flagsAt: number
  readonly mask: number
  readonly read: Read
  readonly write: Write
}

function plan(e: TlEntry): FieldPlan[] {
  const last = e.args.length - 1
  return e.args.map((arg, i) => {
    const flagsAt = arg.cond ? e.args.findIndex((a) => a.name === arg.cond!.field) : -1
    const mask = arg.cond ? (1 << arg.cond.bit) | 0 : 0
    const t = arg.type
    const read: Read = t === '#' ? PRIM_READ.int! : t === 'true' ? () => true : reader(e, t, i === last)
    const write: Write = t === '#' || t === 'true' ? () => {} : writer(e, t)
    return { name: arg.name, arg, flagsAt, mask, read, write }
  })
}

/** Decoder and encoder of one definition (the id is read / written by the caller, as for generated codecs). */
export function interpretedCodec(e: TlEntry): { decode: TlDecoder; encode: TlEncoder } {
  const fields = plan(e)
  const n = fields.length
  const decode: TlDecoder = (r) => {
    const out: Record<string, unknown> = { _: e.name }
    const flags = new Array<number>(n)
    for (let i = 0; i < n; i++) {
      const f = fields[i]!
      if (f.flagsAt >= 0 && (flags[f.flagsAt]! & f.mask) === 0) continue
      const v = f.read(r)
      if (f.arg.type === '#') flags[i] = v as number
      else out[f.name] = v
    }
    return out as unknown as TlAnyObject
  }
  const encode: TlEncoder = (w, o) => {
    const obj = o as unknown as Record<string, unknown>
    const flags = new Array<number>(n).fill(0)
    for (const f of fields) {
      if (f.flagsAt < 0) continue
      const v = obj[f.name]
      if (f.arg.type === 'true' ? v : v !== undefined) flags[f.flagsAt] = flags[f.flagsAt]! | f.mask
    }
    for (let i = 0; i < n; i++) {
      const f = fields[i]!
      if (f.arg.type === '#') {
        w.int(flags[i]!)
        continue
      }
      if (f.flagsAt >= 0 && (flags[f.flagsAt]! & f.mask) === 0) continue
      const v = obj[f.name]
      if (v === undefined && f.arg.type !== 'true') throw new TypeError(`${e.name}.${f.name} is missing`)
      ;(f.write as (w: TlWriter, v: unknown) => void)(w, v)
    }
  }
  return { decode, encode }
}
