/**
 * Harness of the adversarial tests: the real `mtgate serve` in a child process (tmp data dir,
 * SQLite store, 127.0.0.1, port chosen by the OS), attackers in a forked child
 * (attacker-child.ts), a good client (handshake + RawClient from 127.0.1.1) in the test process,
 * ping latency figures and the server's RSS.
 */
import { spawn, fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { RawClient } from '../e2e/raw-client.js'
import { handshake, type AttackName, type AttackOptions, type AttackReport, type AttackTarget, type HandshakeOutcome } from './attacks.js'

const here = dirname(fileURLToPath(import.meta.url))
/** dist/src/cli/main.js, from dist/test/adversarial/. */
export const MAIN_JS = join(here, '..', '..', 'src', 'cli', 'main.js')
export const CHILD_JS = join(here, 'attacker-child.js')

export const GOOD_ADDRESS = '127.0.1.1'

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Rejects with `what` after `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms)
    }),
  ])
}

export interface ServerOptions {
  /** snake_case keys under `limits:` */
  limits?: Record<string, number>
  /** Run under an open-file limit (prlimit, else ulimit -n in bash). */
  nofile?: number
  /** Safety: SIGKILL the server when its RSS passes this (MiB, default 2048), so a failing defence cannot exhaust the machine. */
  rssCapMb?: number
}

export interface ServerProc {
  proc: ChildProcess
  pid: number
  target: AttackTarget
  /** set when the RSS watchdog killed the server */
  watchdog: string | undefined
  /** every stderr line so far (pino JSON lines) */
  stderrLines: string[]
  stdout: string
  alive(): boolean
  exitInfo(): string
  /** VmRSS in MiB */
  rssMb(): number
  /** stderr lines parsed as JSON (non-JSON lines skipped) */
  logs(): Array<Record<string, unknown>>
  stop(): Promise<void>
}

const DC_ID = 2

function spawnServer(configPath: string, nofile: number | undefined): ChildProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, MTGATE_LOG_LEVEL: process.env.MTGATE_LOG_LEVEL ?? 'info' }
  delete env.NODE_TEST_CONTEXT
  delete env.MTGATE_CONFIG
  const args = [MAIN_JS, 'serve', '--config', configPath]
  const opts = { env, stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'] }
  if (nofile === undefined) return spawn(process.execPath, args, opts)
  if (existsSync('/usr/bin/prlimit') || existsSync('/bin/prlimit')) {
    return spawn('prlimit', [`--nofile=${nofile}:${nofile}`, process.execPath, ...args], opts)
  }
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`
  return spawn('bash', ['-c', `ulimit -n ${nofile}; exec ${[process.execPath, ...args].map(q).join(' ')}`], opts)
}

