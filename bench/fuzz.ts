/**
 * Fuzz bench: a seeded run of FUZZ_INPUTS (default 1,000,000) inputs per target of
 * test/helpers/fuzz-targets.ts (framer, obfuscation, unencrypted, tl, envelope), each target in a
 * worker thread under a watchdog.
 *   npm run bench -- fuzz
 *   FUZZ_INPUTS=20000 FUZZ_TARGETS=tl,envelope FUZZ_SEED=7 npm run bench -- fuzz
 *   FUZZ_REPRO=tl:1:12345 npm run bench -- fuzz        (replay one input by target:seed:index)
 *   FUZZ_SELFTEST_HANG=500 FUZZ_INPUTS=2000 npm run bench -- fuzz   (input 500 spins 2 s: checks the watchdog)
 *
 * Per target: inputs, crashes (an exception the target does not allow), hangs (one input running
 * > FUZZ_HANG_MS, default 1000 ms: the worker is killed, the input is logged as hex, the run goes
 * on from the next index), inputs/s against a crc32 pass over the same inputs in the same run,
 * the slowest input, and heap/RSS growth between warm-up and the end (after a full GC).
 * JSON lines on stdout (bench/report.ts), logs on stderr; exit code 1 on any crash or hang.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { performance } from 'node:perf_hooks'
import v8 from 'node:v8'
import vm from 'node:vm'
import { crc32 } from '../src/util/crc32.js'
import { describeError, FUZZ_TARGETS, replay, rngFor, runOne, targetByName } from '../test/helpers/fuzz-targets.js'
import { report } from './report.js'

const INPUT_CAP = 4 * 1024 * 1024
/** Shared slots: [0] index of the input running, [1] its length, [2] 1 while an input runs. */
const SLOT_INDEX = 0
const SLOT_LEN = 1
const SLOT_BUSY = 2

interface Job {
  target: string
  seed: number
  from: number
  count: number
  warmup: number
  ctl: SharedArrayBuffer
  input: SharedArrayBuffer
}

interface Segment {
  inputs: number
  crashes: number
  runMs: number
  baselineMs: number
  slowestMs: number
  slowestIndex: number
  heapGrowthMb: number | null
  rssGrowthMb: number | null
}

type FromWorker =
  | { type: 'crash'; index: number; error: string; inputHex: string }
  | { type: 'done'; segment: Segment }

function mb(n: number): number {
  return n / (1024 * 1024)
}

// ------------------------------------------------------------------------------------------- worker

async function workerMain(job: Job): Promise<void> {
  v8.setFlagsFromString('--expose-gc')
  const gc = vm.runInNewContext('gc') as () => void
  const t = targetByName(job.target)
  const ctl = new Int32Array(job.ctl)
  const inputView = new Uint8Array(job.input)
  const BATCH = 256
  const seg: Segment = { inputs: 0, crashes: 0, runMs: 0, baselineMs: 0, slowestMs: 0, slowestIndex: -1, heapGrowthMb: null, rssGrowthMb: null }
  let heap0 = -1
  let rss0 = -1
  let sink = 0
  const batch: Buffer[] = []
  const rngs: ReturnType<typeof rngFor>[] = []
  const end = job.from + job.count
  const selftestHang = process.env.FUZZ_SELFTEST_HANG === undefined ? -1 : Number(process.env.FUZZ_SELFTEST_HANG)
  for (let i = job.from; i < end; i += BATCH) {
    const n = Math.min(BATCH, end - i)
    batch.length = 0
    rngs.length = 0
    for (let j = 0; j < n; j++) {
      const rng = rngFor(job.seed, i + j)
      batch.push(t.generate(rng))
      rngs.push(rng)
    }
    for (let j = 0; j < n; j++) {
      const input = batch[j]!
      inputView.set(input.length <= INPUT_CAP ? input : input.subarray(0, INPUT_CAP))
      Atomics.store(ctl, SLOT_LEN, input.length)
      Atomics.store(ctl, SLOT_INDEX, i + j)
      Atomics.store(ctl, SLOT_BUSY, 1)
      const t0 = performance.now()
      if (i + j === selftestHang) while (performance.now() - t0 < 2000);
      const e = runOne(t, input, rngs[j]!)
      const dt = performance.now() - t0
      Atomics.store(ctl, SLOT_BUSY, 0)
      seg.runMs += dt
      if (dt > seg.slowestMs) {
        seg.slowestMs = dt
        seg.slowestIndex = i + j
      }
      if (e !== undefined) {
        seg.crashes++
        parentPort!.postMessage({ type: 'crash', index: i + j, error: describeError(e), inputHex: input.toString('hex') } satisfies FromWorker)
      }
    }
    // Baseline: crc32 over the same inputs.
    const b0 = performance.now()
    for (let j = 0; j < n; j++) sink ^= crc32(batch[j]!)
    seg.baselineMs += performance.now() - b0
    seg.inputs += n
    // Let the event loop turn, as it does between packets in the server: node's zlib *Sync calls
    // that fail release their handles on the next tick, so a loop that never yields would
    // accumulate them (~2 KB heap + ~9 KB RSS per failed inflate) and show false growth.
    await new Promise<void>((resolve) => setImmediate(resolve))
    if (heap0 < 0 && seg.inputs >= job.warmup) {
      gc()
      gc()
      heap0 = v8.getHeapStatistics().used_heap_size
      rss0 = process.memoryUsage().rss
    }
  }
  batch.length = 0
  await new Promise<void>((resolve) => setImmediate(resolve))
  if (heap0 >= 0) {
    gc()
    gc()
    seg.heapGrowthMb = mb(v8.getHeapStatistics().used_heap_size - heap0)
    seg.rssGrowthMb = mb(process.memoryUsage().rss - rss0)
  }
  if (sink === 0x12345678) process.stderr.write('') // keep the baseline from being optimised away
  parentPort!.postMessage({ type: 'done', segment: seg } satisfies FromWorker)
}

