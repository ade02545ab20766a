import { loadavg } from 'node:os'

/** Above this 1-minute load average at a bench's start the machine was not quiet: its figures are marked. */
export const QUIET_LOAD = 1.5

/** The 1-minute load average when the bench process started (before it loaded the machine itself). */
const loadAtStart = loadavg()[0]!

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
 * at the moment it is reported (`load_now`, which includes the bench's own load) and `quiet`:
 * false when the machine was already busy (load_start > QUIET_LOAD) and the figure is suspect.
 */
export function report(f: Figure): void {
  const out: Figure = { ...f, load_start: round(loadAtStart), load_now: round(loadavg()[0]!), quiet: loadAtStart <= QUIET_LOAD }
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
