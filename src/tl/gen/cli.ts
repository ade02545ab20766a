/**
 * Regenerates src/tl/generated/ from schema/*.tl:   node dist/src/tl/gen/cli.js
 * (run from anywhere; paths are resolved from the repository root).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join, resolve } from 'node:path'
import { parseEntry, parseSchema, type TlEntry } from '../parser/parse.js'
import { generateIds, generateMain, hexId } from './generate.js'
import { generateLayers } from './layers.js'
import { generateTeamgram } from './teamgram.js'

export const MTPROTO_SCHEMA = 'mtproto.tl'

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

/** Vendored API layers: schema/api-N.tl and schema/history/api-N.tl, by layer, oldest first. */
export function vendoredLayers(root: string): Map<number, string> {
  const found: [number, string][] = []
  for (const dir of ['', 'history']) {
    const abs = join(root, 'schema', dir)
    if (!existsSync(abs)) continue
    for (const f of readdirSync(abs)) {
      const m = /^api-(\d+)\.tl$/.exec(f)
      if (m) found.push([Number(m[1]), dir ? `${dir}/${f}` : f])
    }
  }
  found.sort((a, b) => a[0] - b[0])
  for (let i = 1; i < found.length; i++) {
    if (found[i]![0] === found[i - 1]![0]) throw new Error(`layer ${found[i]![0]} vendored twice: ${found[i - 1]![1]}, ${found[i]![1]}`)
  }
  return new Map(found)
}

export interface TlModel {
  /** The newest vendored layer: the one compiled into schema.ts, the handlers' world. */
  newest: number
  /** mtproto + the newest layer, deduplicated by id. */
  main: TlEntry[]
  /** The entries of `main` that come from mtproto.tl (their ids are the same in every layer). */
  mtproto: TlEntry[]
  /** What mtproto.tl declares in comments as parsed by hand: ids only, no codecs. */
  manual: TlEntry[]
  /** Every vendored layer's own entries (api-N.tl), by layer, oldest first. */
  layers: Map<number, TlEntry[]>
}

export function buildModel(root: string): TlModel {
  const files = vendoredLayers(root)
  if (files.size === 0) throw new Error('no schema/api-N.tl vendored')
  const layers = new Map<number, TlEntry[]>()
  for (const [layer, file] of files) layers.set(layer, loadSchema(root, file))
  const newest = Math.max(...files.keys())
  const main: TlEntry[] = []
  const mtproto: TlEntry[] = []
  const seen = new Set<number>()
  for (const [from, list] of [[MTPROTO_SCHEMA, loadSchema(root, MTPROTO_SCHEMA)], ['api', layers.get(newest)!]] as const) {
    for (const e of list) {
      if (seen.has(e.id)) continue
      seen.add(e.id)
      main.push(e)
      if (from === MTPROTO_SCHEMA) mtproto.push(e)
    }
  }
  const manual = parseManualEntries(readFileSync(join(root, 'schema', MTPROTO_SCHEMA), 'utf8'), MTPROTO_SCHEMA)
  return { newest, main, mtproto, manual, layers }
}

export function generateAll(root: string): Record<string, string> {
  const { newest, main, mtproto, manual, layers } = buildModel(root)
  const fromMtproto = new Set(mtproto)
  const api = main.filter((e) => !fromMtproto.has(e))
  return {
    'schema.ts': generateMain(main),
    'ids.ts': generateIds(mtproto, manual, api, newest),
    'layers.ts': generateLayers(mtproto, layers),
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
  const teamgram = generateTeamgram(root)
  writeFileSync(join(outDir, 'teamgram.ts'), teamgram)
  process.stderr.write(`wrote ${join(outDir, 'teamgram.ts')} (${teamgram.length} chars)\n`)
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main()
