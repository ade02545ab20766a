/**
 * TL objects converted between vendored layers, by name: an object becomes the same-named
 * constructor of the target layer, its fields taken by name (numbers, strings and bytes converted
 * between the primitive types the two layers use), fields the target lacks dropped, fields it
 * requires but the object lacks given their type's neutral value. A constructor the target layer
 * lacks becomes its type's fallback (FALLBACKS). Types that are the same in both layers (the same
 * constructor ids, all the way down) are passed through untouched, so neighbouring layers cost
 * little. Generated from the schemas: nothing here is written per layer.
 */
import type { TlArg, TlEntry } from './parser/parse.js'
import { isBareType, isGenericType, vectorOf } from './runtime/interpret.js'
import type { TlAnyObject } from './runtime/registry.js'
import { TlError } from './runtime/errors.js'
import { layerSchema, NEWEST_LAYER, type LayerSchema } from './schemas.js'

/**
 * What an object of a type becomes in a layer that lacks its constructor: the named constructor of
 * that type, its fields taken by name; `drop`: left out of the vector holding it (an object whose
 * required field is dropped falls back in turn: an `updateShort` of an unknown update becomes an
 * empty `updates`). A type not listed gets its neutral constructor: the first named …Empty,
 * …Unsupported, …Unknown or …Deleted, else the one with the fewest required fields.
 */
export const FALLBACKS: Readonly<Record<string, string>> = {
  Update: 'drop',
  Updates: 'updates',
  Message: 'messageEmpty',
  MessageMedia: 'messageMediaUnsupported',
  MessageAction: 'messageActionEmpty',
  MessageEntity: 'messageEntityUnknown',
  User: 'userEmpty',
  Chat: 'chatEmpty',
  Photo: 'photoEmpty',
  Document: 'documentEmpty',
  WebPage: 'webPageEmpty',
  PageBlock: 'pageBlockUnsupported',
  RichText: 'textEmpty',
  InputPeer: 'inputPeerEmpty',
  InputUser: 'inputUserEmpty',
  InputChannel: 'inputChannelEmpty',
  InputMedia: 'inputMediaEmpty',
  ChannelAdminLogEventAction: 'drop',
  RecentMeUrl: 'recentMeUrlUnknown',
}

const NEUTRAL_NAME = /(Empty|Unsupported|Unknown|Deleted)$/

/** Marks a value that has no form in the target layer. */
export const DROP: unique symbol = Symbol('no form in the target layer')
type Out = unknown
type Conv = (v: unknown) => Out

interface FieldPlan {
  readonly name: string
  readonly type: string
  /** Conditional on a flag bit; `isTrue`: a `flags.N?true` field. */
  readonly flag: boolean
  readonly isTrue: boolean
  readonly conv: Conv
}

const EMPTY = Buffer.alloc(0)

function primitive(v: unknown, t: string): Out {
  switch (t) {
    case 'int':
    case '#':
      if (typeof v === 'number') return Number.isInteger(v) ? v : Math.trunc(v)
      if (typeof v === 'bigint') return Number(BigInt.asIntN(32, v))
      return typeof v === 'boolean' ? Number(v) : 0
    case 'long':
      if (typeof v === 'bigint') return v
      return typeof v === 'number' && Number.isFinite(v) ? BigInt(Math.trunc(v)) : 0n
    case 'double':
      if (typeof v === 'number') return v
      return typeof v === 'bigint' ? Number(v) : 0
    case 'string':
      if (typeof v === 'string') return v
      return v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8') : ''
    case 'bytes':
      if (v instanceof Uint8Array) return v
      return typeof v === 'string' ? Buffer.from(v, 'utf8') : EMPTY
    case 'int128':
      return v instanceof Uint8Array && v.length === 16 ? v : Buffer.alloc(16)
    case 'int256':
      return v instanceof Uint8Array && v.length === 32 ? v : Buffer.alloc(32)
    case 'Bool':
      return typeof v === 'boolean' ? v : false
    default:
      return undefined
  }
}

function isPrimitive(t: string): boolean {
  return t === 'int' || t === '#' || t === 'long' || t === 'double' || t === 'string' || t === 'bytes' || t === 'int128' || t === 'int256' || t === 'Bool'
}

/** Conversion from one vendored layer to another (cached per pair: use `converter()`). */
export class LayerConverter {
  /** Types whose every constructor, all the way down, is the same in both layers. */
  private readonly sameTypes: Set<string>
  private readonly sameEntries = new Map<string, boolean>()
  private readonly neutralCtors = new Map<string, TlEntry | null>()
  /** Conversions by target type expression (`!` for a generic field: any object by its own name). */
  private readonly convs = new Map<string, Conv>()
  private readonly plans = new WeakMap<TlEntry, FieldPlan[]>()

  constructor(
    readonly from: LayerSchema,
    readonly to: LayerSchema,
  ) {
    this.sameTypes = sameTypes(from, to)
  }

