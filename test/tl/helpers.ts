import { repoRoot, loadSchema, MAIN_SCHEMAS } from '../../src/tl/gen/cli.js'
import type { TlEntry } from '../../src/tl/parser/parse.js'

export const ROOT = repoRoot()

/** mtproto.tl + api-222.tl, deduplicated by id, as the generator sees them. */
export function mainEntries(): TlEntry[] {
  const seen = new Set<number>()
  const out: TlEntry[] = []
  for (const f of MAIN_SCHEMAS) {
    for (const e of loadSchema(ROOT, f)) {
      if (seen.has(e.id)) continue
      seen.add(e.id)
      out.push(e)
    }
  }
  return out
}
