/**
 * `npm run bench -- cluster`
 *
 * cluster.roundtrips: encrypted ping → pong round trips/s through gateway → session node over gRPC
 *   (one hot-path stream), 100 sessions × 8 pings in flight, TCP intermediate over loopback; as a
 *   ratio to `mtgate serve` (MtgateServer) measured in the same run with the same load. The server
 *   side (serve, or gateway + session node) runs in this process, the load generator
 *   (test/e2e/raw-client.ts) in a child process: each gets one of the 2 cores. Then per-message
 *   latency at half the measured max rate, p50/p99, for both; the difference is the added latency.
 *   serve, cluster and split are measured in turns, ROUNDS times; each figure is the median.
 * cluster.cores: one `serve` process vs N gateway + M session processes on this host (every part a
 *   child process, shared SQLite store): the best shape's round trips/s as a ratio to serve.
 * cluster.failover_ms: time from kill -9 of the session node owning a client's key (nodes as child
 *   processes, etcd, shared SQLite store) to the first successful RPC of that client (mtcute,
 *   reconnecting by itself through the gateway; same auth key).
 *
 * Needs etcd (Debian etcd-server); without it only the round-trip figures are printed.
 * MTGATE_BENCH_PROFILE (a directory): CPU profiles of this process over every closed-loop and paced
 * phase of cluster.roundtrips go there, and the median runs' summaries into the figures
 * (bench/profile.ts); in `split` the session node's process is not profiled.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { GatewayNode } from '../src/cluster/gateway-node.js'
import { RendezvousRing } from '../src/cluster/ring.js'
import { SessionNode } from '../src/cluster/session-node.js'
import { parseConfig } from '../src/config/index.js'
import { authKeyId } from '../src/crypto/message.js'
import { MtgateServer } from '../src/server/server.js'
import { MemoryAuthKeyStore } from '../src/store/memory.js'
import { SqliteAuthKeyStore } from '../src/store/sqlite.js'
import { clusterConfig, makeDataDir, mtcuteAuthKey, mtcuteClient, nodeDoc, publicKeyOf, spawnNode, waitFor, type ChildNode } from '../test/cluster/harness.js'
import { freePort, serviceMissing, startEtcd, type EtcdInstance } from '../test/helpers/services.js'
import { ask, newKeys, spawnClient, stopClient, watchStalls, type FromChild, type ProcessStalls } from './ping-load.js'
import { profileFields, profiled, type ProfileSummary } from './profile.js'
import { medianBy, report } from './report.js'
import { LOAD_TEST_LIMITS } from './load-limits.js'

const PHASE_MS = Number(process.env.MTGATE_BENCH_PHASE_MS ?? 3000)
/** Which parts run (for profiling one of them): comma-separated of roundtrips, cores, failover; default all. */
const PARTS = new Set((process.env.MTGATE_BENCH_PARTS ?? 'roundtrips,cores,failover').split(','))
const SESSIONS = 100
const WINDOW = 8

interface Measured {
  rate: number
  p50: number
  p99: number
  /** This process's event loop and GC over the paced phase (where the in-process servers run). */
  stalls: ProcessStalls
  /** This process's CPU profiles of the closed-loop and the paced phase (MTGATE_BENCH_PROFILE). */
  profileClosed?: ProfileSummary
  profileHalfRate?: ProfileSummary
}

/** Closed-loop max rate, then latency at half that rate; `name` names the phases' profiles (none without it: the servers are other processes). */
async function measure(port: number | number[], keys: string[], name?: string): Promise<Measured> {
  const c = spawnClient()
  try {
    await ask(c, { cmd: 'connect', keys, port, window: WINDOW })
    await ask(c, { cmd: 'closed', ms: 500 }) // warm-up
    const closed = await profiled(name && `${name}-closed`, () => ask<Extract<FromChild, { ok: 'closed' }>>(c, { cmd: 'closed', ms: PHASE_MS }))
    const rate = closed.value.roundTrips / (closed.value.ms / 1000)
    const stop = watchStalls()
    const paced = await profiled(name && `${name}-half-rate`, () => ask<Extract<FromChild, { ok: 'paced' }>>(c, { cmd: 'paced', rate: rate / 2, ms: PHASE_MS }))
    return { rate, p50: paced.value.p50Ms, p99: paced.value.p99Ms, stalls: stop(), profileClosed: closed.profile, profileHalfRate: paced.profile }
  } finally {
    await stopClient(c)
  }
}

