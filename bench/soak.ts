/**
 * `npm run bench -- soak`: a soak test. SOAK_MINUTES (default 30) of mixed legitimate load plus
 * attacks against a real mtgate server, all on loopback (127.0.0.0/8 only), then one JSON line per
 * figure on stdout (bench/report.ts) and a PNG plot of the server's RSS, event-loop delay and the
 * legitimate clients' ping latency over time, attack phases shaded (path printed on stderr).
 *
 * Processes (every one killed at the end, on SIGINT/SIGTERM, and by a watchdog at
 * SOAK_MINUTES + 55 s):
 * - server (bench/soak/server.ts): MtgateServer.start(loadConfig(file)) with a YAML file written
 *   here: host 127.0.0.1, one free TCP port, no WebSocket, data dir (RSA key, SQLite store) in a tmp
 *   dir. Limits: the server's defaults (src/config/defaults.ts), nothing tightened or loosened.
 *   Logs at SOAK_LOG_LEVEL (default warn) go to <results>/soak-<stamp>.server.log. It sends RSS,
 *   heap, event-loop delay p50/p99/max (reset each second) and connection count every second. A
 *   crash is counted, marked on the plot and the server restarted on the same port (up to 3 times).
 * - legitimate load (bench/soak/legit.ts): SOAK_CLIENTS (50) RawClients from 127.0.1.x with auth
 *   keys written into the SQLite store before the server starts, each pinging SOAK_PING_RATE (2)
 *   times a second and invoking help.getConfig every 5 s; per-second ping round-trip times and
 *   failures (lost connection, 10 s timeout, wrong answer) are recorded. A client that lost its
 *   connection or waited 10 s for an answer drops the connection and reconnects after 1 s (every
 *   call pending on it counts as an error).
 * - attacker (bench/soak/attacker.ts): the attacks of test/adversarial/attacks.ts (ATTACKS), run in
 *   phases from 127.0.0.x (a new address per run): one attack at a time, every third slot two
 *   overlapping, quiet gaps between slots, cycling through the attacks. SOAK_ATTACKS = comma list
 *   to choose (default all), `none` for a run without attacks; SOAK_INTENSITY is passed through
 *   (default: each attack's own). replay gets a fresh packet per run sealed with one more store key
 *   (see bench/soak/attacker.ts).
 *
 * Timeline of T = SOAK_MINUTES min: warm-up (5 % of T, 10..60 s), idle baseline (10 %, 15..120 s:
 * legitimate load only), attack phases (60 s each for T = 30 min, shorter in short runs, gaps a
 * third of that), quiet tail (5 %, 10..60 s). A second counts as "under attack" from a run's start
 * to 3 s after its end; a sample covers the time since the previous sample, so the sample that
 * arrives after the server's event loop was blocked counts for every phase the block overlapped.
 * Stretches without a server sample for more than 2.5 s are reported as stalls (a dark strip along
 * the top of each panel).
 *
 * Figures:
 * - soak.rss_growth: RSS at the end (median of the last 10 s) minus after warm-up (median of the
 *   10 s after it), MB.
 * - soak.rss_slope: least-squares slope of RSS over the second half of the run, MB/min; verdict
 *   "flat" when ≤ SOAK_FLAT_MB_PER_MIN (default 0.5), else "growing" / "shrinking".
 * - soak.event_loop_p99: the worst per-second event-loop delay p99 under attack vs the same in the
 *   idle baseline (ratio).
 * - soak.ping_p99: legitimate ping round-trip p99 over every ping answered under attack vs in the
 *   idle baseline (ratio).
 * - soak.legit_errors, soak.server_crashes (exit status 1 when > 0), soak.attack.<name> per attack.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SqliteAuthKeyStore } from '../src/store/sqlite.js'
import { newKeys } from './ping-load.js'
import { COLORS, writeChartPng, type Band, type Rgb } from './png.js'
import { report } from './report.js'
import type { AttackReport, FromAttacker, FromLegit, FromServer, LegitSample, ServerSample, ToAttacker, ToLegit, ToServer } from './soak/protocol.js'

const MINUTES = Number(process.env.SOAK_MINUTES ?? 30)
const CLIENTS = Number(process.env.SOAK_CLIENTS ?? 50)
const PING_RATE = Number(process.env.SOAK_PING_RATE ?? 2)
const INVOKE_EVERY_S = 5
const FLAT_MB_PER_MIN = Number(process.env.SOAK_FLAT_MB_PER_MIN ?? 0.5)
const LOG_LEVEL = process.env.SOAK_LOG_LEVEL ?? 'warn'
const INTENSITY = process.env.SOAK_INTENSITY === undefined ? undefined : Number(process.env.SOAK_INTENSITY)
const RESULTS = process.env.SOAK_RESULTS_DIR ?? fileURLToPath(new URL('../../bench/soak/results/', import.meta.url))
const MAX_RESTARTS = 3
/** Seconds after an attack run's end that still count as "under attack". */
const AFTER_S = 3
/** Every attack name of test/adversarial/attacks.ts, in the order they are cycled through. */
const KNOWN_ATTACKS = ['gzip-bomb', 'half-frames', 'slow-frame', 'idle-flood', 'handshake-flood', 'replay', 'random-bytes', 'oversized-frames', 'container-flood']

