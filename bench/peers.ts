/**
 * `npm run bench -- peers`: mtgate measured side by side with peer MTProto servers (bench/peers/
 * all.ts: gotd's tgtest, and whatever else is listed there) in one run, each server in its own
 * processes on 127.0.0.1 with the same RSA key, driven by the same load generator in a child
 * process (so that on 2 cores the server and the generator get one each), TCP intermediate.
 *
 * peers.handshake.rate: full auth-key exchanges a second, a new TCP connection each,
 *   PEERS_HS_CONCURRENCY (default 32) at once for PEERS_SECONDS, the client factoring pq itself
 *   (bench/peers/load.ts); with the server's stall p99 meanwhile (mtgate: event-loop delay; Go: GC
 *   stop-the-world pauses), its CPU per exchange (and the exchanges a second one core of it would
 *   do, `server_capacity_per_core`), and how busy the generator's core was (`client_cpu_busy`
 *   near 1: the generator, factoring pq in JavaScript, was the limit, not the server), and the
 *   floor under any server's CPU per exchange (`handshake_crypto_floor_ms`: one RSA-2048
 *   private-key operation and two 2048-bit modexps with OpenSSL, measured in this process before
 *   the servers start; bench/peers/crypto-floor.ts) with each server's CPU as a multiple of it.
 * peers.rpc.roundtrips: encrypted ping round trips a second with 100 and 1000 sessions
 *   (PEERS_SESSIONS), one TCP connection each, closed loop with PEERS_WINDOW (default 4) pings in
 *   flight per session; then p50/p99 latency with pings paced at half of that server's own max,
 *   and p99 at PEERS_COMMON_RATE (default 5,000 a second) for every server alike.
 *   The sessions share PEERS_KEYS (default 100) auth keys made by real exchanges with that server
 *   (session i uses key i mod 100; every session has its own session_id).
 * peers.memory: resident memory (VmRSS of the server's processes) per idle authorised connection
 *   (each has answered one encrypted ping) at PEERS_CONNS connections, on a freshly started server
 *   (RSS after the connections minus RSS before them, with the keys already made); for mtgate also
 *   the JS heap per connection (heapUsed after forced GCs; goal ≤ 4 KB). The default count is 19,000
 *   or less: the generator holds one socket per connection and the server one, each under the
 *   open-file limit (20,000 here, hard), and mtgate keeps an eighth of its limit (at most 1,024)
 *   back from connections; so 18,800 at a limit of 20,000.
 *
 * Each figure has mtgate as value and one peer as baseline (one line per peer); `better` says which
 * way is good. Every figure carries the 1-minute load average at start (`load_start`), the CPU time
 * stolen by the hypervisor meanwhile (`steal`) and `quiet` (false when the load was above 1.5 or
 * steal above 5 %: the machine was busy or shared, the figures are rough), as bench/report.ts adds.
 * Env: PEERS_SECONDS (each phase, default 5), PEERS_ONLY (comma list of the peers to run besides
 * mtgate, which always runs), MTGATE_BENCH_PROFILE (a directory: mtgate's CPU profiles of the
 * handshake phase and of each phase at half rate go there, and their summaries into its figures;
 * bench/profile.ts), and the others named above.
 */
import { createPrivateKey } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { RsaPrivateKey } from '../src/handshake/rsa-key.js'
import { openFileLimit, reservedDescriptors } from '../src/transport/fd-limit.js'
import { PEERS } from './peers/all.js'
import { handshakeCryptoMs } from './peers/crypto-floor.js'
import { askHandshakes, spawnHandshakes, type HsAnswer, type Target } from './peers/load.js'
import type { Peer, RunningPeer } from './peers/peer.js'
import { cpuSeconds, rssBytes } from './peers/process.js'
import { ask, spawnClient, stopClient, type FromChild } from './ping-load.js'
import { PROFILE_DIR, profileFields, profileFile, type ProfileSummary } from './profile.js'
import { QUIET_LOAD, report } from './report.js'

