/**
 * TL objects (newest layer, `{_: 'user', ...}`) ↔ Teamgram's protobuf messages, driven by the
 * generated table src/tl/generated/teamgram.ts and the parsed TL schema:
 *
 *   a constructor   → its type's message: predicate_name=1 (`auth_sentCode`), constructor=2, fields
 *   a method        → TL_<method>: constructor=1, fields
 *   a method result → the reply message of its rpc: a boxed type, `Bool`, or `Vector_X {repeated datas=1}`
 *
 * Flags are not sent (Teamgram recomputes them): a `true` flag is a bool, an optional scalar a
 * google.protobuf wrapper, an optional object an absent message. Decoding picks the constructor by
 * predicate_name, else by the constructor value. What cannot map — an argument Teamgram lacks, a
 * predicate one side lacks — is dropped (optional) or given its neutral value (required), and
 * counted in `teamgramDrops` (the first of each kind is told to `onTeamgramDrop`); never thrown.
 * Only bytes that are not protobuf at all, or a method/result Teamgram has no message for, throw.
 */
import { TEAMGRAM_ENTRIES, TEAMGRAM_METHODS } from '../../tl/generated/teamgram.js'
import { decode, encode, layerSchema, NEWEST_LAYER, type TlAnyObject } from '../../tl/index.js'
import type { TlArg, TlEntry } from '../../tl/parser/parse.js'
import { doubles, int32, int64, PbWriter, readMessage, varints, type PbValue } from './protobuf.js'

export class TeamgramCodecError extends Error {}

/** What the codec could not map, by `what` (e.g. `user.bot_guard`, `predicate foo`): how many times. */
export const teamgramDrops = new Map<string, number>()
/** Told the first time each kind of drop happens (a log line). */
export let onTeamgramDrop: ((what: string) => void) | undefined
export function setTeamgramDropListener(fn: ((what: string) => void) | undefined): void {
  onTeamgramDrop = fn
}

function drop(what: string): void {
  const n = teamgramDrops.get(what) ?? 0
  teamgramDrops.set(what, n + 1)
  if (n === 0) onTeamgramDrop?.(what)
}

interface Field {
  arg: TlArg
  num: number
  kind: string
}

interface Spec {
  entry: TlEntry
  /** The proto message, and the field number of the constructor (1 in TL_method messages, 2 in boxed ones). */
  message: string
  ctor: number
  /** Teamgram's predicate_name of a constructor (`auth_sentCode`; its own name where it differs). */
  predicate: string
  /** Mapped arguments, by field number. */
  fields: Field[]
  byArg: Map<string, Field>
}

const specs = new Map<string, Spec | null>()
let byPredicate: Map<string, string> | undefined
let byCtor: Map<number, string> | undefined

function specOf(name: string): Spec | undefined {
  let s = specs.get(name)
  if (s !== undefined) return s ?? undefined
  const t = TEAMGRAM_ENTRIES[name]
  const entry = layerSchema(NEWEST_LAYER).byName.get(name)
  if (t === undefined || entry === undefined) {
    specs.set(name, null)
    return undefined
  }
  const args = new Map(entry.args.map((a) => [a.name, a]))
  const fields: Field[] = []
  for (const item of t[2] === '' ? [] : t[2].split(',')) {
    const [arg, num, kind] = item.split(':') as [string, string, string?]
    if (num === '-') continue
    fields.push({ arg: args.get(arg)!, num: Number(num), kind: kind! })
  }
  fields.sort((a, b) => a.num - b.num)
  s = { entry, message: t[0], ctor: t[1], predicate: t[3] ?? name.replace(/\./g, '_'), fields, byArg: new Map(fields.map((f) => [f.arg.name, f])) }
  specs.set(name, s)
  return s
}

/** Our constructor for Teamgram's predicate_name (`auth_sentCode`) or constructor value. */
function constructorFor(predicate: string, ctor: number): string | undefined {
  if (byPredicate === undefined || byCtor === undefined) {
    byPredicate = new Map()
    byCtor = new Map()
    const schema = layerSchema(NEWEST_LAYER)
    for (const [name, [, value]] of Object.entries(TEAMGRAM_ENTRIES)) {
      const e = schema.byName.get(name)
      if (e === undefined || e.kind !== 'constructor') continue
      byPredicate.set(TEAMGRAM_ENTRIES[name]![3] ?? name.replace(/\./g, '_'), name)
      byCtor.set(value, name)
      byCtor.set(e.id | 0, name)
    }
  }
  return (predicate !== '' ? byPredicate.get(predicate) : undefined) ?? (ctor !== 0 ? byCtor.get(ctor) : undefined)
}

const VECTOR = /^Vector<(.+)>$/i

