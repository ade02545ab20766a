/**
 * V8 settings the mtgate processes run with: the CLI applies them first thing; benches that host a
 * server in their own process apply them too, so that they measure the server as it is run. A flag
 * given to node itself (command line or NODE_OPTIONS) wins over the one here with the same name.
 *
 * Both serve latency: a full (mark-compact) collection stops the server for 30–70 ms of marking
 * steps and compaction, and every query arriving meanwhile waits; young-generation scavenges take
 * 2–5 ms. A server's per-query objects die within milliseconds, so they should die young, and the
 * old generation should hold what lives long (sessions, keys, connections) with room to spare.
 *
 * `--no-allocation-site-pretenuring`: by default V8 allocates straight into the old generation the
 *   objects of an allocation site whose objects used to survive scavenges. Under a burst of load
 *   many queries wait at once, so most per-query sites (call contexts, promises, request objects,
 *   Buffer pool slabs) get that verdict and keep it after the burst: from then on every query's
 *   garbage is old garbage, and the ArrayBuffers among it count as external memory, which starts
 *   full collections of its own.
 * `--heap-growing-percent=300`: the next full collection starts when the old generation has grown
 *   to 4× what the last one left (V8 picks 1.1–4× from its speed estimates, often near the low end
 *   for a heap of tens of MB, so a busy server collected every 0.3–1 s). The few survivors of each
 *   scavenge then take seconds to fill it; the price is old garbage held that much longer.
 * In `npm run bench -- upstream` (paced phases after closed-loop ones, 2,800 queries/s): without
 * these flags a full collection every 0.3–1 s and a p99 of 30–60 ms; with them one every 6–7 s, and
 * a p99 of 4–8 ms in the phases between.
 */
import { setFlagsFromString } from 'node:v8'

export const V8_FLAGS: readonly string[] = ['--no-allocation-site-pretenuring', '--heap-growing-percent=300']

let applied: readonly string[] | undefined

/** Applies V8_FLAGS to this process, except those node was given itself (once); returns those applied. */
export function tuneV8(): readonly string[] {
  if (applied !== undefined) return applied
  const given = nodeFlagNames()
  applied = V8_FLAGS.filter((f) => !given.has(flagName(f)))
  for (const f of applied) setFlagsFromString(f)
  return applied
}

/** The V8 flag names node was started with (command line and NODE_OPTIONS), normalised. */
function nodeFlagNames(): Set<string> {
  const args = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]
  return new Set(args.filter((a) => a.startsWith('--')).map(flagName))
}

/** `--no-foo_bar=1` → `foo-bar`: V8 takes `_` for `-` and `--no-` for a false boolean. */
function flagName(arg: string): string {
  return arg.replace(/=.*$/, '').replace(/^--(no-)?/, '').replace(/_/g, '-')
}