if (!(MINUTES > 0) || !(CLIENTS >= 1) || CLIENTS > 250 || !(PING_RATE > 0)) {
  console.error('soak: SOAK_MINUTES > 0, 1 ≤ SOAK_CLIENTS ≤ 250, SOAK_PING_RATE > 0')
  process.exit(2)
}

const log = (s: string) => process.stderr.write(`soak: ${s}\n`)
const startedAt = Date.now()
const stamp = new Date(startedAt).toISOString().replace(/[:.]/g, '-').slice(0, 19)

// ------------------------------------------------------------------------------------------------
// schedule
// ------------------------------------------------------------------------------------------------

export interface Run {
  id: number
  name: string
  startS: number
  durS: number
  localAddress: string
  /** Filled in when the attacker reports. */
  endS?: number
  report?: AttackReport
  error?: string
}

export interface Schedule {
  totalS: number
  warmS: number
  baseS: number
  tailS: number
  phaseS: number
  gapS: number
  runs: Run[]
}

const clamp = (x: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, x))

export function buildSchedule(totalS: number, names: string[]): Schedule {
  const warmS = clamp(Math.round(totalS * 0.05), 10, 60)
  const baseS = clamp(Math.round(totalS * 0.1), 15, 120)
  const tailS = clamp(Math.round(totalS * 0.05), 10, 60)
  const from = warmS + baseS
  const until = totalS - tailS
  const phaseS = clamp(Math.floor((until - from) / (Math.max(1, names.length) * 1.4)), 5, 60)
  const gapS = Math.max(2, Math.round(phaseS / 3))
  const runs: Run[] = []
  let s = from
  let k = 0
  let slot = 0
  const addr = () => `127.0.0.${10 + (runs.length % 240)}`
  while (names.length > 0) {
    const overlap = slot % 3 === 2 && names.length > 1
    const end = s + (overlap ? phaseS * 1.5 : phaseS)
    if (end > until) break
    runs.push({ id: runs.length, name: names[k++ % names.length]!, startS: s, durS: phaseS, localAddress: addr() })
    if (overlap) runs.push({ id: runs.length, name: names[k++ % names.length]!, startS: s + phaseS / 2, durS: phaseS, localAddress: addr() })
    s = end + gapS
    slot++
  }
  return { totalS, warmS, baseS, tailS, phaseS, gapS, runs }
}

// ------------------------------------------------------------------------------------------------
// children
// ------------------------------------------------------------------------------------------------

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url))
const children = new Set<ChildProcess>()
/** The run's tmp dir (data dir, SQLite, config), removed at the end and on SIGINT / SIGTERM. */
let tmpDir: string | undefined