const r3 = (x: number): number => Math.round(x * 1000) / 1000

/** Runs of each configuration in cluster.roundtrips. */
const ROUNDS = Number(process.env.MTGATE_BENCH_REPEATS ?? 3)

/** The median of each figure over `runs` (each on its own: rate, p50, p99), with the profiles of the median runs. */
function medians(runs: readonly Measured[]): { rate: number; p50: number; p99: number; profiles: Record<string, ProfileSummary | undefined> } {
  const [byRate, byP99] = [medianBy(runs, (r) => r.rate), medianBy(runs, (r) => r.p99)]
  return { rate: byRate.rate, p50: medianBy(runs, (r) => r.p50).p50, p99: byP99.p99, profiles: { profile_closed: byRate.profileClosed, profile_half_rate: byP99.profileHalfRate } }
}

async function roundTrips(etcd: EtcdInstance): Promise<void> {
  const dataDir = makeDataDir()
  const dir = mkdtempSync(join(tmpdir(), 'mtgate-bench-cluster-rt-'))
  const cleanup: (() => Promise<unknown>)[] = []
  try {
    // Everything is started first, then measured in turns.
    const store = new MemoryAuthKeyStore()
    const config = parseConfig({ host: '127.0.0.1', tcp_ports: [await freePort()], ws_port: null, data_dir: dataDir, store: { backend: 'memory' }, limits: LOAD_TEST_LIMITS }, {})
    const server = await MtgateServer.start(config, { store, inlineHandshakeCrypto: true, gatewayId: 'bench' })
    cleanup.push(() => server.stop())
    // gateway + session node in this process, gRPC over loopback
    const cstore = new MemoryAuthKeyStore()
    const base = { etcd: etcd.endpoint, prefix: '/bench/', dataDir }
    const session = await SessionNode.start(clusterConfig({ ...base, nodeId: 's1' }), { store: cstore })
    cleanup.push(() => session.stop())
    const gateway = await GatewayNode.start(clusterConfig({ ...base, nodeId: 'g1', tcpPort: await freePort(), extra: { limits: LOAD_TEST_LIMITS } }), { inlineHandshakeCrypto: true })
    cleanup.push(() => gateway.stop())
    // gateway in this process, session node in a child process (shared SQLite store)
    const sqlitePath = join(dir, 'keys.sqlite')
    const sql = new SqliteAuthKeyStore({ path: sqlitePath, synchronous: 'normal' })
    cleanup.push(() => sql.close())
    const child = await spawnNode('session', nodeDoc({ nodeId: 's2', ...base, prefix: '/bench-split/', extra: { store: { backend: 'sqlite', sqlite_path: sqlitePath } } }), dir)
    cleanup.push(() => child.kill('SIGTERM'))
    const gateway2 = await GatewayNode.start(clusterConfig({ ...base, prefix: '/bench-split/', nodeId: 'g2', tcpPort: await freePort(), extra: { limits: LOAD_TEST_LIMITS } }), { inlineHandshakeCrypto: true })
    cleanup.push(() => gateway2.stop())
    await waitFor(() => gateway.remote.ring.size === 1 && gateway2.remote.ring.size === 1, 10_000, 'gateways see their session nodes')

    // the three alternate, ROUNDS times: a stall of the shared machine moves one run, not a figure
    const runs: Record<'serve' | 'cluster' | 'split', Measured[]> = { serve: [], cluster: [], split: [] }
    for (let i = 0; i < ROUNDS; i++) {
      runs.serve.push(await measure(server.addresses[0]!.port, await newKeys(store, SESSIONS), `cluster-serve-${i}`))
      runs.cluster.push(await measure(gateway.addresses[0]!.port, await newKeys(cstore, SESSIONS), `cluster-cluster-${i}`))
      runs.split.push(await measure(gateway2.addresses[0]!.port, await newKeys(sql, SESSIONS), `cluster-split-${i}`))
    }
    const [serve, cluster, split] = [medians(runs.serve), medians(runs.cluster), medians(runs.split)]
    const common = {
      unit: 'round trips/s',
      baseline: 'mtgate serve (MtgateServer, one process), same load, same run',
      baseline_value: serve.rate,
      of_runs: `each figure the median of ${ROUNDS} runs (closed loop ${PHASE_MS} ms, then paced at half its rate ${PHASE_MS} ms), serve, cluster and split alternating`,
      serve_runs: runs.serve.map((r) => Math.round(r.rate)),
      sessions: SESSIONS,
      pings_in_flight_per_session: WINDOW,
      serve_p50_ms_at_half_rate: r3(serve.p50),
      serve_p99_ms_at_half_rate: r3(serve.p99),
    }
    report({
      bench: 'cluster.roundtrips',
      value: cluster.rate,
      ...common,
      p50_ms_at_half_rate: r3(cluster.p50),
      p99_ms_at_half_rate: r3(cluster.p99),
      added_p50_ms: r3(cluster.p50 - serve.p50),
      added_p99_ms: r3(cluster.p99 - serve.p99),
      runs: runs.cluster.map((r) => Math.round(r.rate)),
      p99_runs: runs.cluster.map((r) => r3(r.p99)),
      serve_p99_runs: runs.serve.map((r) => r3(r.p99)),
      server_stalls_at_half_rate: runs.cluster.map((r) => r.stalls),
      serve_stalls_at_half_rate: runs.serve.map((r) => r.stalls),
      ...profileFields({ ...cluster.profiles, serve_profile_closed: serve.profiles.profile_closed, serve_profile_half_rate: serve.profiles.profile_half_rate }),
      note: 'gateway + session node in this process (one gRPC stream over loopback), load generator in a child; 2 cores shared with other work',
    })
    report({
      bench: 'cluster.roundtrips.split',
      value: split.rate,
      ...common,
      p50_ms_at_half_rate: r3(split.p50),
      p99_ms_at_half_rate: r3(split.p99),
      added_p50_ms: r3(split.p50 - serve.p50),
      added_p99_ms: r3(split.p99 - serve.p99),
      runs: runs.split.map((r) => Math.round(r.rate)),
      p99_runs: runs.split.map((r) => r3(r.p99)),
      gateway_stalls_at_half_rate: runs.split.map((r) => r.stalls),
      ...profileFields(split.profiles),
      note: 'gateway in this process, session node in a child process (SQLite store), load generator in another child: 3 processes on 2 cores',
    })
  } finally {
    for (const f of cleanup.reverse()) await f().catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
    rmSync(dataDir, { recursive: true, force: true })
  }
}

