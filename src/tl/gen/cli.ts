/**
 * Regenerates src/tl/generated/ from schema/*.tl:   node dist/src/tl/gen/cli.js
 * (run from anywhere; paths are resolved from the repository root).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join, resolve } from 'node:path'
import { parseEntry, parseSchema, type TlEntry } from '../parser/parse.js'
import { generateExtra, generateIds, generateMain, hexId } from './generate.js'

export const DEFAULT_LAYER = 222
export const MTPROTO_SCHEMA = 'mtproto.tl'
export const MAIN_SCHEMAS = [MTPROTO_SCHEMA, `api-${DEFAULT_LAYER}.tl`]
export const EXTRA_LAYERS = [198, 223, 227]

export function repoRoot(): string {
  // dist*/src/tl/gen/cli.js or src/tl/gen/cli.ts → four levels up (dist) / three (src)
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) {
    try {
      readFileSync(join(dir, 'schema', 'mtproto.tl'))
      return dir
    } catch {
      dir = resolve(dir, '..')
    }
  }
  throw new Error('cannot find schema/mtproto.tl above ' + fileURLToPath(import.meta.url))
}

export function loadSchema(root: string, file: string): TlEntry[] {
  return parseSchema(readFileSync(join(root, 'schema', file), 'utf8')).entries
}

/** `//name#id args = Type; // parsed manually`: a definition the schema keeps as a comment. */
const MANUAL_LINE = /^\s*\/\/\s*([a-zA-Z][\w.]*#[0-9a-fA-F]{1,8}\s[^;]*);\s*\/\/\s*parsed manually\b/

/**
 * The structures a schema declares only in comments because they are parsed by hand (mtproto.tl:
 * rpc_result, msg_container, msg_copy, gzip_packed). Only those with a stated id are returned, and
 * that id must match the one computed from the definition.
 */
export function parseManualEntries(text: string, file = 'schema'): TlEntry[] {
  const out: TlEntry[] = []
  text.split(/\r?\n/).forEach((line, i) => {
    const m = MANUAL_LINE.exec(line)
    if (!m) return
    const e = parseEntry(m[1]!, 'constructor', i + 1)
    if (e.statedId !== e.computedId) {
      throw new Error(`${file} line ${i + 1}: ${e.name} states #${hexId(e.id)} but its definition hashes to #${hexId(e.computedId)}`)
    }
    out.push(e)
  })
  return out
}

/**
 * `flags.N?true` fields are not part of a constructor id, so one id can carry different true-flags in
 * different layers (chatAdminRights gained manage_ranks in 223 under the same id). Merge them so the
 * union decoder keeps every flag any layer defines. A bit already used under another name is kept as is.
 */
export function mergeTrueFlags(into: TlEntry, other: TlEntry): void {
  for (const a of other.args) {
    if (!a.cond || a.type !== 'true') continue
    if (into.args.some((b) => b.name === a.name)) continue
    if (into.args.some((b) => b.cond && b.cond.field === a.cond!.field && b.cond.bit === a.cond!.bit)) continue
    const flagsAt = into.args.findIndex((b) => b.name === a.cond!.field && b.type === '#')
    if (flagsAt < 0) continue
    let at = flagsAt + 1
    while (at < into.args.length && into.args[at]!.cond?.field === a.cond.field && into.args[at]!.type === 'true') at++
    into.args.splice(at, 0, { ...a })
  }
}

export interface TlModel {
  /** mtproto + default layer, deduplicated by id, with true-flags merged from the other layers. */
  main: TlEntry[]
  /** Constructors of other layers whose ids the default layer lacks. */
  extra: TlEntry[]
  /** Per extra layer: (name, id) pairs that encode differently from the default layer. */
  layers: Record<number, [string, number][]>
  /** The entries of `main` that come from mtproto.tl (their ids are the same in every layer). */
  mtproto: TlEntry[]
  /** What mtproto.tl declares in comments as parsed by hand: ids only, no codecs. */
  manual: TlEntry[]
}

export function buildModel(root: string): TlModel {
  const main: TlEntry[] = []
  const mtproto: TlEntry[] = []
  const byId = new Map<number, TlEntry>()
  const ids = { has: (id: number) => byId.has(id) }
  for (const f of MAIN_SCHEMAS) {
    for (const e of loadSchema(root, f)) {
      if (ids.has(e.id)) continue
      byId.set(e.id, e)
      main.push(e)
      if (f === MTPROTO_SCHEMA) mtproto.push(e)
    }
  }
  const manual = parseManualEntries(readFileSync(join(root, 'schema', MTPROTO_SCHEMA), 'utf8'), MTPROTO_SCHEMA)
  const mainByName = new Map(main.map((e) => [e.name, e.id]))
  const extra: TlEntry[] = []
  const layers: Record<number, [string, number][]> = {}
  for (const layer of EXTRA_LAYERS) {
    const pairs: [string, number][] = []
    for (const e of loadSchema(root, `api-${layer}.tl`)) {
      if (mainByName.get(e.name) !== e.id) pairs.push([e.name, e.id])
      const known = byId.get(e.id)
      if (known) {
        mergeTrueFlags(known, e)
        continue
      }
      byId.set(e.id, e)
      extra.push(e)
    }
    layers[layer] = pairs
  }
  return { main, extra, layers, mtproto, manual }
}

export function generateAll(root: string): Record<string, string> {
  const { main, extra, layers, mtproto, manual } = buildModel(root)
  const fromMtproto = new Set(mtproto)
  const api = main.filter((e) => !fromMtproto.has(e))
  return {
    'schema.ts': generateMain(main),
    'extra.ts': generateExtra(extra, main, layers),
    'ids.ts': generateIds(mtproto, manual, api, DEFAULT_LAYER),
  }
}

function main(): void {
  const root = repoRoot()
  const outDir = join(root, 'src', 'tl', 'generated')
  mkdirSync(outDir, { recursive: true })
  for (const [name, text] of Object.entries(generateAll(root))) {
    writeFileSync(join(outDir, name), text)
    process.stderr.write(`wrote ${join(outDir, name)} (${text.length} chars)\n`)
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main()