// ---- encoding -------------------------------------------------------------------------------

const isZero = (v: unknown): boolean => v === 0 || v === 0n || v === '' || v === false || (Buffer.isBuffer(v) && v.length === 0)

function scalar(kind: string, v: unknown): number | bigint | boolean | string | Buffer {
  switch (kind) {
    case 'i':
    case 'I':
      return typeof v === 'bigint' ? Number(BigInt.asIntN(32, v)) : Number(v) | 0
    case 'l':
    case 'L':
      return typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)))
    case 'd':
    case 'D':
      return Number(v)
    case 't':
      return v === true
    case 's':
    case 'S':
      return Buffer.isBuffer(v) ? v.toString('utf8') : String(v)
    default: // y: bytes, or a TL object sent as bytes (!X)
      if (Buffer.isBuffer(v)) return v
      if (typeof v === 'string') return Buffer.from(v, 'utf8')
      return encode(v as TlAnyObject)
  }
}

function putScalar(w: PbWriter, num: number, kind: string, v: unknown, keepZero: boolean): void {
  const x = scalar(kind, v)
  if (!keepZero && isZero(x)) return
  if (typeof x === 'string' || Buffer.isBuffer(x)) w.bytes(num, x)
  else if (kind === 'd' || kind === 'D') w.double(num, x as number)
  else w.uint(num, x)
}

/** Teamgram's mtproto.Bool message of `v`. */
export function boolMessage(v: boolean): Buffer {
  const name = v ? 'boolTrue' : 'boolFalse'
  return new PbWriter().bytes(1, name).uint(2, TEAMGRAM_ENTRIES[name]![1]).finish()
}

function putOne(w: PbWriter, f: Field, kind: string, v: unknown, where: string, inList: boolean): void {
  if (kind === 'B') w.bytes(f.num, boolMessage(v === true))
  else if (kind === 'm') {
    if (v === null || typeof v !== 'object' || typeof (v as TlAnyObject)._ !== 'string') return drop(`${where} (not an object)`)
    const b = encodeObject(v as TlAnyObject)
    if (b !== undefined) w.bytes(f.num, b)
  } else if (kind >= 'A' && kind <= 'Z') {
    const inner = new PbWriter()
    putScalar(inner, 1, kind, v, false)
    w.bytes(f.num, inner.finish())
  } else putScalar(w, f.num, kind, v, inList)
}

function putField(w: PbWriter, f: Field, v: unknown, where: string): void {
  if (v === undefined || v === null) return
  if (!f.kind.startsWith('r')) {
    if (Array.isArray(v)) return drop(`${where} (a vector where Teamgram has one value)`)
    return putOne(w, f, f.kind, v, where, false)
  }
  if (!Array.isArray(v)) return drop(`${where} (one value where Teamgram has a vector)`)
  const kind = f.kind.slice(1)
  if (v.length === 0) return
  if (kind === 'i' || kind === 'l' || kind === 't') w.packedVarints(f.num, v.map((x) => scalar(kind, x) as number | bigint | boolean))
  else if (kind === 'd') w.packedDoubles(f.num, v.map(Number))
  else for (const x of v) putOne(w, f, kind, x, where, true)
}

/** The Teamgram message of a TL constructor (its type's message) or method (TL_<method>); undefined (counted) when Teamgram lacks it. */
export function encodeObject(o: TlAnyObject): Buffer | undefined {
  const s = specOf(o._)
  if (s === undefined) {
    drop(`predicate ${o._}`)
    return undefined
  }
  const w = new PbWriter()
  const method = s.entry.kind === 'method'
  if (!method) w.bytes(1, s.predicate)
  w.uint(method ? 1 : 2, s.ctor)
  const rec = o as unknown as Record<string, unknown>
  for (const a of s.entry.args) {
    if (a.type === '#' || s.byArg.has(a.name)) continue
    const v = rec[a.name]
    if (v !== undefined && v !== false) drop(`${o._}.${a.name}`)
  }
  for (const f of s.fields) putField(w, f, rec[f.arg.name], `${o._}.${f.arg.name}`)
  return w.finish()
}

/** The TL_<method> message of a query; throws when Teamgram has no such method. */
export function encodeQuery(q: TlAnyObject): Buffer {
  const s = specOf(q._)
  if (s === undefined || s.entry.kind !== 'method') throw new TeamgramCodecError(`Teamgram has no method ${q._}`)
  return encodeObject(q)!
}