const env = process.env
const PHASE_MS = Number(env.PEERS_SECONDS ?? 5) * 1000
const HS_CONCURRENCY = Number(env.PEERS_HS_CONCURRENCY ?? 32)
const SESSIONS = (env.PEERS_SESSIONS ?? '100,1000').split(',').map(Number)
const KEYS = Number(env.PEERS_KEYS ?? 100)
const WINDOW = Number(env.PEERS_WINDOW ?? 4)
const COMMON_RATE = Number(env.PEERS_COMMON_RATE ?? 5000)
const ONLY = env.PEERS_ONLY?.split(',')

function defaultConns(): number {
  const limit = openFileLimit()
  if (limit === undefined) return 19_000
  return Math.min(19_000, Math.floor((limit - reservedDescriptors(limit, 100)) / 100) * 100)
}
const CONNS = Number(env.PEERS_CONNS ?? defaultConns())

const log = (msg: string): void => void process.stderr.write(`[bench peers] ${msg}\n`)
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const r3 = (x: number): number => Math.round(x * 1000) / 1000

interface Stall {
  p99Ms: number
  source: string
}
interface RpcFigures {
  rate: number
  halfRate: number
  p50Ms: number
  p99Ms: number
  stall?: Stall
  cpuUsPerRt: number
  /** p99 with pings paced at COMMON_RATE (the same for every server). */
  commonP99Ms: number
  /** The server's CPU profile over the phase at half rate (MTGATE_BENCH_PROFILE, a JavaScript server). */
  profile?: ProfileSummary
}

/** Starts a CPU profile of `p` for phase `name` when profiles are asked for and `p` can take one; the returned function ends it. */
async function profileOf(p: RunningPeer, name: string): Promise<() => Promise<ProfileSummary | undefined>> {
  if (PROFILE_DIR === undefined || p.profile === undefined) return async () => undefined
  const stop = await p.profile()
  return () => stop(profileFile(name))
}
interface Measured {
  handshake: { rate: number; failed: number; firstError?: string; stall?: Stall; cpuMsPerHs: number; clientCpuBusy: number; profile?: ProfileSummary }
  rpc: Map<number, RpcFigures>
  /** Undefined when the memory phase failed (memoryError says why). */
  memory?: { conns: number; rssBefore: number; rssAfter: number; heapBefore?: number; heapAfter?: number }
  memoryError?: string
}

/** Starts `peer` in a new work dir; stops it and removes the dir after `fn`. */
async function withPeer<T>(peer: Peer, pem: string, fn: (p: RunningPeer) => Promise<T>): Promise<T> {
  const workDir = mkdtempSync(join(tmpdir(), `mtgate-bench-peers-${peer.name}-`))
  try {
    const running = await peer.start({ privateKeyPem: pem, workDir })
    try {
      return await fn(running)
    } finally {
      await running.stop()
    }
  } finally {
    rmSync(workDir, { recursive: true, force: true })
  }
}

async function makeKeys(target: Target, n: number): Promise<string[]> {
  const gen = spawnHandshakes()
  try {
    return (await askHandshakes<Extract<HsAnswer, { ok: 'keys' }>>(gen, { cmd: 'keys', target, n, concurrency: 8 })).keys
  } finally {
    gen.kill()
  }
}

