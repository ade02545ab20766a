/**
 * Rebuilds TL schema text from the definitions array GramJS-family packages carry:
 *
 *   node dist/src/tl/gen/from-gramjs.js <definitions-module | package-dir> <layer> [--known old.tl ...]
 *
 * Input: `{ name, constructorId, argsConfig, result, isFunction, namespace? }` objects, as teleproto ≥ 1.x
 * ships them (`tl/generated/api-definitions.js`) and as GramJS (`telegram`) and older teleproto build them
 * at run time from `tl/apiTl.js` + `tl/schemaTl.js` with `tl/generationHelpers` parseTl. Those objects
 * keep the id, types, flags and result as written but camel-case the names (`messages.GetHistory`,
 * `md5Checksum`, `srp_B`), so each name is reconstructed from candidates (names of a known older schema
 * first, then every snake_case reading) and a definition is emitted only when the CRC32 of its line, as
 * `computeId` hashes it, equals its constructorId. A definition no candidate matches is an error.
 *
 * The hash does not cover `flags.N?true` arguments: their names take the known schema's name, else the
 * plain snake_case reading. It hashes a whole `bytes` type as `string`: that choice follows the source's
 * type field. Definitions of the MTProto service schema (by id, or by a result type that schema declares)
 * are dropped, and the built-ins Telegram's api.tl opens with (boolFalse … null) are written as the prelude.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseEntry, parseSchema, type TlEntry } from '../parser/parse.js'
import { repoRoot } from './cli.js'

export interface GramArg {
  isVector: boolean
  isFlag: boolean
  flagName: string | null
  flagIndex: number
  flagIndicator: boolean
  type: string | null
  useVectorId: boolean | null
  skipConstructorId?: boolean
}

export interface GramDefinition {
  name: string
  constructorId: number
  argsConfig: Record<string, GramArg>
  result: string
  isFunction: boolean
  namespace?: string
  subclassOfId?: number
}

export interface ConvertOptions {
  layer: number
  /** The MTProto service schema (schema/mtproto.tl): definitions with its ids or result types are dropped. */
  service?: TlEntry[]
  /** Older schemas whose names are tried first (and name the `?true` flags the hash does not cover). */
  known?: TlEntry[]
  /** Upper bound on the lines hashed for one definition before it is declared unmatched. */
  maxTries?: number
  /** Comment lines written first (without the `// `). */
  header?: string[]
}

export interface Conversion {
  text: string
  entries: TlEntry[]
  /** Service definitions left out, as `name#id`. */
  dropped: string[]
}

/** Telegram's api.tl starts with these; GramJS's parser skips them, so they are written here. */
export const PRELUDE = [
  'boolFalse#bc799737 = Bool;',
  'boolTrue#997275b5 = Bool;',
  'true#3fedd339 = True;',
  'vector#1cb5c415 {t:Type} # [ t ] = Vector t;',
  'error#c4b9f9bb code:int text:string = Error;',
  'null#56730bcc = Null;',
]

export class UnmatchedDefinitionError extends Error {
  constructor(
    readonly definition: string,
    detail: string,
  ) {
    super(`${definition}: ${detail}`)
  }
}

/** Case and underscores dropped: the key under which every camel-casing of one TL name meets. */
const fold = (s: string): string => s.replace(/_/g, '').toLowerCase()

/** Names of a known schema, by folded key: combinator names, per-combinator argument names, any argument name. */
export interface Dictionary {
  names: Map<string, string[]>
  argsOf: Map<string, Map<string, string>>
  args: Map<string, string[]>
}

function push(m: Map<string, string[]>, k: string, v: string): void {
  const l = m.get(k)
  if (!l) m.set(k, [v])
  else if (!l.includes(v)) l.push(v)
}

export function buildDictionary(known: TlEntry[]): Dictionary {
  const d: Dictionary = { names: new Map(), argsOf: new Map(), args: new Map() }
  for (const e of known) {
    push(d.names, fold(e.name), e.name)
    let own = d.argsOf.get(e.name)
    if (!own) d.argsOf.set(e.name, (own = new Map()))
    for (const a of e.args) {
      own.set(fold(a.name), a.name)
      push(d.args, fold(a.name), a.name)
    }
  }
  return d
}