function spawn(script: string, env: Record<string, string>, stdio: Array<'ignore' | 'inherit' | 'ipc' | number>): ChildProcess {
  const c = fork(here(script), [], { env: { ...process.env, ...env }, stdio: stdio as never })
  children.add(c)
  c.once('exit', () => children.delete(c))
  return c
}

function killAll(): void {
  for (const c of children) {
    try {
      c.kill('SIGKILL')
    } catch {
      /* gone */
    }
  }
}

/** Resolves with the first message `pick` accepts; rejects on an error message, exit or timeout. */
function waitFor<T>(c: ChildProcess, pick: (m: { type: string }) => T | undefined, what: string, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer)
      c.off('message', onMsg)
      c.off('exit', onExit)
    }
    const onMsg = (m: { type: string; message?: string }) => {
      if (m.type === 'error') {
        done()
        return reject(new Error(`${what}: ${m.message}`))
      }
      const v = pick(m)
      if (v !== undefined) {
        done()
        resolve(v)
      }
    }
    const onExit = (code: number | null, sig: string | null) => {
      done()
      reject(new Error(`${what}: process exited (${code ?? sig})`))
    }
    const timer = setTimeout(() => {
      done()
      reject(new Error(`${what}: no answer in ${ms} ms`))
    }, ms)
    c.on('message', onMsg)
    c.once('exit', onExit)
  })
}

async function stopChild(c: ChildProcess | undefined, msg: object, ms: number): Promise<void> {
  if (c === undefined || c.exitCode !== null || c.signalCode !== null) return
  const exited = new Promise<void>((r) => c.once('exit', () => r()))
  try {
    c.send(msg)
  } catch {
    /* channel closed */
  }
  const timer = setTimeout(() => c.kill('SIGKILL'), ms)
  await exited
  clearTimeout(timer)
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port
      s.close(() => resolve(p))
    })
  })
}

// ------------------------------------------------------------------------------------------------
// statistics
// ------------------------------------------------------------------------------------------------

function pct(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}
const median = (xs: number[]) => pct(Float64Array.from(xs).sort(), 50)
const max = (xs: number[]) => (xs.length === 0 ? NaN : xs.reduce((a, b) => Math.max(a, b), -Infinity))
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)
const MB = 1024 * 1024
const r2 = (x: number) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : null)

/** Least-squares slope of y over x. */
function slope(pts: Array<[number, number]>): number {
  const n = pts.length
  if (n < 2) return NaN
  const mx = sum(pts.map((p) => p[0])) / n
  const my = sum(pts.map((p) => p[1])) / n
  let num = 0
  let den = 0
  for (const [x, y] of pts) {
    num += (x - mx) * (y - my)
    den += (x - mx) ** 2
  }
  return den === 0 ? NaN : num / den
}

