/**
 * The vendored layers as parsed definitions (generated/layers.ts): per layer, its constructors and
 * methods by name and its constructors by type; and the union of all layers by id. Parsed on first
 * use, so a process whose clients all speak the newest layer never parses them.
 */
import { DEFINITIONS, LAYERS, LAYER_DELTAS, MTPROTO_DEFINITIONS } from './generated/layers.js'
import { parseEntry, type TlEntry } from './parser/parse.js'

/** Every vendored layer, oldest first. */
export const VENDORED_LAYERS: readonly number[] = LAYERS
/** The layer compiled into schema.ts: what handlers read and write. */
export const NEWEST_LAYER: number = LAYERS[LAYERS.length - 1]!
export const OLDEST_LAYER: number = LAYERS[0]!

function parseLine(line: string): TlEntry {
  return parseEntry(line.slice(2), line.startsWith('m ') ? 'method' : 'constructor', 0)
}

let definitions: TlEntry[] | undefined
let mtproto: TlEntry[] | undefined

function allDefinitions(): TlEntry[] {
  return (definitions ??= DEFINITIONS.map(parseLine))
}

/** One layer's constructors and methods (mtproto.tl's included: they are the same in every layer). */
export class LayerSchema {
  readonly byName = new Map<string, TlEntry>()
  /** Constructors by result type, in schema order. */
  readonly types = new Map<string, TlEntry[]>()

  constructor(
    readonly layer: number,
    entries: Iterable<TlEntry>,
  ) {
    for (const e of entries) {
      this.byName.set(e.name, e)
      if (e.kind !== 'constructor') continue
      let list = this.types.get(e.result)
      if (list === undefined) this.types.set(e.result, (list = []))
      list.push(e)
    }
  }

  /** The constructor `name` of this layer, if it is one of `type`. */
  constructorOf(name: string, type: string): TlEntry | undefined {
    const e = this.byName.get(name)
    return e !== undefined && e.kind === 'constructor' && e.result === type ? e : undefined
  }
}

const schemas = new Map<number, LayerSchema>()

/** The schema of a vendored layer (RangeError for any other). */
export function layerSchema(layer: number): LayerSchema {
  const hit = schemas.get(layer)
  if (hit !== undefined) return hit
  const at = LAYERS.indexOf(layer)
  if (at < 0) throw new RangeError(`TL layer ${layer} is not vendored (${OLDEST_LAYER}…${NEWEST_LAYER})`)
  const member = new Set<number>()
  for (let i = 0; i <= at; i++) {
    const [added, removed] = LAYER_DELTAS[i]!
    for (const x of removed) member.delete(x)
    for (const x of added) member.add(x)
  }
  const defs = allDefinitions()
  mtproto ??= MTPROTO_DEFINITIONS.map(parseLine)
  const s = new LayerSchema(layer, [...mtproto, ...[...member].sort((a, b) => a - b).map((i) => defs[i]!)])
  schemas.set(layer, s)
  return s
}

/**
 * `flags.N?true` fields are not part of a constructor id, so one id can carry different true-flags in
 * different layers. Merged so that one decoder per id keeps every flag any layer defines; a bit
 * already used under another name is kept as is.
 */
export function mergeTrueFlags(into: TlEntry, other: TlEntry): TlEntry {
  let merged = into
  for (const a of other.args) {
    if (!a.cond || a.type !== 'true') continue
    if (merged.args.some((b) => b.name === a.name)) continue
    if (merged.args.some((b) => b.cond && b.cond.field === a.cond!.field && b.cond.bit === a.cond!.bit)) continue
    const flagsAt = merged.args.findIndex((b) => b.name === a.cond!.field && b.type === '#')
    if (flagsAt < 0) continue
    if (merged === into) merged = { ...into, args: [...into.args] }
    let at = flagsAt + 1
    while (at < merged.args.length && merged.args[at]!.cond?.field === a.cond.field && merged.args[at]!.type === 'true') at++
    merged.args.splice(at, 0, { ...a })
  }
  return merged
}

let union: Map<number, TlEntry> | undefined

/** Every id of every vendored API layer → its definition (true-flags of the layers sharing it merged). */
export function unionById(): Map<number, TlEntry> {
  if (union !== undefined) return union
  union = new Map<number, TlEntry>()
  for (const e of allDefinitions()) {
    const known = union.get(e.id)
    union.set(e.id, known === undefined ? e : mergeTrueFlags(known, e))
  }
  return union
}