/** Starts `mtgate serve` with `o.limits` (snake_case keys) on a free port, data in a tmp dir. */
export async function startServer(o: ServerOptions = {}): Promise<ServerProc> {
  const dir = mkdtempSync(join(tmpdir(), 'mtgate-adv-'))
  const limits: Record<string, number> = { ...o.limits }
  {
    const configPath = join(dir, 'config.yaml')
    const config = {
      dc_id: DC_ID,
      host: '127.0.0.1',
      tcp_ports: [0],
      ws_port: null,
      data_dir: join(dir, 'data'),
      store: { backend: 'sqlite' },
      limits,
    }
    writeFileSync(configPath, JSON.stringify(config, null, 2)) // JSON is YAML
    const proc = spawnServer(configPath, o.nofile)
    let stdout = ''
    let stderrBuf = ''
    const stderrLines: string[] = []
    let stderrCount = 0
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderrBuf += d
      let i: number
      while ((i = stderrBuf.indexOf('\n')) >= 0) {
        stderrCount++
        if (stderrLines.length < 200_000) stderrLines.push(stderrBuf.slice(0, i))
        stderrBuf = stderrBuf.slice(i + 1)
      }
    })
    const exited = new Promise<void>((r) => proc.once('exit', () => r()))
    const ready = await withTimeout(
      new Promise<boolean>((resolve) => {
        const check = (): void => {
          if (/api_id allowed/.test(stdout)) resolve(true)
        }
        proc.stdout!.on('data', check)
        void exited.then(() => resolve(false))
      }),
      30_000,
      'mtgate serve start',
    ).catch((e: Error) => {
      proc.kill('SIGKILL')
      throw e
    })
    if (!ready) {
      await sleep(50)
      const err = stderrLines.join('\n') + stderrBuf
      rmSync(dir, { recursive: true, force: true })
      throw new Error(`mtgate serve exited at start (code ${proc.exitCode}, signal ${proc.signalCode}): ${err.slice(-2000)}\n${stdout}`)
    }
    const tcp = /tcp\s+([\d.]+):(\d+)/.exec(stdout)
    const pub = /public key (\S+\.pub)/.exec(stdout)
    if (!tcp || !pub) throw new Error(`cannot parse serve output: ${stdout}`)
    const pid = proc.pid!
    const srv: ServerProc = {
      proc,
      pid,
      target: { host: tcp[1]!, port: Number(tcp[2]), rsaPublicKeyPem: readFileSync(pub[1]!, 'utf8'), dcId: DC_ID },
      watchdog: undefined,
      stderrLines,
      get stdout() {
        return stdout
      },
      alive: () => proc.exitCode === null && proc.signalCode === null,
      exitInfo: () => `${srv.watchdog ?? ''}exit code ${proc.exitCode}, signal ${proc.signalCode}; stderr tail: ${stderrLines.slice(-5).join('\n').slice(-1500)}`,
      rssMb: () => {
        try {
          const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
          return m ? Number(m[1]) / 1024 : NaN
        } catch {
          return NaN
        }
      },
      logs: () => {
        const out: Array<Record<string, unknown>> = []
        for (const l of stderrLines) {
          if (!l.startsWith('{')) continue
          try {
            out.push(JSON.parse(l) as Record<string, unknown>)
          } catch {
            // not JSON
          }
        }
        return out
      },
      stop: async () => {
        clearInterval(watchdog)
        if (srv.alive()) {
          proc.kill('SIGTERM')
          await Promise.race([exited, sleep(6000)])
          if (srv.alive()) {
            proc.kill('SIGKILL')
            await Promise.race([exited, sleep(2000)])
          }
        }
        rmSync(dir, { recursive: true, force: true })
      },
    }
    void stderrCount
    const cap = o.rssCapMb ?? 2048
    const watchdog = setInterval(() => {
      const rss = srv.rssMb()
      if (rss > cap && srv.alive()) {
        srv.watchdog = `killed by the test's RSS watchdog at ${rss.toFixed(0)} MiB (cap ${cap} MiB); `
        proc.kill('SIGKILL')
      }
    }, 100)
    watchdog.unref()
    void exited.then(() => clearInterval(watchdog))
    return srv
  }
}

// ---------------------------------------------------------------------------------------------
// Attackers in a child process
// ---------------------------------------------------------------------------------------------

export interface AttackHandle {
  child: ChildProcess
  /** progress messages so far */
  progress: Array<Record<string, unknown>>
  /** resolves with the first progress message (rejects on child error/exit) */
  firstProgress: Promise<Record<string, unknown>>
  /** resolves with the final report */
  report: Promise<AttackReport>
  /** asks the attack to stop; resolves with its report (kills the child after `ms`) */
  stop(ms?: number): Promise<AttackReport>
  kill(): void
}

type ChildOptions = Omit<AttackOptions, 'signal' | 'onProgress'>