async function handshakes(p: RunningPeer, target: Target, name: string): Promise<Measured['handshake']> {
  const gen = spawnHandshakes()
  try {
    await p.stalls?.()
    const profile = await profileOf(p, `peers-${name}-handshakes`)
    const cpu0 = cpuSeconds(p.pids)
    const s = await askHandshakes<Extract<HsAnswer, { ok: 'storm' }>>(gen, { cmd: 'storm', target, concurrency: HS_CONCURRENCY, warmupMs: 1000, ms: PHASE_MS })
    const cpu = cpuSeconds(p.pids) - cpu0
    const summary = await profile()
    const stall = await p.stalls?.()
    if (s.done === 0) throw new Error(`no handshake completed (${s.failed} failed; first error: ${s.firstError})`)
    // the server's CPU over warm-up and window, per exchange completed in the window, scaled to the whole time
    const cpuMsPerHs = (cpu * 1000) / ((s.done * (s.ms + 1000)) / s.ms)
    return { rate: s.done / (s.ms / 1000), failed: s.failed, firstError: s.firstError, stall, cpuMsPerHs, clientCpuBusy: s.clientCpuBusy, profile: summary }
  } finally {
    gen.kill()
  }
}

async function roundTrips(p: RunningPeer, keys: string[], sessions: number, name: string): Promise<RpcFigures> {
  const child = spawnClient()
  try {
    const sessionKeys = Array.from({ length: sessions }, (_, i) => keys[i % keys.length]!)
    await ask(child, { cmd: 'connect', keys: sessionKeys, host: p.host, port: p.port, window: WINDOW }, 120_000)
    await ask(child, { cmd: 'closed', ms: 500 }, 60_000) // warm-up
    const cpu0 = cpuSeconds(p.pids)
    const closed = await ask<Extract<FromChild, { ok: 'closed' }>>(child, { cmd: 'closed', ms: PHASE_MS }, PHASE_MS + 60_000)
    const cpu = cpuSeconds(p.pids) - cpu0
    const rate = closed.roundTrips / (closed.ms / 1000)
    await p.stalls?.()
    const profile = await profileOf(p, `peers-${name}-rpc-${sessions}-half-rate`)
    const paced = await ask<Extract<FromChild, { ok: 'paced' }>>(child, { cmd: 'paced', rate: rate / 2, ms: PHASE_MS }, PHASE_MS + 60_000)
    const summary = await profile()
    const stall = await p.stalls?.()
    const common = await ask<Extract<FromChild, { ok: 'paced' }>>(child, { cmd: 'paced', rate: COMMON_RATE, ms: PHASE_MS }, PHASE_MS + 60_000)
    return { rate, halfRate: rate / 2, p50Ms: paced.p50Ms, p99Ms: paced.p99Ms, stall, cpuUsPerRt: (cpu * 1e6) / closed.roundTrips, commonP99Ms: common.p99Ms, profile: summary }
  } finally {
    await stopClient(child)
  }
}

async function memory(peer: Peer, pem: string, publicPem: string): Promise<NonNullable<Measured['memory']>> {
  return withPeer(peer, pem, async (p) => {
    const keys = await makeKeys({ host: p.host, port: p.port, dc: p.dc, publicPem }, KEYS)
    await sleep(1000) // the exchanges' connections close
    const heapBefore = await p.heapUsed?.()
    const rssBefore = rssBytes(p.pids)
    const child = spawnClient()
    try {
      const sessionKeys = Array.from({ length: CONNS }, (_, i) => keys[i % keys.length]!)
      await ask(child, { cmd: 'connect', keys: sessionKeys, host: p.host, port: p.port, window: 1 }, 600_000)
      await sleep(2000)
      const heapAfter = await p.heapUsed?.()
      const rssAfter = rssBytes(p.pids)
      return { conns: CONNS, rssBefore, rssAfter, heapBefore, heapAfter }
    } finally {
      await stopClient(child)
    }
  })
}

