import { test } from 'node:test'
import assert from 'node:assert/strict'
import { cpuTimes, medianBy, QUIET_LOAD, QUIET_STEAL, report } from '../../bench/report.js'

function captured(f: () => void): string[] {
  const lines: string[] = []
  const write = process.stdout.write
  process.stdout.write = ((chunk: string) => (lines.push(chunk), true)) as typeof process.stdout.write
  try {
    f()
  } finally {
    process.stdout.write = write
  }
  return lines
}

test('report prints one JSON line with the ratio and the machine load it was taken under', () => {
  const [line, ...rest] = captured(() => report({ bench: 'x.rate', value: 1234.56, unit: 'ops/s', baseline: 'limit', baseline_value: 2469.12 }))
  assert.equal(rest.length, 0)
  assert.ok(line!.endsWith('\n'))
  const f = JSON.parse(line!) as Record<string, unknown>
  assert.equal(f.bench, 'x.rate')
  assert.equal(f.value, 1234.6)
  assert.equal(f.ratio, 0.5)
  assert.equal(typeof f.load_start, 'number')
  assert.equal(typeof f.load_now, 'number')
  assert.equal(typeof f.steal, 'number', 'Linux: the share of CPU time stolen meanwhile')
  assert.equal(f.quiet, (f.load_start as number) <= QUIET_LOAD && (f.steal as number) <= QUIET_STEAL)
})

test('cpuTimes reads the aggregate line of /proc/stat: total jiffies (guest time not counted twice) and steal', () => {
  const stat = 'cpu  2520445 25620 301764 3434464 22574 0 44171 32982 100 0\ncpu0 1 2 3 4 5 6 7 8 0 0\nintr 1\n'
  assert.deepEqual(cpuTimes(stat), { total: 2520445 + 25620 + 301764 + 3434464 + 22574 + 0 + 44171 + 32982, steal: 32982 })
  assert.equal(cpuTimes('cpu0 1 2 3 4 5 6 7 8\n'), undefined)
  assert.equal(cpuTimes('cpu  1 2 3\n'), undefined)
})

test('medianBy: the element whose key is the median, the lower middle one for an even count; the input is left as it was', () => {
  const runs = [{ r: 5 }, { r: 1 }, { r: 9 }]
  assert.deepEqual(medianBy(runs, (x) => x.r), { r: 5 })
  assert.deepEqual(medianBy([...runs, { r: 7 }], (x) => x.r), { r: 5 })
  assert.deepEqual(runs, [{ r: 5 }, { r: 1 }, { r: 9 }])
  assert.deepEqual(medianBy([{ r: 3 }], (x) => x.r), { r: 3 })
})