export function startAttack(name: AttackName, options: ChildOptions): AttackHandle {
  const child = fork(CHILD_JS, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, NODE_TEST_CONTEXT: '' } })
  const progress: Array<Record<string, unknown>> = []
  let onProgress: ((p: Record<string, unknown>) => void) | undefined
  let fail: ((e: Error) => void) | undefined
  const firstProgress = new Promise<Record<string, unknown>>((resolve, reject) => {
    onProgress = resolve
    fail = reject
  })
  firstProgress.catch(() => {})
  const report = new Promise<AttackReport>((resolve, reject) => {
    child.on('message', (m: { type: string; report?: AttackReport; info?: Record<string, unknown>; message?: string }) => {
      if (m.type === 'progress') {
        progress.push(m.info!)
        onProgress?.(m.info!)
      } else if (m.type === 'report') resolve(m.report!)
      else if (m.type === 'error') {
        const e = new Error(`attacker ${name} failed: ${m.message}`)
        fail?.(e)
        reject(e)
      }
    })
    child.once('exit', (code, sig) => {
      const e = new Error(`attacker ${name} exited (code ${code}, signal ${sig}) without a report`)
      fail?.(e)
      reject(e)
    })
  })
  report.catch(() => {})
  child.send({ type: 'start', name, options })
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  return {
    child,
    progress,
    firstProgress,
    report,
    kill,
    async stop(ms = 10_000) {
      if (child.connected) child.send({ type: 'stop' })
      try {
        return await withTimeout(report, ms, `attacker ${name} report`)
      } finally {
        kill()
      }
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Good client
// ---------------------------------------------------------------------------------------------

export interface GoodClient {
  keys: HandshakeOutcome
  client: RawClient
}

/** A complete handshake from `localAddress`, then an encrypted connection with that key. */
export async function goodClient(target: AttackTarget, localAddress = GOOD_ADDRESS, keys?: HandshakeOutcome): Promise<GoodClient> {
  const k = keys ?? (await withTimeout(handshake(target, localAddress), 20_000, 'good client handshake'))
  const client = await withTimeout(
    RawClient.connect({ host: target.host, port: target.port, key: k.authKey, salt: k.salt, localAddress }),
    5000,
    'good client connect',
  )
  await withTimeout(client.ping(), 5000, 'first ping') // the session exists, salt settled
  return { keys: k, client }
}

export interface PingStats {
  n: number
  p50: number
  p99: number
  max: number
  timeouts: number
  failed: number
}

/**
 * `n` sequential pings, one every `intervalMs` at most (each bounded by `timeoutMs`; a timeout
 * counts as `timeoutMs`); stops early after `budgetMs`. A failed connection counts the rest as failed.
 */
export async function measurePings(c: RawClient, n = 150, o: { timeoutMs?: number; budgetMs?: number; intervalMs?: number } = {}): Promise<PingStats> {
  const timeoutMs = o.timeoutMs ?? 2000
  const lat: number[] = []
  let timeouts = 0
  let failed = 0
  const end = Date.now() + (o.budgetMs ?? 15_000)
  for (let i = 0; i < n && Date.now() < end; i++) {
    const t0 = performance.now()
    try {
      await withTimeout(c.ping(), timeoutMs, 'ping')
      lat.push(performance.now() - t0)
    } catch (e) {
      if (/timeout/.test((e as Error).message)) timeouts++
      else failed++
      lat.push(timeoutMs)
      if (c.isClosed) {
        failed += n - i - 1
        break
      }
    }
    const wait = (o.intervalMs ?? 0) - (performance.now() - t0)
    if (wait > 0) await sleep(wait)
  }
  lat.sort((a, b) => a - b)
  const pct = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN
  const r = (x: number): number => Math.round(x * 100) / 100
  return { n: lat.length, p50: r(pct(0.5)), p99: r(pct(0.99)), max: r(lat[lat.length - 1] ?? NaN), timeouts, failed }
}

/** The latency bound: p99 under attack ≤ ratio × max(idle p99, floorMs). */
export function latencyBound(idle: PingStats, ratio: number, floorMs = 5): number {
  return ratio * Math.max(idle.p99, floorMs)
}

/** Waits until `pred` is true (polling), up to `ms`; returns whether it became true. */
export async function waitUntil(pred: () => boolean, ms: number, every = 100): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (pred()) return true
    await sleep(every)
  }
  return pred()
}

/** RSS after the attack: polls until ≤ bound or `ms` passed; returns the last value. */
export async function settledRss(srv: ServerProc, boundMb: number, ms = 8000): Promise<number> {
  let rss = srv.rssMb()
  const end = Date.now() + ms
  while (Date.now() < end && !(rss <= boundMb)) {
    await sleep(250)
    rss = srv.rssMb()
  }
  return rss
}

/** A fresh connection with an existing key answers a ping (the key is still known to the server). */
export async function keyWorks(target: AttackTarget, keys: HandshakeOutcome, localAddress = GOOD_ADDRESS): Promise<boolean> {
  let c: RawClient | undefined
  try {
    c = await withTimeout(RawClient.connect({ host: target.host, port: target.port, key: keys.authKey, salt: keys.salt, localAddress }), 5000, 'connect')
    await withTimeout(c.ping(), 5000, 'ping with existing key')
    return true
  } catch {
    return false
  } finally {
    c?.close()
  }
}

/** Log entries (pino JSON) whose msg matches `re`. */
export function logsMatching(srv: ServerProc, re: RegExp): Array<Record<string, unknown>> {
  return srv.logs().filter((l) => re.test(String(l.msg ?? '')))
}

// ---------------------------------------------------------------------------------------------
// One attack scenario: idle figures, attack in a child, figures during, figures after
// ---------------------------------------------------------------------------------------------

export interface ScenarioOptions {
  attack: AttackName
  localAddress: string
  intensity?: number
  params?: Record<string, unknown>
  /** how long the attacker runs before the good client's pings start, ms (or until first progress) */
  warmupMs?: number
  /** total attack duration ceiling, ms (the attack is stopped once the pings are done) */
  durationMs?: number
  pings?: number
  /** the pings under attack are spread over this window, ms (default 6000) */
  attackMs?: number
  /** log with the figures */
  say: (s: string) => void
}