/** The reply message of `method` carrying `value` (a TL result of the method). */
export function encodeResult(method: string, value: unknown): Buffer {
  const m = TEAMGRAM_METHODS[method]
  const s = specOf(method)
  if (m === undefined || s === undefined) throw new TeamgramCodecError(`Teamgram has no rpc ${method}`)
  const vec = VECTOR.exec(s.entry.result)
  if (vec !== null) {
    const kind = elementKind(vec[1]!)
    const w = new PbWriter()
    putField(w, { arg: { name: 'datas', type: s.entry.result }, num: 1, kind: 'r' + kind }, value, `${method} result`)
    return w.finish()
  }
  if (s.entry.result === 'Bool') return boolMessage(value === true)
  const b = encodeObject(value as TlAnyObject)
  if (b === undefined) throw new TeamgramCodecError(`Teamgram has no ${(value as TlAnyObject)._} (result of ${method})`)
  return b
}

function elementKind(type: string): string {
  return ({ int: 'i', long: 'l', double: 'd', string: 's', bytes: 'y', Bool: 'B' } as Record<string, string>)[type] ?? 'm'
}

// ---- decoding -------------------------------------------------------------------------------

function last(values: readonly PbValue[]): PbValue {
  return values[values.length - 1]!
}

function str(v: PbValue): string {
  return v.wire === 2 ? v.raw.toString('utf8') : ''
}

/** A scalar of proto kind `kind` as TL type `type`. */
function tlScalar(kind: string, v: PbValue, type: string): unknown {
  let x: number | bigint | boolean | string | Buffer
  const k = kind.toLowerCase()
  if (k === 'i') x = v.wire === 0 ? int32(v.v) : 0
  else if (k === 'l') x = v.wire === 0 ? int64(v.v) : 0n
  else if (k === 't') x = v.wire === 0 && v.v !== 0n
  else if (k === 'd') x = v.wire === 1 ? v.raw.readDoubleLE(0) : 0
  else x = v.wire === 2 ? Buffer.from(v.raw) : Buffer.alloc(0)
  return asTl(x, type)
}

function asTl(x: number | bigint | boolean | string | Buffer, type: string): unknown {
  switch (type) {
    case 'int':
      return typeof x === 'bigint' ? Number(BigInt.asIntN(32, x)) : Number(x)
    case 'long':
      return typeof x === 'bigint' ? x : BigInt(typeof x === 'boolean' ? +x : Math.trunc(Number(x)))
    case 'double':
      return Number(x)
    case 'Bool':
    case 'true':
      return typeof x === 'boolean' ? x : x !== 0 && x !== 0n
    case 'string':
      return Buffer.isBuffer(x) ? x.toString('utf8') : String(x)
    default:
      if (type.startsWith('!') && Buffer.isBuffer(x)) {
        try {
          return decode(x)
        } catch {
          return x
        }
      }
      return Buffer.isBuffer(x) ? x : Buffer.from(String(x), 'utf8')
  }
}

function readWrapper(kind: string, v: PbValue, type: string): unknown {
  if (v.wire !== 2) return undefined
  const inner = readMessage(v.raw).get(1)
  if (inner === undefined) return asTl(kind === 'L' ? 0n : kind === 'S' ? '' : 0, type)
  return tlScalar(kind, last(inner), type)
}

function readBool(v: PbValue): boolean {
  if (v.wire !== 2) return false
  const f = readMessage(v.raw)
  const p = f.get(1)
  const c = f.get(2)
  const name = constructorFor(p === undefined ? '' : str(last(p)), c === undefined || last(c).wire !== 0 ? 0 : int32((last(c) as { v: bigint }).v))
  return name === 'boolTrue'
}

/** One value of field `f` (kind without the r prefix) as TL type `type`. */
function readOne(kind: string, v: PbValue, type: string, where: string): unknown {
  if (kind === 'B') return readBool(v)
  if (kind === 'm') return v.wire === 2 ? decodeObject(v.raw, type, where) : undefined
  if (kind >= 'A' && kind <= 'Z') return readWrapper(kind, v, type)
  return tlScalar(kind, v, type)
}

function readField(f: Field, values: readonly PbValue[], where: string): unknown {
  const type = f.arg.type
  const vec = VECTOR.exec(type)
  if (!f.kind.startsWith('r')) {
    if (vec !== null) return void drop(`${where} (one value where we have a vector)`)
    return readOne(f.kind, last(values), type, where)
  }
  if (vec === null) return void drop(`${where} (a vector where we have one value)`)
  const inner = vec[1]!
  const kind = f.kind.slice(1)
  if (kind === 'i' || kind === 'l' || kind === 't') return varints(values).map((x) => asTl(kind === 'i' ? int32(x) : kind === 'l' ? int64(x) : x !== 0n, inner))
  if (kind === 'd') return doubles(values).map((x) => asTl(x, inner))
  return values.map((v) => readOne(kind, v, inner, where)).filter((x) => x !== undefined)
}