// ------------------------------------------------------------------------------------------------
// main
// ------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  mkdirSync(RESULTS, { recursive: true })
  const dir = mkdtempSync(join(tmpdir(), 'mtgate-soak-'))
  tmpDir = dir
  const dataDir = join(dir, 'data')
  const sqlitePath = join(dataDir, 'mtgate.sqlite')
  const serverLog = join(RESULTS, `soak-${stamp}.server.log`)
  const pngPath = join(RESULTS, `soak-${stamp}.png`)
  let exitCode = 0
  let legit: ChildProcess | undefined
  let attacker: ChildProcess | undefined
  let server: ChildProcess | undefined
  let stopping = false
  const timers: NodeJS.Timeout[] = []

  try {
    // auth keys for the legitimate clients, in the SQLite file before the server opens it
    mkdirSync(dataDir, { recursive: true })
    const store = new SqliteAuthKeyStore({ path: sqlitePath })
    const keys = await newKeys(store, CLIENTS)
    const [replayKey] = await newKeys(store, 1)
    await store.close()
    const port = await freePort()
    const configPath = join(dir, 'soak.yaml')
    writeFileSync(
      configPath,
      [
        'host: 127.0.0.1',
        `tcp_ports: [${port}]`,
        'ws_port: null',
        `data_dir: ${JSON.stringify(dataDir)}`,
        `store: { backend: sqlite, sqlite_path: ${JSON.stringify(sqlitePath)} }`,
        '# limits: the server defaults (src/config/defaults.ts)',
        '',
      ].join('\n'),
    )

    // ---------------------------------------------------------------- server (restarted on a crash)
    const samples: Array<ServerSample & { s: number }> = []
    const crashes: Array<{ s: number; code: number | null; signal: string | null }> = []
    let t0 = Date.now()
    const logFd = openSync(serverLog, 'a')
    type Ready = Extract<FromServer, { type: 'ready' }>
    const startServer = async (): Promise<Ready> => {
      const c = spawn('./soak/server.js', { SOAK_CONFIG: configPath, MTGATE_LOG_LEVEL: LOG_LEVEL }, ['ignore', logFd, logFd, 'ipc'])
      server = c
      c.on('message', (m: FromServer) => {
        if (m.type === 'sample' && !stopping) samples.push({ ...m, s: (m.t - t0) / 1000 })
      })
      c.once('exit', (code, signal) => {
        if (stopping) return
        const s = (Date.now() - t0) / 1000
        crashes.push({ s, code, signal })
        const tail = readFileSync(serverLog, 'utf8').split('\n').slice(-15).join('\n')
        log(`SERVER CRASHED at ${s.toFixed(1)} s (exit ${code ?? signal}); last lines of ${serverLog}:\n${tail}`)
        if (crashes.length > MAX_RESTARTS) {
          log(`more than ${MAX_RESTARTS} crashes: ending the run`)
          endNow?.()
          return
        }
        setTimeout(() => {
          if (stopping) return
          startServer().then(
            () => log('server restarted'),
            (e) => {
              log(`server restart failed: ${(e as Error).message}`)
              endNow?.()
            },
          )
        }, 1000)
      })
      return waitFor(c, (m) => (m.type === 'ready' ? (m as Ready) : undefined), 'server start', 60_000)
    }
    let endNow: (() => void) | undefined
    const ready = await startServer()
    log(`server ${ready.host}:${ready.port} pid ${server!.pid}, rsa ${ready.fingerprint}, ${ready.store}; log ${serverLog}`)

    // ---------------------------------------------------------------- attacker
    const wanted = (process.env.SOAK_ATTACKS ?? 'all').trim()
    let names: string[] = []
    if (wanted !== 'none') {
      attacker = spawn('./soak/attacker.js', {}, ['ignore', 'inherit', 'inherit', 'ipc'])
      attacker.send({
        cmd: 'init',
        target: { host: ready.host, port: ready.port, rsaPublicKeyPem: ready.rsaPublicKeyPem, dcId: ready.dcId },
        replayKey: replayKey!,
      } satisfies ToAttacker)
      const available = await waitFor(attacker, (m) => (m.type === 'ready' ? (m as Extract<FromAttacker, { type: 'ready' }>).names : undefined), 'attacker', 30_000)
      const ordered = [...KNOWN_ATTACKS.filter((n) => available.includes(n)), ...available.filter((n) => !KNOWN_ATTACKS.includes(n))]
      names = wanted === 'all' ? ordered : wanted.split(',').map((s) => s.trim())
      const unknown = names.filter((n) => !available.includes(n))
      if (unknown.length > 0) throw new Error(`SOAK_ATTACKS: unknown attack(s) ${unknown.join(', ')}; the module has ${available.join(', ')}`)
      const missing = KNOWN_ATTACKS.filter((n) => !available.includes(n))
      if (missing.length > 0) log(`the attacks module has no ${missing.join(', ')}`)
    }

    // ---------------------------------------------------------------- legitimate load
    legit = spawn('./soak/legit.js', {}, ['ignore', 'inherit', 'inherit', 'ipc'])
    const legitSamples: Array<LegitSample & { s: number }> = []
    legit.on('message', (m: FromLegit) => {
      if (m.type === 'legit' && !stopping) legitSamples.push({ ...m, s: (m.t - t0) / 1000 })
      else if (m.type === 'log') log(`legit: ${m.message}`)
      else if (m.type === 'error') log(`legit: ${m.message}`)
    })
    legit.send({
      cmd: 'start',
      host: ready.host,
      port: ready.port,
      keys,
      localAddresses: keys.map((_, i) => `127.0.1.${1 + i}`),
      pingsPerSecPerClient: PING_RATE,
      invokeEverySec: INVOKE_EVERY_S,
    } satisfies ToLegit)
    await waitFor(legit, (m) => (m.type === 'connected' ? m : undefined), 'legitimate clients', 60_000)
    legit.on('exit', (code, sig) => {
      if (!stopping) log(`legitimate load process exited (${code ?? sig})`)
    })

    // ---------------------------------------------------------------- timeline
    // the soak proper is SOAK_MINUTES long from here; set-up took (Date.now() - startedAt)
    const schedule = buildSchedule(Math.round(MINUTES * 60), names)
    t0 = Date.now()
    for (const s of samples) s.s = (s.t - t0) / 1000
    log(
      `${CLIENTS} clients connected after ${((t0 - startedAt) / 1000).toFixed(1)} s of set-up; ${schedule.totalS} s: warm-up ${schedule.warmS} s, idle baseline ${schedule.baseS} s, ` +
        `${schedule.runs.length} attack runs of ${schedule.phaseS} s (gaps ${schedule.gapS} s), quiet tail ${schedule.tailS} s`,
    )
    const runs = schedule.runs
    attacker?.on('message', (m: FromAttacker) => {
      if (m.type !== 'done') return
      const r = runs[m.id]
      if (r === undefined) return
      r.endS = (Date.now() - t0) / 1000
      r.report = m.report
      r.error = m.error
      log(`attack ${m.name} from ${r.localAddress} done after ${(m.ms / 1000).toFixed(1)} s: ${m.error ?? JSON.stringify(m.report)}`)
    })
    attacker?.on('exit', (code, sig) => {
      if (!stopping) log(`attacker process exited (${code ?? sig}); no further attacks`)
    })
    for (const r of runs) {
      timers.push(
        setTimeout(() => {
          if (attacker === undefined || attacker.exitCode !== null || stopping) return
          log(`attack ${r.name} from ${r.localAddress} for ${r.durS} s (t = ${r.startS} s)`)
          attacker.send({ cmd: 'run', id: r.id, name: r.name, localAddress: r.localAddress, durationMs: r.durS * 1000, intensity: INTENSITY } satisfies ToAttacker)
        }, r.startS * 1000),
      )
    }
    const progress = setInterval(() => {
      const last = samples[samples.length - 1]
      const l = legitSamples[legitSamples.length - 1]
      if (last === undefined) return
      log(
        `t=${Math.round(last.s)} s rss ${(last.rss / MB).toFixed(1)} MB heap ${(last.heapUsed / MB).toFixed(1)} MB loop p99 ${last.elP99} ms, ` +
          `${last.connections} connections; legit ${l?.connected ?? '?'} up, ${l?.pingMs.length ?? 0} pings/s`,
      )
    }, 30_000)
    timers.push(progress)
    await new Promise<void>((resolve) => {
      endNow = resolve
      // never past start + SOAK_MINUTES + 30 s, so that stopping and reporting fit in the minute
      timers.push(setTimeout(resolve, Math.min(schedule.totalS * 1000, startedAt + MINUTES * 60_000 + 30_000 - Date.now())))
    })
    const endS = (Date.now() - t0) / 1000

    // ---------------------------------------------------------------- stop everything
    stopping = true
    for (const t of timers) clearTimeout(t)
    await Promise.all([
      stopChild(attacker, { cmd: 'stop' } satisfies ToAttacker, 3000),
      stopChild(legit, { cmd: 'stop' } satisfies ToLegit, 3000),
    ])
    await stopChild(server, { cmd: 'stop' } satisfies ToServer, 10_000)
    closeSync(logFd)

    // ---------------------------------------------------------------- figures
    // a sample covers the time since the previous one (more than 1 s when the process was stalled)
    const withFrom = <T extends { s: number }>(xs: T[]) => xs.map((x, i) => ({ ...x, from: i > 0 ? Math.min(x.s - 1, xs[i - 1]!.s) : x.s - 1 }))
    const inRun = (r: Run, x: { s: number; from: number }) => x.s > r.startS && x.from < (r.endS ?? r.startS + r.durS) + AFTER_S
    const underAttack = (x: { s: number; from: number }) => runs.some((r) => inRun(r, x))
    const idle = (x: { s: number; from: number }) => x.from >= schedule.warmS && x.s <= schedule.warmS + schedule.baseS
    const srv = withFrom(samples).filter((x) => x.s > 0 && x.s <= endS)
    const leg = withFrom(legitSamples).filter((x) => x.s > 0 && x.s <= endS)
    /** Stretches without a server sample for more than 2.5 s: its event loop was blocked. */
    const stalls = srv.filter((x) => x.s - x.from > 2.5).map((x) => ({ from: x.from, to: x.s }))
    const sortedPings = (xs: typeof leg) => Float64Array.from(xs.flatMap((x) => x.pingMs)).sort()

    const afterWarm = srv.filter((x) => x.s > schedule.warmS && x.s <= schedule.warmS + 10).map((x) => x.rss)
    const atEnd = srv.filter((x) => x.s > endS - 10).map((x) => x.rss)
    const rssAfterWarm = median(afterWarm) / MB
    const rssEnd = median(atEnd) / MB
    report({
      bench: 'soak.rss_growth',
      value: rssEnd - rssAfterWarm,
      unit: 'MB',
      rss_after_warmup_mb: r2(rssAfterWarm),
      rss_end_mb: r2(rssEnd),
      rss_max_mb: r2(max(srv.map((x) => x.rss)) / MB),
      heap_used_after_warmup_mb: r2(median(srv.filter((x) => x.s > schedule.warmS && x.s <= schedule.warmS + 10).map((x) => x.heapUsed)) / MB),
      heap_used_end_mb: r2(median(srv.filter((x) => x.s > endS - 10).map((x) => x.heapUsed)) / MB),
      minutes: r2(endS / 60),
      note: 'server process RSS: median of the last 10 s minus median of the 10 s after warm-up',
    })
    const half = srv.filter((x) => x.s >= endS / 2)
    const rssSlope = slope(half.map((x) => [x.s / 60, x.rss / MB]))
    const heapSlope = slope(half.map((x) => [x.s / 60, x.heapUsed / MB]))
    report({
      bench: 'soak.rss_slope',
      value: rssSlope,
      unit: 'MB/min',
      verdict: !Number.isFinite(rssSlope) ? 'unknown' : rssSlope > FLAT_MB_PER_MIN ? 'growing' : rssSlope < -FLAT_MB_PER_MIN ? 'shrinking' : 'flat',
      flat_threshold_mb_per_min: FLAT_MB_PER_MIN,
      heap_used_slope_mb_per_min: r2(heapSlope),
      note: 'least-squares slope of server RSS over the second half of the run',
    })
    const elIdle = srv.filter(idle)
    const elAttack = srv.filter(underAttack)
    report({
      bench: 'soak.event_loop_p99',
      value: max(elAttack.map((x) => x.elP99)),
      unit: 'ms',
      baseline: 'idle: the worst per-second event-loop delay p99 of the idle baseline phase (legitimate load only), same run',
      baseline_value: max(elIdle.map((x) => x.elP99)),
      median_p99_under_attack_ms: r2(median(elAttack.map((x) => x.elP99))),
      median_p99_idle_ms: r2(median(elIdle.map((x) => x.elP99))),
      max_delay_under_attack_ms: r2(max(elAttack.map((x) => x.elMax))),
      max_delay_idle_ms: r2(max(elIdle.map((x) => x.elMax))),
      stalls: stalls.length,
      longest_stall_s: r2(max(stalls.map((x) => x.to - x.from))),
      stalls_at_s: stalls.map((x) => Math.round(x.from)),
      seconds_under_attack: elAttack.length,
      seconds_idle: elIdle.length,
      note: 'the worst per-second p99 (monitorEventLoopDelay, 1 ms resolution, reset each second) of the server process under attack',
    })
    const pIdle = sortedPings(leg.filter(idle))
    const pAttack = sortedPings(leg.filter(underAttack))
    report({
      bench: 'soak.ping_p99',
      value: pct(pAttack, 99),
      unit: 'ms',
      baseline: 'idle: legitimate ping round-trip p99 in the idle baseline phase, same run',
      baseline_value: pct(pIdle, 99),
      p50_under_attack_ms: r2(pct(pAttack, 50)),
      p50_idle_ms: r2(pct(pIdle, 50)),
      max_under_attack_ms: r2(pAttack[pAttack.length - 1] ?? NaN),
      pings_under_attack: pAttack.length,
      pings_idle: pIdle.length,
      client_loop_p99_max_ms: r2(max(leg.map((x) => x.clientElP99))),
      note: `${CLIENTS} clients from 127.0.1.x, ${PING_RATE} pings/s each + help.getConfig every ${INVOKE_EVERY_S} s`,
    })
    const legitErrors = sum(leg.map((x) => x.errors))
    report({
      bench: 'soak.legit_errors',
      value: legitErrors,
      unit: 'errors',
      timeouts: sum(leg.map((x) => x.timeouts)),
      reconnects: sum(leg.map((x) => x.reconnects)),
      pings_answered: sum(leg.map((x) => x.pingMs.length)),
      invokes_answered: sum(leg.map((x) => x.invokes)),
      min_connected: Math.min(...leg.map((x) => x.connected)),
      note: 'failed pings/invokes of the legitimate clients: connection lost, no answer in 10 s, or a wrong answer',
    })
    report({
      bench: 'soak.server_crashes',
      value: crashes.length,
      unit: 'crashes',
      at_seconds: crashes.map((c) => Math.round(c.s)),
      exits: crashes.map((c) => c.code ?? c.signal),
      server_log: serverLog,
    })
    for (const name of names) {
      const rs = runs.filter((r) => r.name === name && r.startS < endS)
      if (rs.length === 0) continue
      const secs = srv.filter((x) => rs.some((r) => inRun(r, x)))
      const pings = sortedPings(leg.filter((x) => rs.some((r) => inRun(r, x))))
      const reps = rs.map((r) => r.report).filter((x): x is AttackReport => x !== undefined)
      report({
        bench: `soak.attack.${name}`,
        value: max(secs.map((x) => x.elP99)),
        unit: 'ms event-loop p99 (worst second)',
        baseline: 'idle baseline, same run',
        baseline_value: max(elIdle.map((x) => x.elP99)),
        ping_p99_ms: r2(pct(pings, 99)),
        legit_errors: sum(leg.filter((x) => rs.some((r) => inRun(r, x))).map((x) => x.errors)),
        rss_max_mb: r2(max(secs.map((x) => x.rss)) / MB),
        max_connections: max(secs.map((x) => x.connections)),
      max_delay_ms: r2(max(secs.map((x) => x.elMax))),
      stalls: stalls.filter((st) => rs.some((r) => inRun(r, { s: st.to, from: st.from }))).length,
        runs: rs.length,
        sent: sum(reps.map((x) => x.sent)),
        bytes: sum(reps.map((x) => x.bytes)),
        errors: sum(reps.map((x) => x.errors)),
        failed_runs: rs.filter((r) => r.error !== undefined).map((r) => r.error),
        last_report: reps[reps.length - 1],
      })
    }

    // ---------------------------------------------------------------- plot
    const palette: Rgb[] = [
      [255, 152, 150], [174, 199, 232], [255, 187, 120], [152, 223, 138], [197, 176, 213],
      [196, 156, 148], [247, 182, 210], [219, 219, 141], [158, 218, 229], [199, 199, 199],
    ]
    const colorOf = (name: string) => palette[Math.max(0, names.indexOf(name)) % palette.length]!
    const min = (s: number) => s / 60
    const bands: Band[] = [
      { t0: 0, t1: min(schedule.warmS), color: [200, 200, 200], alpha: 0.5 },
      { t0: min(schedule.warmS), t1: min(schedule.warmS + schedule.baseS), color: [255, 246, 190], alpha: 0.5 },
    ]
    for (const r of runs) {
      if (r.startS >= endS) continue
      bands.push({ t0: min(r.startS), t1: min(Math.min(endS, r.endS ?? r.startS + r.durS)), color: colorOf(r.name), alpha: 0.55 })
    }
    for (const st of stalls) bands.push({ t0: min(st.from), t1: min(st.to), color: [40, 40, 40], alpha: 1, stripPx: 10 })
    const pingP = (x: LegitSample, p: number) => pct(Float64Array.from(x.pingMs).sort(), p)
    const tag = new Date(startedAt).toISOString().slice(0, 16).replace('T', ' ')
    writeChartPng(pngPath, {
      width: 1400,
      panelHeight: 220,
      title: `MTGATE SOAK  ${MINUTES} MIN  ${CLIENTS} CLIENTS  ${tag} UTC`,
      xLabel: 'MINUTES',
      tMin: 0,
      tMax: Math.max(min(endS), min(schedule.totalS)),
      panels: [
        {
          title: 'SERVER MEMORY MB',
          series: [
            { label: 'RSS', color: COLORS.blue, points: srv.map((x) => [min(x.s), x.rss / MB]) },
            { label: 'HEAP USED', color: COLORS.orange, points: srv.map((x) => [min(x.s), x.heapUsed / MB]) },
          ],
        },
        {
          title: 'SERVER EVENT-LOOP DELAY MS (PER SECOND)',
          series: [
            { label: 'P99', color: COLORS.red, points: srv.map((x) => [min(x.s), x.elP99]) },
            { label: 'P50', color: COLORS.gray, points: srv.map((x) => [min(x.s), x.elP50]) },
          ],
        },
        {
          title: 'LEGIT PING ROUND TRIP MS (PER SECOND)',
          series: [
            { label: 'P99', color: COLORS.purple, points: leg.map((x) => [min(x.s), x.pingMs.length > 0 ? pingP(x, 99) : NaN]) },
            { label: 'P50', color: COLORS.green, points: leg.map((x) => [min(x.s), x.pingMs.length > 0 ? pingP(x, 50) : NaN]) },
          ],
        },
      ],
      bands,
      markers: crashes.map((c) => ({ t: min(c.s), color: COLORS.red })),
      legend: [
        { label: 'WARM-UP', color: [200, 200, 200] },
        { label: 'IDLE BASELINE', color: [255, 246, 190] },
        ...names.map((n) => ({ label: n, color: colorOf(n) })),
        ...(stalls.length > 0 ? [{ label: 'TOP STRIP: SERVER STALLED (NO SAMPLE FOR > 2.5 S)', color: [40, 40, 40] as Rgb }] : []),
        ...(crashes.length > 0 ? [{ label: 'SERVER CRASH', color: COLORS.red }] : []),
      ],
    })
    log(`plot: ${pngPath}`)
    if (crashes.length > 0) exitCode = 1
    if (leg.length === 0) exitCode = 1
  } finally {
    stopping = true
    for (const t of timers) clearTimeout(t)
    killAll()
    rmSync(dir, { recursive: true, force: true })
  }
  return exitCode
}

// bounded: a watchdog, and every child killed on SIGINT / SIGTERM
const watchdog = setTimeout(() => {
  log(`watchdog: still running ${MINUTES} min + 55 s after the start: killing everything`)
  killAll()
  process.exit(1)
}, MINUTES * 60_000 + 55_000)
watchdog.unref()
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`${sig}: killing the children`)
    killAll()
    if (tmpDir !== undefined) rmSync(tmpDir, { recursive: true, force: true })
    process.exit(130)
  })
}
process.once('exit', killAll)

main().then(
  (code) => process.exit(code),
  (e) => {
    log(`failed: ${(e as Error).stack ?? String(e)}`)
    killAll()
    process.exit(1)
  },
)