  /** `v` as a value of the target layer's type expression `t` (`owner`: the definition it appears in). */
  value(v: unknown, t: string, owner?: TlEntry): Out {
    return this.convOf(t, owner)(v)
  }

  /** The conversion of a value to type expression `t`, built once per type. */
  private convOf(t: string, owner: TlEntry | undefined): Conv {
    const generic = owner !== undefined && isGenericType(owner, t)
    const key = generic ? '!' : t
    let c = this.convs.get(key)
    if (c !== undefined) return c
    const vec = vectorOf(t)
    if (generic) c = (v) => (v instanceof Uint8Array ? v : this.object(v, undefined))
    else if (isPrimitive(t)) c = (v) => primitive(v, t)
    else if (vec !== undefined) {
      const inner = this.convOf(vec.inner, owner)
      const objects = !isPrimitive(vec.inner) && vectorOf(vec.inner) === undefined
      c = (v) => this.vector(v, inner, objects)
    } else if (isBareType(t)) c = (v) => v // bare constructors appear in mtproto.tl only, the same in every layer
    else c = (v) => this.object(v, t)
    this.convs.set(key, c)
    return c
  }

  /** `v` as an object of type `type` of the target layer (undefined: of whatever type its name has). */
  object(v: unknown, type: string | undefined): Out {
    if (v === null || typeof v !== 'object' || v instanceof Uint8Array || typeof (v as TlAnyObject)._ !== 'string') {
      return type === undefined ? DROP : this.neutral(type)
    }
    const o = v as Record<string, unknown> & TlAnyObject
    const name = o._
    if (type !== undefined && this.sameTypes.has(type) && this.from.constructorOf(name, type) !== undefined) return v
    const target = type === undefined ? this.to.byName.get(name) : this.to.constructorOf(name, type)
    if (target !== undefined) {
      if (type === undefined && this.sameEntry(name)) return v
      const out = this.build(target, o)
      if (out !== DROP) return out
    }
    const own = this.from.byName.get(name)
    const t = type ?? (own?.kind === 'constructor' ? own.result : undefined)
    return t === undefined ? DROP : this.fallback(o, t)
  }

  /** A vector; elements without a form in the target layer (or not objects where objects belong) are left out. */
  private vector(v: unknown, inner: Conv, objects: boolean): Out {
    if (!Array.isArray(v)) return []
    let out: unknown[] | undefined
    for (let i = 0; i < v.length; i++) {
      const el: unknown = v[i]
      const x = objects && (el === null || typeof el !== 'object') ? DROP : inner(el)
      if (out === undefined) {
        if (x === el) continue
        out = v.slice(0, i)
      }
      if (x !== DROP) out.push(x)
    }
    return out ?? v
  }

  private build(e: TlEntry, o: Record<string, unknown>): Out {
    const out: Record<string, unknown> = { _: e.name }
    for (const f of this.planOf(e)) {
      const x = o[f.name]
      if (f.flag) {
        if (f.isTrue) {
          if (x) out[f.name] = true
        } else if (x !== undefined) {
          const c = f.conv(x)
          if (c !== DROP) out[f.name] = c
        }
        continue
      }
      const c = x === undefined ? this.neutral(f.type, e) : f.conv(x)
      if (c === DROP) return DROP
      out[f.name] = c
    }
    for (const group of sharedBits(e)) {
      if (!group.every((n) => out[n] !== undefined)) for (const n of group) delete out[n]
    }
    return out
  }

  /** The fields of a target-layer definition with their conversions, built once per definition. */
  private planOf(e: TlEntry): FieldPlan[] {
    let plan = this.plans.get(e)
    if (plan === undefined) {
      plan = e.args
        .filter((a) => a.type !== '#')
        .map((a) => ({ name: a.name, type: a.type, flag: a.cond !== undefined, isTrue: a.type === 'true', conv: a.type === 'true' ? (v: unknown) => v : this.convOf(a.type, e) }))
      this.plans.set(e, plan)
    }
    return plan
  }

  private fallback(o: Record<string, unknown>, type: string): Out {
    const rule = FALLBACKS[type]
    if (rule === 'drop') return DROP
    const e = (rule !== undefined ? this.to.constructorOf(rule, type) : undefined) ?? this.neutralCtor(type)
    return e === undefined ? DROP : this.build(e, o)
  }

  /** The neutral value of a target-layer type: 0, '', empty bytes, false, [], or the type's neutral constructor. */
  neutral(t: string, owner?: TlEntry): Out {
    if (isPrimitive(t)) return primitive(undefined, t)
    if (vectorOf(t) !== undefined) return []
    if (owner !== undefined && isGenericType(owner, t)) return DROP
    const e = this.neutralCtor(t)
    return e === undefined ? DROP : this.build(e, {})
  }

