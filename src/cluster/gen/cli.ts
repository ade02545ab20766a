/**
 * Regenerates src/cluster/generated/proto.ts from proto/*.proto:   npm run gen:proto
 * (node dist/src/cluster/gen/cli.js; run from anywhere: paths are resolved from the repository root).
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateProto } from './generate.js'

/** The repository root: the directory above this file holding proto/ and package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'proto')) && existsSync(join(dir, 'package.json'))) return dir
    dir = dirname(dir)
  }
  throw new Error('cannot find proto/ above ' + fileURLToPath(import.meta.url))
}

/** Where the generated module is written, relative to the repository root. */
export const OUTPUT = join('src', 'cluster', 'generated', 'proto.ts')

/** The generated module's text from every proto/*.proto (in name order). */
export function generateAll(root: string): string {
  const dir = join(root, 'proto')
  const names = readdirSync(dir)
    .filter((n) => n.endsWith('.proto'))
    .sort()
  return generateProto({ files: names.map((n) => join(dir, n)), labels: names.map((n) => `proto/${n}`), includeDirs: [dir] })
}

function main(): void {
  const root = repoRoot()
  const out = join(root, OUTPUT)
  const text = generateAll(root)
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, text)
  process.stderr.write(`wrote ${out} (${text.length} chars)\n`)
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main()