/**
 * Every snake_case reading of a camel-cased name, plain reading first: an upper-case letter is `_x`
 * (`x` at the start or after `_`) or itself (`srp_B`, `A`, `M1`); a digit after a letter is itself or
 * `_N`. Ordered by how many positions leave the plain reading.
 */
export function snakeCandidates(camel: string, limit = 256): string[] {
  const choices: string[][] = []
  for (let i = 0; i < camel.length; i++) {
    const c = camel[i]!
    const prev = i > 0 ? camel[i - 1]! : ''
    if (/[A-Z]/.test(c)) {
      choices.push(prev === '' || prev === '_' || prev === '.' ? [c.toLowerCase(), c] : [`_${c.toLowerCase()}`, c])
    } else if (/[0-9]/.test(c) && /[a-zA-Z]/.test(prev)) {
      choices.push([c, `_${c}`])
    } else choices.push([c])
  }
  const out: string[] = []
  const varying = choices.filter((c) => c.length > 1).length
  for (let dev = 0; dev <= varying && out.length < limit; dev++) {
    const walk = (i: number, left: number, acc: string): void => {
      if (out.length >= limit) return
      if (i === choices.length) {
        if (left === 0) out.push(acc)
        return
      }
      const opts = choices[i]!
      walk(i + 1, left, acc + opts[0])
      if (left > 0) for (const o of opts.slice(1)) walk(i + 1, left - 1, acc + o)
    }
    walk(0, dev, '')
  }
  return out
}

const unique = (l: string[]): string[] => [...new Set(l)]

function nameCandidates(def: GramDefinition, dict: Dictionary): string[] {
  const local = def.name.charAt(0).toLowerCase() + def.name.slice(1)
  const full = def.namespace ? `${def.namespace}.${def.name}` : def.name
  const plain = def.namespace ? `${def.namespace}.${local}` : local
  return unique([...(dict.names.get(fold(full)) ?? []), plain])
}

function argCandidates(key: string, own: Map<string, string> | undefined, dict: Dictionary): string[] {
  const mine = own?.get(fold(key))
  return unique([...(mine ? [mine] : []), ...(dict.args.get(fold(key)) ?? []), ...snakeCandidates(key)])
}

/** The type as TL writes it, without the `flags.N?` condition. */
function argType(label: string, key: string, a: GramArg): string {
  if (a.flagIndicator) return '#'
  if (a.type === null || a.type === '') throw new UnmatchedDefinitionError(label, `argument ${key} has no type`)
  const base = /^[A-Z]$/.test(a.type) && !a.isVector ? `!${a.type}` : a.type
  if (!a.isVector) return base
  return `${a.useVectorId === false ? 'vector' : 'Vector'}<${base}>`
}

interface Slot {
  key: string
  type: string
  cond?: { key: string; bit: number }
  candidates: string[]
}

function lineOf(name: string, id: number, generics: string[], slots: Slot[], pick: number[], result: string): string {
  const nameOf = new Map(slots.map((s, i) => [s.key, s.candidates[pick[i]!]!]))
  const parts = [`${name}#${id.toString(16)}`, ...generics.map((g) => `{${g}:Type}`)]
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i]!
    const cond = s.cond ? `${nameOf.get(s.cond.key) ?? s.cond.key}.${s.cond.bit}?` : ''
    parts.push(`${s.candidates[pick[i]!]}:${cond}${s.type}`)
  }
  return `${parts.join(' ')} = ${result};`
}