// --------------------------------------------------------------------------------------------- main

interface Totals extends Segment {
  hangs: number
  wallMs: number
}

function runSegment(job: Job, hangMs: number, totals: Totals): Promise<{ hungAt: number | null }> {
  return new Promise((resolve, reject) => {
    const ctl = new Int32Array(job.ctl)
    Atomics.store(ctl, SLOT_INDEX, -1)
    Atomics.store(ctl, SLOT_BUSY, 0)
    const w = new Worker(new URL(import.meta.url), { workerData: job })
    let lastIndex = -2
    let since = performance.now()
    let settled = false
    const watchdog = setInterval(() => {
      const idx = Atomics.load(ctl, SLOT_INDEX)
      const busy = Atomics.load(ctl, SLOT_BUSY) === 1
      const now = performance.now()
      if (idx !== lastIndex || !busy) {
        lastIndex = idx
        since = now
        return
      }
      if (now - since <= hangMs) return
      // One input has been running for more than hangMs: a hang.
      clearInterval(watchdog)
      settled = true
      const len = Atomics.load(ctl, SLOT_LEN)
      const input = Buffer.from(new Uint8Array(job.input, 0, Math.min(len, INPUT_CAP)))
      totals.hangs++
      process.stderr.write(
        `fuzz ${job.target}: HANG seed ${job.seed} index ${idx} (> ${hangMs} ms), input ${len} bytes${len > INPUT_CAP ? ' (truncated)' : ''}:\n${input.toString('hex')}\n`,
      )
      void w.terminate().then(() => resolve({ hungAt: idx }))
    }, 50)
    w.on('message', (m: FromWorker) => {
      if (m.type === 'crash') {
        totals.crashes++
        if (totals.crashes <= 20) process.stderr.write(`fuzz ${job.target}: CRASH seed ${job.seed} index ${m.index}: ${m.error}\n  input ${m.inputHex}\n`)
        return
      }
      const s = m.segment
      totals.inputs += s.inputs
      totals.runMs += s.runMs
      totals.baselineMs += s.baselineMs
      if (s.slowestMs > totals.slowestMs) {
        totals.slowestMs = s.slowestMs
        totals.slowestIndex = s.slowestIndex
      }
      if (s.heapGrowthMb !== null) totals.heapGrowthMb = Math.max(totals.heapGrowthMb ?? -Infinity, s.heapGrowthMb)
      if (s.rssGrowthMb !== null) totals.rssGrowthMb = Math.max(totals.rssGrowthMb ?? -Infinity, s.rssGrowthMb)
    })
    w.on('error', (e) => {
      if (settled) return
      settled = true
      clearInterval(watchdog)
      reject(e)
    })
    w.on('exit', () => {
      if (settled) return
      settled = true
      clearInterval(watchdog)
      resolve({ hungAt: null })
    })
  })
}

