import { repoRoot, buildModel } from '../../src/tl/gen/cli.js'
import type { TlEntry } from '../../src/tl/parser/parse.js'

export const ROOT = repoRoot()

/** mtproto.tl + api-222.tl as the generator sees them (deduplicated by id, true-flags merged). */
export function mainEntries(): TlEntry[] {
  return buildModel(ROOT).main
}
