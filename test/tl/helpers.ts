import { repoRoot, buildModel } from '../../src/tl/gen/cli.js'
import type { TlEntry } from '../../src/tl/parser/parse.js'

export const ROOT = repoRoot()

/** mtproto.tl + the newest vendored layer as the generator sees them (deduplicated by id). */
export function mainEntries(): TlEntry[] {
  return buildModel(ROOT).main
}