/** Reconstructs one definition's TL line; throws unless some candidate line hashes to its constructorId. */
export function convertDefinition(def: GramDefinition, dict: Dictionary, maxTries = 4096): TlEntry {
  const id = def.constructorId >>> 0
  const label = `${def.namespace ? def.namespace + '.' : ''}${def.name}#${id.toString(16)}`
  const kind = def.isFunction ? 'method' : 'constructor'
  const names = nameCandidates(def, dict)
  const generics = new Set<string>()
  const slots: Slot[] = Object.entries(def.argsConfig).map(([key, a]) => {
    const type = argType(label, key, a)
    if (type.startsWith('!')) generics.add(type.slice(1))
    const slot: Slot = { key, type, candidates: [] }
    if (a.isFlag) {
      if (a.flagName === null || a.flagIndex < 0) throw new UnmatchedDefinitionError(label, `flag argument ${key} without flag field`)
      slot.cond = { key: a.flagName, bit: a.flagIndex }
    }
    return slot
  })
  for (const name of names) {
    const own = dict.argsOf.get(name)
    for (const s of slots) s.candidates = argCandidates(s.key, own, dict)
    // `?true` arguments are not hashed: only their first candidate is ever written.
    const varying = slots.map((s, i) => (s.cond && s.type === 'true' ? -1 : i)).filter((i) => i >= 0 && slots[i]!.candidates.length > 1)
    const pick = slots.map(() => 0)
    let tries = 0
    const found = (): TlEntry | undefined => {
      tries++
      const line = lineOf(name, id, [...generics], slots, pick, def.result)
      const e = parseEntry(line.slice(0, -1), kind, 0)
      return e.computedId === id ? e : undefined
    }
    // Search by total distance from the preferred names (sum of candidate ranks): 0, 1, 2, ...
    // `room[i]`: the most distance the slots from varying[i] on can still take.
    const room = varying.map(() => 0)
    for (let i = varying.length - 1; i >= 0; i--) room[i] = (room[i + 1] ?? 0) + slots[varying[i]!]!.candidates.length - 1
    const search = (at: number, left: number): TlEntry | undefined => {
      if (tries >= maxTries || left > (room[at] ?? 0)) return undefined
      if (at === varying.length) return found()
      const slot = varying[at]!
      const max = Math.min(left, slots[slot]!.candidates.length - 1)
      for (let k = 0; k <= max; k++) {
        pick[slot] = k
        const hit = search(at + 1, left - k)
        if (hit) return hit
      }
      pick[slot] = 0
      return undefined
    }
    for (let b = 0; b <= (room[0] ?? 0) && tries < maxTries; b++) {
      const hit = search(0, b)
      if (hit) return hit
    }
  }
  throw new UnmatchedDefinitionError(label, `no reconstruction of its line hashes to #${id.toString(16)} (names tried: ${names.join(', ')})`)
}

export function convertDefinitions(defs: GramDefinition[], opts: ConvertOptions): Conversion {
  const dict = buildDictionary(opts.known ?? [])
  const serviceIds = new Set((opts.service ?? []).map((e) => e.id))
  const serviceTypes = new Set((opts.service ?? []).map((e) => e.result))
  const preludeIds = new Set(parseSchema(PRELUDE.join('\n')).entries.map((e) => e.id))
  const dropped: string[] = []
  const out = { constructor: [] as TlEntry[], method: [] as TlEntry[] }
  const seen = new Map<number, string>()
  for (const def of defs) {
    const id = def.constructorId >>> 0
    const label = `${def.namespace ? def.namespace + '.' : ''}${def.name}#${id.toString(16)}`
    if (serviceIds.has(id) || serviceTypes.has(def.result)) {
      dropped.push(label)
      continue
    }
    if (preludeIds.has(id)) continue
    const e = convertDefinition(def, dict, opts.maxTries)
    const twin = seen.get(id)
    if (twin !== undefined) throw new UnmatchedDefinitionError(label, `id also used by ${twin}`)
    seen.set(id, label)
    out[e.kind].push(e)
  }
  const text = [
    ...(opts.header ?? []).map((l) => `// ${l}`),
    ...PRELUDE,
    ...out.constructor.map((e) => e.source),
    '',
    '---functions---',
    '',
    ...out.method.map((e) => e.source),
    '',
    `// LAYER ${opts.layer}`,
    '',
  ].join('\n')
  const parsed = parseSchema(text)
  for (const e of parsed.entries) {
    if (e.statedId !== e.computedId) throw new UnmatchedDefinitionError(e.name, 'emitted line does not hash to its id')
  }
  return { text, entries: parsed.entries, dropped }
}