export interface ScenarioResult {
  idle: PingStats
  during: PingStats
  idleRssMb: number
  peakRssMb: number
  afterRssMb: number
  report: AttackReport
  aliveAfter: boolean
  goodKeyWorks: boolean
  /** from the attack's start to its report, ms */
  attackElapsedMs: number
}

/** Runs an attack against `srv` with a good client measuring; the server is left running. */
export async function runScenario(srv: ServerProc, good: GoodClient, o: ScenarioOptions, rssBoundMb: (idle: number) => number): Promise<ScenarioResult> {
  const n = o.pings ?? 150
  const idle = await measurePings(good.client, n, { intervalMs: 10 })
  const idleRssMb = srv.rssMb()
  o.say(`idle: ping p50 ${idle.p50} ms p99 ${idle.p99} ms max ${idle.max} ms (n ${idle.n}); server RSS ${idleRssMb.toFixed(1)} MiB`)
  let peakRssMb = idleRssMb
  const rssTimer = setInterval(() => {
    const r = srv.rssMb()
    if (r > peakRssMb) peakRssMb = r
  }, 200)
  const attackStart = Date.now()
  const h = startAttack(o.attack, {
    target: srv.target,
    localAddress: o.localAddress,
    durationMs: o.durationMs ?? 20_000,
    intensity: o.intensity,
    params: o.params,
  })
  let report: AttackReport
  let during: PingStats
  let attackElapsedMs = 0
  try {
    await Promise.race([sleep(o.warmupMs ?? 1500), h.firstProgress.catch(() => undefined)])
    during = await measurePings(good.client, n, { intervalMs: (o.attackMs ?? 6000) / n, budgetMs: (o.attackMs ?? 6000) + 8000 })
    o.say(`during ${o.attack}: ping p50 ${during.p50} ms p99 ${during.p99} ms max ${during.max} ms (n ${during.n}, timeouts ${during.timeouts}, failed ${during.failed}); peak RSS so far ${peakRssMb.toFixed(1)} MiB`)
    report = await h.stop(15_000)
  } finally {
    attackElapsedMs = Date.now() - attackStart
    h.kill()
  }
  o.say(`attack report: ${JSON.stringify(report)}`)
  const afterRssMb = await settledRss(srv, rssBoundMb(idleRssMb), 8000)
  clearInterval(rssTimer)
  const aliveAfter = srv.alive()
  o.say(`after: RSS ${afterRssMb.toFixed(1)} MiB (peak ${peakRssMb.toFixed(1)} MiB, bound ${rssBoundMb(idleRssMb).toFixed(1)} MiB); server alive ${aliveAfter}`)
  const goodKeyWorks = aliveAfter && (await keyWorks(srv.target, good.keys))
  return { idle, during, idleRssMb, peakRssMb, afterRssMb, report, aliveAfter, goodKeyWorks, attackElapsedMs }
}

/** Runs `fn` with a started server and a connected good client; always stops both. */
export async function withServer(
  t: { diagnostic(s: string): void; name: string },
  opts: ServerOptions,
  fn: (srv: ServerProc, good: GoodClient, say: (s: string) => void) => Promise<void>,
): Promise<void> {
  const say = (s: string): void => {
    t.diagnostic(s)
    console.log(`[${t.name.split(':')[0]}] ${s}`)
  }
  let srv: ServerProc | undefined
  let good: GoodClient | undefined
  try {
    srv = await startServer(opts)
    good = await goodClient(srv.target)
    await fn(srv, good, say)
  } finally {
    good?.client.close()
    await srv?.stop()
  }
}

/** The checks every scenario makes: alive, latency ratio, memory, the good key. */
export function assertCommon(assert: typeof import('node:assert/strict'), srv: ServerProc, r: ScenarioResult, ratio: number, floorMs = 5, rssSlackMb = 100): void {
  assert.ok(r.aliveAfter, `server died: ${srv.exitInfo()}`)
  const bound = latencyBound(r.idle, ratio, floorMs)
  assert.ok(
    r.during.p99 <= bound,
    `good client p99 ${r.during.p99} ms during the attack > ${bound} ms (${ratio} × max(idle p99 ${r.idle.p99}, ${floorMs}); timeouts ${r.during.timeouts}, failed ${r.during.failed})`,
  )
  assert.ok(r.afterRssMb <= r.idleRssMb + rssSlackMb, `server RSS ${r.afterRssMb.toFixed(1)} MiB after the attack > idle ${r.idleRssMb.toFixed(1)} + ${rssSlackMb} MiB`)
  assert.ok(r.goodKeyWorks, 'the good client key made before the attack no longer works')
}