const MAX_NEUTRAL_DEPTH = 6

/** The neutral value of a required argument of TL type `type` (0, '', empty, false, [], a neutral object). */
function neutral(type: string, depth = 0): unknown {
  switch (type) {
    case 'int':
    case 'double':
      return 0
    case 'long':
      return 0n
    case 'string':
      return ''
    case 'bytes':
      return Buffer.alloc(0)
    case 'int128':
      return Buffer.alloc(16)
    case 'int256':
      return Buffer.alloc(32)
    case 'Bool':
      return false
  }
  if (VECTOR.test(type)) return []
  const ctors = layerSchema(NEWEST_LAYER).types.get(type.replace(/^%/, ''))
  if (ctors === undefined || ctors.length === 0 || depth > MAX_NEUTRAL_DEPTH) return undefined
  const c = [...ctors].sort((a, b) => required(a) - required(b))[0]!
  return fill({ _: c.name }, c, depth + 1)
}

const required = (e: TlEntry): number => e.args.filter((a) => a.cond === undefined && a.type !== '#').length

function fill(o: Record<string, unknown>, e: TlEntry, depth: number): TlAnyObject {
  for (const a of e.args) if (a.cond === undefined && a.type !== '#' && o[a.name] === undefined) o[a.name] = neutral(a.type, depth)
  return o as unknown as TlAnyObject
}

/** A TL object from Teamgram's message of a constructor (`type`: the TL type expected, for a neutral stand-in). */
export function decodeObject(buf: Buffer, type?: string, where = 'object'): TlAnyObject | undefined {
  const fields = readMessage(buf)
  const p = fields.get(1)
  const c = fields.get(2)
  const predicate = p === undefined ? '' : str(last(p))
  const cv = c === undefined ? 0 : last(c)
  const name = constructorFor(predicate, cv !== 0 && cv.wire === 0 ? int32(cv.v) : 0)
  const s = name === undefined ? undefined : specOf(name)
  if (s === undefined) {
    drop(`predicate ${predicate || cv} (${where})`)
    return type === undefined ? undefined : (neutral(type) as TlAnyObject | undefined)
  }
  if (type !== undefined && !type.startsWith('!') && s.entry.result !== type && type !== 'Object') drop(`${where}: ${name} is not a ${type}`)
  return readFields(s, fields)
}

function readFields(s: Spec, fields: Map<number, PbValue[]>): TlAnyObject {
  const o: Record<string, unknown> = { _: s.entry.name }
  for (const a of s.entry.args) {
    if (a.type === '#') continue
    const f = s.byArg.get(a.name)
    const values = f === undefined ? undefined : fields.get(f.num)
    let v = values === undefined || f === undefined ? undefined : readField(f, values, `${s.entry.name}.${a.name}`)
    // a `true` flag is set when true; an optional argument Teamgram sends as a plain scalar, when not zero
    if (a.cond !== undefined && (a.type === 'true' ? v !== true : f !== undefined && /^[ildsyt]$/.test(f.kind) && isZero(v))) v = undefined
    if (v !== undefined) o[a.name] = v
    else if (a.cond === undefined) o[a.name] = neutral(a.type)
  }
  return o as unknown as TlAnyObject
}

/** A query from its TL_<method> message. */
export function decodeQuery(method: string, buf: Buffer): TlAnyObject {
  const s = specOf(method)
  if (s === undefined || s.entry.kind !== 'method') throw new TeamgramCodecError(`Teamgram has no method ${method}`)
  return readFields(s, readMessage(buf))
}

/** The TL result of `method` from its reply message. */
export function decodeResult(method: string, buf: Buffer): unknown {
  const s = specOf(method)
  if (s === undefined) throw new TeamgramCodecError(`Teamgram has no method ${method}`)
  const type = s.entry.result
  const vec = VECTOR.exec(type)
  if (vec !== null) {
    const values = readMessage(buf).get(1) ?? []
    return readField({ arg: { name: 'datas', type }, num: 1, kind: 'r' + elementKind(vec[1]!) }, values, `${method} result`)
  }
  if (type === 'Bool') return readBool({ wire: 2, raw: buf })
  const o = decodeObject(buf, type, `${method} result`)
  if (o === undefined) throw new TeamgramCodecError(`${method}: the reply is no ${type}`)
  return o
}

/** The gRPC path of `method` (`/mtproto.RPCConfiguration/help_getConfig`), undefined when Teamgram has no rpc for it. */
export function grpcPath(method: string): string | undefined {
  const m = TEAMGRAM_METHODS[method]
  return m === undefined ? undefined : `/mtproto.${m[0]}/${m[2] ?? method.replace(/\./g, '_')}`
}