async function measure(peer: Peer, pem: string, publicPem: string): Promise<Measured> {
  const t0 = performance.now()
  const figures = await withPeer(peer, pem, async (p) => {
    const target = { host: p.host, port: p.port, dc: p.dc, publicPem }
    const keys = await makeKeys(target, KEYS)
    const handshake = await handshakes(p, target, peer.name)
    log(`${peer.name}: ${handshake.rate.toFixed(1)} handshakes/s (${handshake.failed} failed)`)
    const rpc = new Map<number, RpcFigures>()
    for (const s of SESSIONS) {
      const r = await roundTrips(p, keys, s, peer.name)
      log(`${peer.name}: ${s} sessions: ${r.rate.toFixed(0)} round trips/s; p99 ${r.p99Ms.toFixed(2)} ms at ${r.halfRate.toFixed(0)}/s, ${r.commonP99Ms.toFixed(2)} ms at ${COMMON_RATE}/s`)
      rpc.set(s, r)
    }
    return { handshake, rpc }
  })
  try {
    const mem = await memory(peer, pem, publicPem)
    log(`${peer.name}: ${mem.conns} idle connections: RSS ${((mem.rssAfter - mem.rssBefore) / mem.conns).toFixed(0)} B/conn (${(performance.now() - t0) / 1000}s for ${peer.name})`)
    return { ...figures, memory: mem }
  } catch (e) {
    // the figures measured so far still stand
    log(`${peer.name}: memory phase failed: ${(e as Error).stack ?? e}`)
    return { ...figures, memoryError: (e as Error).message.split('\n')[0] }
  }
}

function reportAll(m: Measured, name: string | undefined, b: Measured | undefined, common: Record<string, unknown>, floorMs: number): void {
  const base = (v: number | undefined) => (name === undefined ? {} : { baseline: name, baseline_value: v })
  const stall = (prefix: string, s: Stall | undefined) => (s === undefined ? {} : { [`${prefix}stall_p99_ms`]: r3(s.p99Ms), [`${prefix}stall_source`]: s.source })
  report({
    bench: 'peers.handshake.rate',
    value: m.handshake.rate,
    unit: 'handshakes/s',
    ...base(b?.handshake.rate),
    better: 'higher',
    concurrency: HS_CONCURRENCY,
    failed: m.handshake.failed,
    server_cpu_ms_per_handshake: r3(m.handshake.cpuMsPerHs),
    server_capacity_per_core: Math.round(1000 / m.handshake.cpuMsPerHs),
    client_cpu_busy: r3(m.handshake.clientCpuBusy),
    handshake_crypto_floor_ms: r3(floorMs),
    server_cpu_over_floor: r3(m.handshake.cpuMsPerHs / floorMs),
    ...stall('', m.handshake.stall),
    ...profileFields({ profile: m.handshake.profile }),
    ...(b === undefined
      ? {}
      : {
          baseline_failed: b.handshake.failed,
          baseline_server_cpu_ms_per_handshake: r3(b.handshake.cpuMsPerHs),
          baseline_server_capacity_per_core: Math.round(1000 / b.handshake.cpuMsPerHs),
          baseline_server_cpu_over_floor: r3(b.handshake.cpuMsPerHs / floorMs),
          baseline_client_cpu_busy: r3(b.handshake.clientCpuBusy),
          ...stall('baseline_', b.handshake.stall),
        }),
    ...common,
  })
  for (const [s, r] of m.rpc) {
    const br = b?.rpc.get(s)
    report({
      bench: 'peers.rpc.roundtrips',
      value: r.rate,
      unit: 'round trips/s',
      ...base(br?.rate),
      better: 'higher',
      sessions: s,
      auth_keys: Math.min(KEYS, s),
      pings_in_flight_per_session: WINDOW,
      server_cpu_us_per_roundtrip: r3(r.cpuUsPerRt),
      half_rate: Math.round(r.halfRate),
      p50_ms_at_half_rate: r3(r.p50Ms),
      p99_ms_at_half_rate: r3(r.p99Ms),
      ...stall('half_rate_', r.stall),
      common_rate: COMMON_RATE,
      p99_ms_at_common_rate: r3(r.commonP99Ms),
      ...profileFields({ profile: r.profile }), // the phase at half rate
      ...(br === undefined
        ? {}
        : {
            baseline_server_cpu_us_per_roundtrip: r3(br.cpuUsPerRt),
            baseline_half_rate: Math.round(br.halfRate),
            baseline_p50_ms_at_half_rate: r3(br.p50Ms),
            baseline_p99_ms_at_half_rate: r3(br.p99Ms),
            baseline_p99_ms_at_common_rate: r3(br.commonP99Ms),
            ...stall('baseline_half_rate_', br.stall),
          }),
      ...common,
    })
  }
  if (m.memory === undefined) throw new Error(`mtgate's memory phase failed: ${m.memoryError}`)
  const perConn = (x: NonNullable<Measured['memory']>) => (x.rssAfter - x.rssBefore) / x.conns
  const mb = (x: number) => Math.round(x / 1e5) / 10
  const heap = m.memory.heapBefore !== undefined && m.memory.heapAfter !== undefined ? (m.memory.heapAfter - m.memory.heapBefore) / m.memory.conns : undefined
  report({
    bench: 'peers.memory',
    value: perConn(m.memory),
    unit: 'bytes RSS/conn',
    ...base(b?.memory === undefined ? undefined : perConn(b.memory)),
    better: 'lower',
    conns: m.memory.conns,
    rss_before_mb: mb(m.memory.rssBefore),
    rss_after_mb: mb(m.memory.rssAfter),
    ...(heap === undefined ? {} : { js_heap_per_conn: Math.round(heap), js_heap_goal: 4096 }),
    ...(b?.memory === undefined ? {} : { baseline_rss_before_mb: mb(b.memory.rssBefore), baseline_rss_after_mb: mb(b.memory.rssAfter) }),
    ...(b?.memoryError === undefined ? {} : { baseline_missing: b.memoryError }),
    ...common,
  })
}

