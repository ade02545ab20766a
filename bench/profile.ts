/**
 * CPU profiles of bench phases, taken when MTGATE_BENCH_PROFILE names a directory: V8's sampling
 * profiler (node:inspector) over one phase, written there as a .cpuprofile (Chrome DevTools,
 * speedscope) and summarised into the phase's figure as `profile`: where the time went by area
 * (idle, GC, mtgate's layers, each dependency, Node's internals, native code) and the functions
 * with the most self time. Profiling costs a few percent of CPU, so figures taken with it are
 * marked (`profiled: true`) and it is off by default.
 */
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { join } from 'node:path'

/** Where profiles go, or undefined when phases are not profiled. */
export const PROFILE_DIR = process.env.MTGATE_BENCH_PROFILE || undefined

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}
interface ProfileNode {
  id: number
  callFrame: CallFrame
}
/** The parts of a V8 CPU profile the summary reads. */
export interface CpuProfile {
  nodes: ProfileNode[]
  samples?: number[]
  timeDeltas?: number[]
  startTime: number
  endTime: number
}

/** Where a phase's CPU time went: shares of the sampled time (0..1), largest first. */
export interface ProfileSummary {
  file?: string
  ms: number
  /** Share of samples by area: '(idle)', '(garbage collector)', 'mtgate src/<dir>', a package, 'node:<module>', 'native'. */
  areas: Record<string, number>
  /** The functions with the most self time: "name (file:line)" → share. */
  top: Record<string, number>
}

/** The area a call frame belongs to (see ProfileSummary.areas). */
export function areaOf(f: CallFrame): string {
  const url = f.url
  if (url === '') return f.functionName.startsWith('(') ? f.functionName : 'native'
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
  if (pkg !== null) return pkg[1]!
  const own = /\/dist\/(src|bench|test)\/(?:([^/]+)\/)?[^/]+$/.exec(url)
  if (own !== null) return own[1] === 'src' ? `mtgate src/${own[2] ?? ''}` : own[1]!
  const internal = /^node:(?:internal\/)?([^/]+)/.exec(url)
  if (internal !== null) return `node:${internal[1]}`
  return 'other'
}

function label(f: CallFrame): string {
  if (f.url === '') return f.functionName || '(anonymous)'
  const file = f.url.replace(/^.*\/(dist|node_modules)\//, '').replace(/^file:\/\//, '')
  return `${f.functionName || '(anonymous)'} (${file}:${f.lineNumber + 1})`
}

const share = (n: number, total: number): number => Math.round((n / total) * 1000) / 1000

/** Shares of self time by area and the `topN` functions with the most (samples with no time are counted as one tick). */
export function summarize(p: CpuProfile, topN = 12): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const samples = p.samples ?? []
  const deltas = p.timeDeltas ?? []
  const areas = new Map<string, number>()
  const fns = new Map<string, number>()
  let total = 0
  for (let i = 0; i < samples.length; i++) {
    const node = byId.get(samples[i]!)
    if (node === undefined) continue
    const t = Math.max(1, deltas[i + 1] ?? deltas[i] ?? 1) // a sample's time runs until the next one
    total += t
    const a = areaOf(node.callFrame)
    areas.set(a, (areas.get(a) ?? 0) + t)
    const l = label(node.callFrame)
    fns.set(l, (fns.get(l) ?? 0) + t)
  }
  const ranked = (m: Map<string, number>, n: number): Record<string, number> =>
    Object.fromEntries([...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => [k, share(v, total || 1)]))
  return { ms: Math.round((p.endTime - p.startTime) / 1000), areas: ranked(areas, 14), top: ranked(fns, topN) }
}

/** A profile being taken in this process; stop() ends it, writes it to `file` (when given) and summarises it. */
export interface Profiling {
  stop(file?: string): Promise<ProfileSummary>
}

/** Starts profiling this process (sampling every `intervalUs`). */
export async function startProfile(intervalUs = 500): Promise<Profiling> {
  const s = new Session()
  s.connect()
  await s.post('Profiler.enable')
  await s.post('Profiler.setSamplingInterval', { interval: intervalUs })
  await s.post('Profiler.start')
  return {
    async stop(file) {
      try {
        const { profile } = (await s.post('Profiler.stop')) as { profile: CpuProfile }
        const summary = summarize(profile)
        if (file !== undefined) {
          writeFileSync(file, JSON.stringify(profile))
          summary.file = file
        }
        return summary
      } finally {
        s.disconnect()
      }
    },
  }
}

/** Where the profile of phase `name` goes: PROFILE_DIR/<name>.cpuprofile. */
export function profileFile(name: string): string {
  return join(PROFILE_DIR!, `${name.replace(/[^\w.-]+/g, '_')}.cpuprofile`)
}

/** Runs `fn` under a profile of this process named `name` when PROFILE_DIR is set and a name is given; the summary is undefined otherwise. */
export async function profiled<T>(name: string | undefined, fn: () => Promise<T>): Promise<{ value: T; profile?: ProfileSummary }> {
  if (PROFILE_DIR === undefined || name === undefined) return { value: await fn() }
  const p = await startProfile()
  let value: T
  try {
    value = await fn()
  } catch (e) {
    await p.stop().catch(() => undefined)
    throw e
  }
  return { value, profile: await p.stop(profileFile(name)) }
}

/** A figure's profile fields: the given summaries and `profiled: true` (the profiler's cost is in the figure), or nothing when none was taken. */
export function profileFields(fields: Record<string, ProfileSummary | undefined>): Record<string, unknown> {
  const taken = Object.entries(fields).filter(([, v]) => v !== undefined)
  return taken.length === 0 ? {} : { profiled: true, ...Object.fromEntries(taken) }
}