async function fuzzTarget(name: string, seed: number, inputs: number, hangMs: number): Promise<Totals> {
  const totals: Totals = { inputs: 0, crashes: 0, runMs: 0, baselineMs: 0, slowestMs: 0, slowestIndex: -1, heapGrowthMb: null, rssGrowthMb: null, hangs: 0, wallMs: 0 }
  const ctl = new SharedArrayBuffer(16)
  const input = new SharedArrayBuffer(INPUT_CAP)
  const warmup = Math.min(inputs, Math.max(2000, Math.floor(inputs / 20)))
  const t0 = performance.now()
  let from = 0
  while (from < inputs) {
    const { hungAt } = await runSegment({ target: name, seed, from, count: inputs - from, warmup, ctl, input }, hangMs, totals)
    if (hungAt === null) break
    // The inputs before the hang ran but their segment never reported: count them, go on after it.
    totals.inputs += hungAt + 1 - from
    from = hungAt + 1
  }
  totals.wallMs = performance.now() - t0
  return totals
}

async function main(): Promise<void> {
  const repro = process.env.FUZZ_REPRO
  if (repro) {
    const [name, seed, index] = repro.split(':')
    const t = targetByName(name!)
    const { input, crash } = replay(t, Number(seed), Number(index), process.env.FUZZ_INPUT_HEX)
    process.stderr.write(`fuzz ${name} seed ${seed} index ${index}: ${input.length} bytes\n${input.toString('hex')}\n`)
    process.stderr.write(crash === undefined ? 'no crash\n' : `CRASH: ${describeError(crash)}\n`)
    process.exitCode = crash === undefined ? 0 : 1
    return
  }
  const inputs = Number(process.env.FUZZ_INPUTS ?? 1_000_000)
  const seed = Number(process.env.FUZZ_SEED ?? 1)
  const hangMs = Number(process.env.FUZZ_HANG_MS ?? 1000)
  const names = process.env.FUZZ_TARGETS ? process.env.FUZZ_TARGETS.split(',') : FUZZ_TARGETS.map((t) => t.name)
  let bad = 0
  for (const name of names) {
    const t = targetByName(name)
    process.stderr.write(`fuzz ${name}: ${inputs} inputs, seed ${seed}, allowed: ${t.allowed.join(', ')}\n`)
    const r = await fuzzTarget(name, seed, inputs, hangMs)
    process.stderr.write(
      `fuzz ${name}: ${r.inputs} inputs in ${(r.wallMs / 1000).toFixed(1)} s wall (${(r.runMs / 1000).toFixed(1)} s in the decoders), ${r.crashes} crashes, ${r.hangs} hangs, slowest input ${r.slowestMs.toFixed(1)} ms (index ${r.slowestIndex})\n`,
    )
    const base = `fuzz.${name}`
    report({ bench: `${base}.inputs`, value: r.inputs, unit: 'count', seed })
    report({
      bench: `${base}.inputs_per_s`,
      value: r.inputs / (r.runMs / 1000),
      unit: 'inputs/s',
      baseline: 'crc32 over the same inputs',
      baseline_value: r.inputs / (r.baselineMs / 1000),
    })
    report({ bench: `${base}.crashes`, value: r.crashes, unit: 'count' })
    report({ bench: `${base}.hangs`, value: r.hangs, unit: 'count', hang_ms: hangMs })
    report({ bench: `${base}.slowest_input_ms`, value: r.slowestMs, unit: 'ms', index: r.slowestIndex })
    report({ bench: `${base}.heap_growth_mb`, value: r.heapGrowthMb ?? 0, unit: 'MB', rss_growth_mb: Math.round((r.rssGrowthMb ?? 0) * 10) / 10 })
    bad += r.crashes + r.hangs
  }
  if (bad > 0) {
    process.stderr.write(`fuzz: ${bad} crashes/hangs\n`)
    process.exitCode = 1
  }
}

if (isMainThread) await main()
else await workerMain(workerData as Job)