async function main(): Promise<void> {
  // report() adds load_start / steal / quiet to every figure
  const load = loadavg()[0]!
  if (load > QUIET_LOAD) log(`load average ${load.toFixed(2)} at start: the machine is busy, figures are rough`)
  const key = RsaPrivateKey.generate()
  const pem = createPrivateKey(key.toPem()).export({ type: 'pkcs1', format: 'pem' }).toString()
  const publicPem = key.publicKey.toPem()
  // before any server runs: the machine's own speed at the exchange's big-number work
  const floor = handshakeCryptoMs(key)
  log(`handshake crypto floor: ${floor.toFixed(2)} ms of CPU per exchange (RSA-2048 private key + 2 modexps, OpenSSL)`)
  const common = { seconds: PHASE_MS / 1000 }
  const [self, ...others] = PEERS.filter((p, i) => i === 0 || ONLY === undefined || ONLY.includes(p.name))
  const why = await self!.missing()
  if (why !== undefined) throw new Error(`${self!.name}: ${why}`)
  const mine = await measure(self!, pem, publicPem)
  const results: Array<{ peer: Peer; m: Measured }> = []
  const missing: Record<string, string> = {}
  for (const peer of others) {
    const reason = await peer.missing()
    if (reason !== undefined) {
      log(`${peer.name} skipped: ${reason}`)
      missing[peer.name] = reason
      continue
    }
    // A peer that fails is measured once more from a fresh start: gotd's tgtest (v0.162.0) reads
    // its sessions map under the connections' mutex (tgtest/conns.go getSession), so a handshake
    // finishing while a new connection starts can end it with "concurrent map read and map write".
    for (let attempt = 1; attempt <= 2; attempt++) {
      try {
        results.push({ peer, m: await measure(peer, pem, publicPem) })
        delete missing[peer.name]
        break
      } catch (e) {
        log(`${peer.name} failed${attempt === 1 ? ' (measuring it once more)' : ''}: ${(e as Error).stack ?? e}`)
        missing[peer.name] = `failed: ${(e as Error).message.split('\n')[0]}`
      }
    }
  }
  if (results.length === 0) reportAll(mine, undefined, undefined, { ...common, missing }, floor)
  for (const r of results) reportAll(mine, r.peer.name, r.m, common, floor)
}

await main()
