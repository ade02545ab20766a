/**
 * Regenerates src/tl/generated/ from schema/*.tl:   node dist/src/tl/gen/cli.js
 * (run from anywhere; paths are resolved from the repository root).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join, resolve } from 'node:path'
import { parseSchema, type TlEntry } from '../parser/parse.js'
import { generateExtra, generateMain } from './generate.js'

export const DEFAULT_LAYER = 222
export const MAIN_SCHEMAS = ['mtproto.tl', `api-${DEFAULT_LAYER}.tl`]
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

export function generateAll(root: string): Record<string, string> {
  const main: TlEntry[] = []
  const ids = new Set<number>()
  for (const f of MAIN_SCHEMAS) {
    for (const e of loadSchema(root, f)) {
      if (ids.has(e.id)) continue
      ids.add(e.id)
      main.push(e)
    }
  }
  const mainByName = new Map(main.map((e) => [e.name, e.id]))
  const extra: TlEntry[] = []
  const layers: Record<number, [string, number][]> = {}
  for (const layer of EXTRA_LAYERS) {
    const pairs: [string, number][] = []
    for (const e of loadSchema(root, `api-${layer}.tl`)) {
      if (mainByName.get(e.name) !== e.id) pairs.push([e.name, e.id])
      if (ids.has(e.id)) continue
      ids.add(e.id)
      extra.push(e)
    }
    layers[layer] = pairs
  }
  return {
    'schema.ts': generateMain(main),
    'extra.ts': generateExtra(extra, main, layers),
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
