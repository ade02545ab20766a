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

export function report(f: Figure): void {
  const out: Figure = { ...f }
  if (out.ratio === undefined && out.baseline_value) out.ratio = round(out.value / out.baseline_value)
  out.value = round(out.value)
  if (out.baseline_value !== undefined) out.baseline_value = round(out.baseline_value)
  process.stdout.write(JSON.stringify(out) + '\n')
}

function round(x: number): number {
  return Math.abs(x) >= 100 ? Math.round(x * 10) / 10 : Math.round(x * 1000) / 1000
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
