/**
 * Structure checks of newest-layer TL without building the values: for bytes that are checked and
 * then passed on as they are (a backend's result for a client in the newest layer). Every read is
 * bounds checked as TlReader's; constructors must be of the newest layer or mtproto.tl; flags select
 * the fields present; vectors, nesting depth and gzip_packed (inflated, within a budget) are limited
 * as when decoding. Nothing is allocated per value except for gzip_packed.
 *
 * Each constructor's fields become a list of steps (built on first use); one interpreter loop walks
 * them, holding the flags words of the object it is in.
 */
import type { TlEntry } from './parser/parse.js'
import { isBareType, isGenericType, vectorOf } from './runtime/interpret.js'
import { MAX_DEPTH, MAX_GZIP_OUTPUT, MAX_MESSAGE_SIZE, TlError, hex32 } from './runtime/errors.js'
import { ID_BOOL_FALSE, ID_BOOL_TRUE, ID_GZIP_PACKED, TlReader, inflateGzip, type InflateBudget } from './runtime/reader.js'
import { IdTable } from './runtime/registry.js'
import { layerSchema, NEWEST_LAYER } from './schemas.js'

const enum Op {
  /** A `#` field: its value is kept as flags word `size` (0..2) of the object. */
  Flags,
  /** A fixed number of bytes (`size`): int, long, double, int128, int256. */
  Fixed,
  Bytes,
  Bool,
  /** A boxed object (a type, `Object`, `!X`). */
  Object,
  /** `Vector<T>` (boxed) or `vector<T>`, elements `elem`. */
  Vector,
  /** `flags.N?true`: nothing on the wire. */
  True,
  /** A bare constructor (`future_salt`, `%Message`): its fields without an id; `bare` names it. */
  Bare,
}

interface Step {
  readonly op: Op
  /** Fixed: bytes; Flags: which flags word (0..2) it sets. */
  readonly size: number
  /** The flags word (0..2) and bit this field is conditional on; -1: always present. */
  readonly flagsWord: number
  readonly mask: number
  readonly boxed: boolean
  readonly elem: Step | undefined
  /** Smallest encoding of one element (vectors). */
  readonly min: number
  /** Bare: the constructor's name (`future_salt`), or `%` and its type (`%Message`). */
  readonly bare: string
}

interface Plan {
  readonly entry: TlEntry
  readonly steps: readonly Step[]
}

const FIXED: Record<string, number> = { int: 4, long: 8, double: 8, int128: 16, int256: 32 }

function step(e: TlEntry, type: string, flagsWord: number, mask: number, flagsIndex: Map<string, number>, name: string): Step {
  const base = { flagsWord, mask, boxed: false, elem: undefined, min: 0, size: 0, bare: '' }
  if (type === '#') {
    const word = flagsIndex.size
    if (word > 2) throw new TypeError(`${e.name}: more than 3 flags fields`)
    flagsIndex.set(name, word)
    return { ...base, op: Op.Flags, size: word }
  }
  if (type === 'true') return { ...base, op: Op.True }
  const fixed = FIXED[type]
  if (fixed !== undefined) return { ...base, op: Op.Fixed, size: fixed }
  if (type === 'string' || type === 'bytes') return { ...base, op: Op.Bytes }
  if (type === 'Bool') return { ...base, op: Op.Bool }
  const v = vectorOf(type)
  if (v) {
    const elem = step(e, v.inner, -1, 0, flagsIndex, '')
    return { ...base, op: Op.Vector, boxed: v.boxed, elem, min: FIXED[v.inner] ?? 4 }
  }
  if (isBareType(type) && !isGenericType(e, type)) return { ...base, op: Op.Bare, bare: type }
  return { ...base, op: Op.Object }
}

function plan(e: TlEntry): Plan {
  const flagsIndex = new Map<string, number>()
  const steps = e.args.map((a) => {
    const word = a.cond ? flagsIndex.get(a.cond.field) : -1
    if (word === undefined) throw new TypeError(`${e.name}.${a.name}: condition on unknown flags ${a.cond!.field}`)
    return step(e, a.type, word, a.cond ? (1 << a.cond.bit) | 0 : 0, flagsIndex, a.name)
  })
  return { entry: e, steps }
}

let byId: Map<number, TlEntry> | undefined
const plans = new IdTable<Plan>()

/** The plan of constructor `id` of the newest layer (or mtproto.tl), made on first use. */
function planOf(id: number): Plan | undefined {
  const hit = plans.get(id)
  if (hit !== undefined) return hit
  if (byId === undefined) {
    byId = new Map()
    for (const e of layerSchema(NEWEST_LAYER).byName.values()) if (e.kind === 'constructor') byId.set(e.id | 0, e)
  }
  const e = byId.get(id)
  if (e === undefined) return undefined
  const p = plan(e)
  plans.set(id, p)
  return p
}