  private neutralCtor(type: string): TlEntry | undefined {
    const hit = this.neutralCtors.get(type)
    if (hit !== undefined) return hit ?? undefined
    this.neutralCtors.set(type, null) // a type whose every constructor needs itself has no neutral value
    const list = this.to.types.get(type) ?? []
    const required = (e: TlEntry) => e.args.filter((a) => a.cond === undefined && a.type !== '#')
    const ranked = [...list].sort((a, b) => Number(NEUTRAL_NAME.test(b.name)) - Number(NEUTRAL_NAME.test(a.name)) || required(a).length - required(b).length)
    const found = ranked.find((e) => required(e).every((a) => isPrimitive(a.type) || vectorOf(a.type) !== undefined || this.neutralCtor(a.type) !== undefined))
    this.neutralCtors.set(type, found ?? null)
    return found
  }

  private sameEntry(name: string): boolean {
    let hit = this.sameEntries.get(name)
    if (hit === undefined) {
      const a = this.from.byName.get(name)
      const b = this.to.byName.get(name)
      hit = a !== undefined && b !== undefined && a.id === b.id && b.args.every((x) => sameArg(this.sameTypes, b, x.type))
      this.sameEntries.set(name, hit)
    }
    return hit
  }
}

const groups = new WeakMap<TlEntry, string[][]>()

/** Fields that share one flag bit with a valued field: present together or not at all. */
function sharedBits(e: TlEntry): string[][] {
  let hit = groups.get(e)
  if (hit === undefined) {
    const byBit = new Map<string, TlArg[]>()
    for (const a of e.args) {
      if (a.cond === undefined) continue
      const k = `${a.cond.field}.${a.cond.bit}`
      byBit.set(k, [...(byBit.get(k) ?? []), a])
    }
    hit = [...byBit.values()].filter((g) => g.length > 1 && g.some((a) => a.type !== 'true')).map((g) => g.map((a) => a.name))
    groups.set(e, hit)
  }
  return hit
}

function sameArg(same: Set<string>, owner: TlEntry, t: string): boolean {
  if (isPrimitive(t) || t === 'true' || isGenericType(owner, t) || isBareType(t)) return true
  const vec = vectorOf(t)
  return vec !== undefined ? sameArg(same, owner, vec.inner) : same.has(t)
}

/**
 * The types identical in both layers: the same constructor ids, whose fields are of identical types
 * in turn (the largest such set: types referring to each other stay in unless one of them differs).
 */
function sameTypes(from: LayerSchema, to: LayerSchema): Set<string> {
  const same = new Set<string>()
  for (const [t, list] of to.types) {
    const other = from.types.get(t)
    if (other === undefined || other.length !== list.length) continue
    const ids = new Set(other.map((e) => e.id))
    if (list.every((e) => ids.has(e.id))) same.add(t)
  }
  for (let changed = true; changed; ) {
    changed = false
    for (const t of same) {
      if (to.types.get(t)!.every((e) => e.args.every((a) => sameArg(same, e, a.type)))) continue
      same.delete(t)
      changed = true
    }
  }
  return same
}

const converters = new Map<string, LayerConverter>()

/** The converter from layer `from` to layer `to` (both vendored). */
export function converter(from: number, to: number): LayerConverter {
  const key = `${from}>${to}`
  let c = converters.get(key)
  if (c === undefined) converters.set(key, (c = new LayerConverter(layerSchema(from), layerSchema(to))))
  return c
}

function describe(v: unknown): string {
  return v !== null && typeof v === 'object' && typeof (v as TlAnyObject)._ === 'string' ? (v as TlAnyObject)._ : typeof v
}

/**
 * The result type of a newest-layer method (`messages.Messages`, `Vector<User>`), undefined for an
 * unknown method or one whose result is its query's (invokeWithLayer and the other wrappers).
 */
export function resultTypeOf(method: string): string | undefined {
  const e = layerSchema(NEWEST_LAYER).byName.get(method)
  if (e === undefined || e.kind !== 'method' || e.generics.some((g) => g.name === e.result)) return undefined
  return e.result
}

/**
 * A newest-layer value as vendored `layer` writes it (of type `type`, else of its own name's type).
 * Throws TlError ENCODE when it has no form there (an update of a kind the layer does not know, alone).
 */
export function toLayer(v: unknown, layer: number, type?: string): unknown {
  if (layer === NEWEST_LAYER) return v
  const c = converter(NEWEST_LAYER, layer)
  const out = type === undefined ? c.object(v, undefined) : c.value(v, type)
  if (out === DROP) throw new TlError('ENCODE', `${describe(v)} has no form in layer ${layer}`, 0, `a value layer ${layer} can hold`)
  return out
}

/** An object a client at vendored `layer` sent, as the newest layer writes it (as sent when the newest has no such name). */
export function fromLayer<T>(v: T, layer: number): T {
  if (layer === NEWEST_LAYER) return v
  const out = converter(layer, NEWEST_LAYER).object(v, undefined)
  return out === DROP ? v : (out as T)
}