/** Gateway × session process counts measured against one `serve` process (env MTGATE_BENCH_SHAPES, e.g. "1x1,2x1"). */
const SHAPES = (process.env.MTGATE_BENCH_SHAPES ?? '1x1,1x2,2x1,2x2').split(',').map((s) => s.split('x').map(Number) as [number, number])

/**
 * cluster.cores: one host, every server part its own process (shared SQLite store, etcd): one
 * `serve` process against N gateway + M session processes, the load generator's sessions spread
 * over the gateways. On 2 cores the load generator takes one core's worth; what the cluster adds
 * (a gRPC hop per message, both ways) is paid in CPU, so the figure says whether splitting a host
 * loses.
 */
async function cores(etcd: EtcdInstance): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mtgate-bench-cluster-cores-'))
  const dataDir = makeDataDir()
  const sqlitePath = join(dir, 'keys.sqlite')
  const sql = new SqliteAuthKeyStore({ path: sqlitePath, synchronous: 'normal' })
  const extra = { store: { backend: 'sqlite', sqlite_path: sqlitePath }, limits: LOAD_TEST_LIMITS }
  const run = async (children: ChildNode[], ports: number[]): Promise<Measured> => {
    try {
      return await measure(ports, await newKeys(sql, SESSIONS))
    } finally {
      for (const c of children) await c.kill('SIGTERM')
    }
  }
  const serveOnce = async (): Promise<Measured> => {
    const serve = await spawnNode('serve', nodeDoc({ nodeId: 'serve', etcd: etcd.endpoint, prefix: '/bench-cores-serve/', dataDir, tcpPort: await freePort(), extra }), dir)
    return run([serve], [serve.info.tcp!])
  }
  try {
    const serve1 = await serveOnce()
    const shapes: { gateways: number; sessions: number; rate: number; p99_ms_at_half_rate: number }[] = []
    for (const [g, m] of SHAPES) {
      const prefix = `/bench-cores-${g}x${m}/`
      const children: ChildNode[] = []
      for (let i = 0; i < m; i++) children.push(await spawnNode('session', nodeDoc({ nodeId: `s${i}`, etcd: etcd.endpoint, prefix, dataDir, extra }), dir))
      for (let i = 0; i < g; i++) children.push(await spawnNode('gateway', nodeDoc({ nodeId: `g${i}`, etcd: etcd.endpoint, prefix, dataDir, tcpPort: await freePort(), extra }), dir))
      // gateways learn the session nodes from etcd: wait until each can serve a session
      await new Promise((r) => setTimeout(r, 1500))
      const r = await run(children, children.slice(m).map((c) => c.info.tcp!))
      shapes.push({ gateways: g, sessions: m, rate: Math.round(r.rate), p99_ms_at_half_rate: r3(r.p99) })
    }
    const serve2 = await serveOnce()
    const serveRate = (serve1.rate + serve2.rate) / 2
    const best = shapes.reduce((a, b) => (b.rate > a.rate ? b : a))
    report({
      bench: 'cluster.cores',
      value: best.rate,
      unit: 'round trips/s',
      baseline: 'one mtgate serve process (same store, same load, same run: mean of a run before and one after)',
      baseline_value: serveRate,
      best_shape: `${best.gateways} gateway x ${best.sessions} session processes`,
      shapes,
      serve_runs: [Math.round(serve1.rate), Math.round(serve2.rate)],
      serve_p99_ms_at_half_rate: r3((serve1.p99 + serve2.p99) / 2),
      added_p99_ms: r3(best.p99_ms_at_half_rate - (serve1.p99 + serve2.p99) / 2),
      cores: availableParallelism(),
      sessions: SESSIONS,
      pings_in_flight_per_session: WINDOW,
      note: 'every server part a child process on this host (SQLite store, etcd); the load generator is one more process',
    })
  } finally {
    await sql.close()
    rmSync(dir, { recursive: true, force: true })
    rmSync(dataDir, { recursive: true, force: true })
  }
}