const barePlans = new Map<string, Plan>()

/** The plan of a bare type: the constructor so named, or the only constructor of `%Type`. */
function barePlanOf(bare: string): Plan {
  const hit = barePlans.get(bare)
  if (hit !== undefined) return hit
  const schema = layerSchema(NEWEST_LAYER)
  const of = bare.startsWith('%') ? schema.types.get(bare.slice(1)) : [schema.byName.get(bare)].filter((e) => e?.kind === 'constructor')
  if (of === undefined || of.length !== 1) throw new TypeError(`bare type ${bare} is not one constructor`)
  const p = planOf(of[0]!.id | 0)!
  barePlans.set(bare, p)
  return p
}

/** What gzip_packed values inside the value being skimmed may still inflate to. */
let budget: InflateBudget | undefined

function value(r: TlReader, s: Step): void {
  switch (s.op) {
    case Op.Fixed:
      r.skip(s.size, 'a fixed-size field')
      return
    case Op.Bytes:
      r.skipBytes()
      return
    case Op.Bool: {
      const at = r.offset
      const id = r.uint()
      if (id !== ID_BOOL_TRUE && id !== ID_BOOL_FALSE) throw new TlError('UNEXPECTED_CONSTRUCTOR', `got ${hex32(id)}`, at, 'boolTrue or boolFalse')
      return
    }
    case Op.Object:
      object(r)
      return
    case Op.Bare:
      body(r, barePlanOf(s.bare), r.offset)
      return
    case Op.Vector: {
      const n = r.vectorCount(s.min, s.boxed)
      if (++r.depth > MAX_DEPTH) throw new TlError('LIMIT', 'nesting too deep', r.offset, `depth <= ${MAX_DEPTH}`)
      const elem = s.elem!
      for (let i = 0; i < n; i++) value(r, elem)
      r.depth--
      return
    }
    default:
      throw new TypeError(`step ${s.op} outside an object`)
  }
}

/** Steps over one boxed object (gzip_packed inflated and its content checked); returns its definition. */
function object(r: TlReader): TlEntry {
  const at = r.offset
  const id = r.int()
  const p = planOf(id)
  if (p === undefined) {
    if (id === (ID_GZIP_PACKED | 0)) return gzipped(r, at)
    throw new TlError('UNKNOWN_CONSTRUCTOR', `unknown constructor ${hex32(id)}`, at, 'a constructor of the newest layer')
  }
  body(r, p, at)
  return p.entry
}

/** Steps over the fields of one constructor (after its id, if boxed). */
function body(r: TlReader, p: Plan, at: number): void {
  const depth = r.depth
  if (depth >= MAX_DEPTH) throw new TlError('LIMIT', 'nesting too deep', at, `depth <= ${MAX_DEPTH}`)
  r.depth = depth + 1
  let f0 = 0
  let f1 = 0
  let f2 = 0
  const steps = p.steps
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i]!
    if (s.flagsWord >= 0 && ((s.flagsWord === 0 ? f0 : s.flagsWord === 1 ? f1 : f2) & s.mask) === 0) continue
    if (s.op === Op.Flags) {
      const v = r.int()
      if (s.size === 0) f0 = v
      else if (s.size === 1) f1 = v
      else f2 = v
    } else if (s.op !== Op.True) {
      value(r, s)
    }
  }
  r.depth = depth
}

function gzipped(r: TlReader, at: number): TlEntry {
  const packed = r.bytes()
  let data: Buffer
  try {
    data = inflateGzip(packed, (budget ??= { left: MAX_GZIP_OUTPUT }))
  } catch (e) {
    if (e instanceof TlError) throw new TlError(e.code, e.message, at, e.expected)
    throw new TlError('BAD_VALUE', `gzip_packed does not inflate: ${(e as Error).message}`, at, 'gzip data')
  }
  const inner = new TlReader(data, 0)
  inner.depth = r.depth
  const e = object(inner)
  if (inner.offset !== inner.end) throw new TlError('TRAILING', `${inner.end - inner.offset} bytes after gzip_packed body`, at, 'end of gzip_packed body')
  return e
}

/**
 * Checks that `buf` is exactly one boxed object of the newest layer (gzip_packed inflated), within
 * decode()'s size limit; returns the definition of its constructor (the inner one of a gzip_packed).
 */
export function skimObject(buf: Uint8Array): TlEntry {
  if (buf.length > MAX_MESSAGE_SIZE) throw new TlError('LIMIT', `input of ${buf.length} bytes`, 0, `<= ${MAX_MESSAGE_SIZE} bytes`)
  const r = new TlReader(buf, 0)
  budget = undefined
  try {
    const e = object(r)
    if (r.offset !== r.end) throw new TlError('TRAILING', `${r.end - r.offset} bytes after the object`, r.offset, 'end of input')
    return e
  } finally {
    budget = undefined
  }
}
