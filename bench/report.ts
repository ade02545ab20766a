import { readFileSync } from 'node:fs'
import { loadavg } from 'node:os'

/** Above this 1-minute load average at a bench's start the machine was not quiet: its figures are marked. */
export const QUIET_LOAD = 1.5
/**
 * Above this share of CPU time taken by the hypervisor for other guests ("steal") while the bench
 * ran, the machine was not quiet either: on a shared host a busy neighbour slows every process of
 * the bench at once, which the load average does not show.
 */
export const QUIET_STEAL = 0.05

/** The 1-minute load average when the bench process started (before it loaded the machine itself). */
const loadAtStart = loadavg()[0]!

/** The aggregate "cpu" line of a /proc/stat text: total and steal jiffies. */
export function cpuTimes(procStat: string): { total: number; steal: number } | undefined {
  const line = procStat.split('\n').find((l) => l.startsWith('cpu '))
  if (line === undefined) return undefined
  // user nice system idle iowait irq softirq steal [guest guest_nice, already counted in user/nice]
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number)
  if (f.length < 8 || f.some((x) => !Number.isFinite(x))) return undefined
  return { total: f.reduce((a, b) => a + b, 0), steal: f[7]! }
}

function readCpuTimes(): { total: number; steal: number } | undefined {
  try {
    return cpuTimes(readFileSync('/proc/stat', 'latin1'))
  } catch {
    return undefined // not Linux
  }
}

const cpuAtStart = readCpuTimes()

/** The share of CPU time stolen by the hypervisor since the bench process started; undefined off Linux. */
export function stealSinceStart(): number | undefined {
  const now = readCpuTimes()
  if (now === undefined || cpuAtStart === undefined) return undefined
  // less than a clock tick since the start: nothing measurable was stolen
  return now.total > cpuAtStart.total ? (now.steal - cpuAtStart.steal) / (now.total - cpuAtStart.total) : 0
}

/** One benchmark figure, printed as one JSON line on stdout. */
export interface Figure {
  bench: string
  value: number
  unit: string
  baseline?: string
  baseline_value?: number
  ratio?: number
  [extra: string]: unknown
}

/**
 * Prints one figure. Every figure carries the load average at the bench's start (`load_start`),
 * at the moment it is reported (`load_now`, which includes the bench's own load), the share of CPU
 * time the hypervisor stole since the bench started (`steal`, Linux) and `quiet`: false when the
 * machine was already busy (load_start > QUIET_LOAD) or shared (steal > QUIET_STEAL), and the
 * figure is suspect.
 */
export function report(f: Figure): void {
  const steal = stealSinceStart()
  const quiet = loadAtStart <= QUIET_LOAD && (steal === undefined || steal <= QUIET_STEAL)
  const out: Figure = { ...f, load_start: round(loadAtStart), load_now: round(loadavg()[0]!), ...(steal === undefined ? {} : { steal: round(steal) }), quiet }
  if (out.ratio === undefined && out.baseline_value) out.ratio = round(out.value / out.baseline_value)
  out.value = round(out.value)
  if (out.baseline_value !== undefined) out.baseline_value = round(out.baseline_value)
  process.stdout.write(JSON.stringify(out) + '\n')
}

function round(x: number): number {
  return Math.abs(x) >= 100 ? Math.round(x * 10) / 10 : Math.round(x * 1000) / 1000
}

/** The element of `xs` whose `by` is the median (the lower middle one for an even count). */
export function medianBy<T>(xs: readonly T[], by: (x: T) => number): T {
  return [...xs].sort((a, b) => by(a) - by(b))[(xs.length - 1) >> 1]!
}

/** Runs fn repeatedly for at least `ms` milliseconds; returns operations per second. */
export function opsPerSec(fn: () => void, ms = 1000): number {
  for (let i = 0; i < 10; i++) fn()
  let n = 0
  const start = process.hrtime.bigint()
  const limit = BigInt(ms) * 1_000_000n
  let elapsed = 0n
  while (elapsed < limit) {
    for (let i = 0; i < 16; i++) fn()
    n += 16
    elapsed = process.hrtime.bigint() - start
  }
  return n / (Number(elapsed) / 1e9)
}