async function failover(etcd: EtcdInstance): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mtgate-bench-cluster-'))
  const dataDir = makeDataDir()
  const children = new Map<string, ChildNode>()
  const doc = (id: string, tcpPort?: number) =>
    nodeDoc({ nodeId: id, etcd: etcd.endpoint, prefix: '/bench-failover/', dataDir, tcpPort, leaseTtl: 3, extra: { store: { backend: 'sqlite', sqlite_path: join(dir, 'keys.sqlite') } } })
  try {
    for (const id of ['s1', 's2']) children.set(id, await spawnNode('session', doc(id), dir))
    const gwPort = await freePort()
    children.set('g1', await spawnNode('gateway', doc('g1', gwPort), dir))
    const tg = await mtcuteClient('127.0.0.1', gwPort, publicKeyOf(dataDir).pem)
    try {
      const call = () => tg.call({ _: 'help.getNearestDc' })
      await call()
      const key = (await mtcuteAuthKey(tg))!
      const victim = new RendezvousRing(['s1', 's2']).owner(authKeyId(key))!
      await new Promise((r) => setTimeout(r, 1000))
      const t0 = performance.now()
      await children.get(victim)!.kill('SIGKILL')
      for (;;) {
        try {
          await call()
          break
        } catch {
          await new Promise((r) => setTimeout(r, 20))
        }
      }
      const ms = performance.now() - t0
      const same = authKeyId((await mtcuteAuthKey(tg))!) === authKeyId(key)
      report({
        bench: 'cluster.failover_ms',
        value: ms,
        unit: 'ms',
        same_auth_key: same,
        note: 'kill -9 of the session node owning the key → first successful RPC of the client (mtcute, through the gateway; lease TTL 3 s is not on this path: the gateway sees the stream break)',
      })
    } finally {
      await tg.destroy().catch(() => undefined)
    }
  } finally {
    for (const c of children.values()) await c.kill('SIGTERM')
    rmSync(dir, { recursive: true, force: true })
    rmSync(dataDir, { recursive: true, force: true })
  }
}

async function main(): Promise<void> {
  const missing = serviceMissing('etcd')
  if (missing) {
    process.stderr.write(`cluster bench needs etcd: ${missing}\n`)
    process.exit(1)
  }
  const etcd = await startEtcd()
  try {
    if (PARTS.has('roundtrips')) await roundTrips(etcd)
    if (PARTS.has('cores')) await cores(etcd)
    if (PARTS.has('failover')) await failover(etcd)
  } finally {
    await etcd.destroy()
  }
}

await main()