/** The definitions a package (or one module) carries, in the order the package builds them. */
export function loadDefinitions(path: string): GramDefinition[] {
  const abs = resolve(path)
  const req = createRequire(join(abs, 'noop.js'))
  let defs: unknown
  if (!statSync(abs).isDirectory()) defs = createRequire(abs)(abs)
  else if (existsSync(join(abs, 'tl', 'generated', 'api-definitions.js'))) defs = req('./tl/generated/api-definitions.js')
  else if (existsSync(join(abs, 'tl', 'apiTl.js')) && existsSync(join(abs, 'tl', 'generationHelpers.js'))) {
    // GramJS tl/api.js loadFromTlSchemas: api constructors, service constructors, api functions, service functions.
    const { parseTl } = req('./tl/generationHelpers.js') as { parseTl: (t: string, layer: number) => Iterable<GramDefinition> }
    const parsed = [req('./tl/apiTl.js') as string, req('./tl/schemaTl.js') as string].map((t) => [...parseTl(t, 109)])
    defs = [false, true].flatMap((fn) => parsed.flatMap((p) => p.filter((d) => d.isFunction === fn)))
  } else throw new Error(`${abs}: neither tl/generated/api-definitions.js nor tl/apiTl.js + tl/generationHelpers.js`)
  if (!Array.isArray(defs) || !defs.every(isDefinition)) throw new Error(`${abs}: not an array of TL definitions`)
  return defs
}

function isDefinition(d: unknown): d is GramDefinition {
  const o = d as GramDefinition
  return typeof o === 'object' && o !== null && typeof o.name === 'string' && typeof o.constructorId === 'number' &&
    typeof o.argsConfig === 'object' && typeof o.result === 'string' && typeof o.isFunction === 'boolean'
}

/** Where the definitions come from, for the header: `teleproto 1.229.0 npm package (tl/generated/api-definitions.js)`. */
export function describeSource(path: string): string {
  const abs = resolve(path)
  if (!statSync(abs).isDirectory()) return abs.split(/[\\/]/).slice(-3).join('/')
  const pkg = JSON.parse(readFileSync(join(abs, 'package.json'), 'utf8')) as { name?: string; version?: string }
  const file = existsSync(join(abs, 'tl', 'generated', 'api-definitions.js'))
    ? 'tl/generated/api-definitions.js'
    : 'tl/apiTl.js + tl/schemaTl.js through its tl/generationHelpers parseTl'
  return `the ${pkg.name} ${pkg.version} npm package (${file})`
}

/** The LAYER a package states (tl/runtime/registry.js in teleproto ≥ 1.x, tl/AllTLObjects.js in GramJS). */
export function packageLayer(dir: string): number | undefined {
  for (const f of [join('tl', 'runtime', 'registry.js'), join('tl', 'AllTLObjects.js')]) {
    const p = join(dir, f)
    if (!existsSync(p)) continue
    const m = /\bLAYER\s*=\s*(\d+)\s*;/.exec(readFileSync(p, 'utf8'))
    if (m) return Number(m[1])
  }
  return undefined
}

function main(argv: string[]): void {
  const known: string[] = []
  const pos: string[] = []
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--known') known.push(argv[++i] ?? '')
    else pos.push(argv[i]!)
  }
  const [path, layerArg] = pos
  const layer = Number(layerArg)
  if (!path || !Number.isInteger(layer) || layer <= 0) {
    process.stderr.write('usage: from-gramjs.js <definitions-module | package-dir> <layer> [--known old.tl ...]\n')
    process.exit(2)
  }
  if (statSync(path).isDirectory()) {
    const stated = packageLayer(path)
    if (stated !== undefined && stated !== layer) throw new Error(`${path} states LAYER = ${stated}, not ${layer}`)
  }
  const service = parseSchema(readFileSync(join(repoRoot(), 'schema', 'mtproto.tl'), 'utf8')).entries
  const knownEntries = known.flatMap((f) => parseSchema(readFileSync(f, 'utf8')).entries)
  const header = [
    `Converted from ${describeSource(path)} by src/tl/gen/from-gramjs.ts:`,
    'every constructor id equals the CRC32 of its line; MTProto service definitions left out.',
  ]
  const r = convertDefinitions(loadDefinitions(path), { layer, service, known: knownEntries, header })
  process.stdout.write(r.text)
  const methods = r.entries.filter((e) => e.kind === 'method').length
  process.stderr.write(
    `layer ${layer}: ${r.entries.length - methods} constructors, ${methods} methods, every id verified; ` +
      `dropped ${r.dropped.length} service definitions: ${r.dropped.join(' ')}\n`,
  )
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2))
