/**
 * The fenced code blocks of README.md and the placeholders its snippets use.
 *
 * Placeholders (README "Pointing clients at it" says what each stands for):
 * - `<fingerprint>`: the 16 hex digits `mtgate serve` prints for its RSA key (`mtgate keys` too);
 * - `127.0.0.1` and `10443`: the address and port `serve` printed (its defaults);
 * - `<cwd>` (the banner only): the directory `serve` ran in.
 * A snippet reads `data/rsa/<fingerprint>.pub` relative to its working directory, as if run where
 * `serve` ran, so a test gives it such a directory instead of rewriting the path.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The worktree's root (this file runs as dist/test/readme/blocks.js). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..')
export const README = join(ROOT, 'README.md')

export interface Block {
  /** The info string after the opening fence ('' when none). */
  lang: string
  /** The block's text, ending with a newline. */
  body: string
  /** 1-based line of the opening fence in README.md. */
  line: number
  /** The heading the block is under. */
  section: string
}

/** Every fenced block of `markdown`, in order (throws on a fence that is never closed). */
export function fencedBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n')
  const blocks: Block[] = []
  let section = ''
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!
    const heading = /^#+\s+(.*)$/.exec(l)
    if (heading) section = heading[1]!
    const open = /^(`{3,}|~{3,})\s*([^`\s]*)/.exec(l)
    if (!open) continue
    const fence = open[1]!
    const start = i
    const body: string[] = []
    for (i++; i < lines.length && !lines[i]!.startsWith(fence); i++) body.push(lines[i]!)
    if (i >= lines.length) throw new Error(`README.md:${start + 1}: fence ${fence} is never closed`)
    blocks.push({ lang: open[2]!, body: body.join('\n') + '\n', line: start + 1, section })
  }
  return blocks
}

export function readmeBlocks(): Block[] {
  return fencedBlocks(readFileSync(README, 'utf8'))
}

export function where(b: Block): string {
  return `README.md:${b.line} (\`\`\`${b.lang}, under "${b.section}")`
}

/**
 * `body` with each key of `values` replaced by its value; throws when a key does not occur (a
 * snippet that lost its placeholder would otherwise run against the wrong address unnoticed).
 */
export function substitute(b: Block, values: Record<string, string>): string {
  let out = b.body
  for (const [from, to] of Object.entries(values)) {
    if (!out.includes(from)) throw new Error(`${where(b)} has no placeholder ${from}`)
    out = out.split(from).join(to)
  }
  return out
}
