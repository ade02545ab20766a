/**
 * `npm run bench -- upstream`
 *
 * Round trips of one RPC answered through mtgate's upstream bridge by the Go example backend
 * (examples/go) against the same RPC answered in-process by a TypeScript handler, same server
 * setup, same run. The method is help.getAppConfig: the Go backend answers a help.appConfig of
 * about 1.5 KB of TL (help.getConfig-sized; help.getConfig itself has a built-in handler, and
 * built-in handlers win over routes). The in-process handler returns the very object the backend's
 * answer decodes to (fetched from the backend over gRPC before the phases).
 *
 * For each path: a server in this process (100 sessions, one TCP intermediate connection each,
 * over loopback), the load generator (bench/ping-load.ts, real encrypted MTProto queries: each
 * session's first query is invokeWithLayer(initConnection(help.getAppConfig)), then the bare query)
 * in a child process; `WINDOW` queries in flight per session.
 *   upstream.roundtrips: closed-loop max round trips/s (value: upstream; baseline: in-process), each
 *     the median of CLOSED_REPEATS phases, the two paths alternating.
 *   upstream.p50 / upstream.p99: latency (ms) with queries paced at half the in-process max rate,
 *     for both paths (value: upstream; baseline: in-process); `added_ms` is the difference; left out
 *     when the upstream path's max is below that rate (it could only queue up). Each is the median
 *     of REPEATS phases, the two paths' phases alternating (every phase's figure is in the line).
 *   upstream.p50.half_upstream_max / upstream.p99.half_upstream_max: the same at half the upstream
 *     path's own max (its half load).
 * mtgate calls the backend on its InvokeStream (`stream: true`), one gRPC message per call on a
 * long-lived stream: a unary gRPC call costs grpc-js about eight times the CPU (MTGATE_BENCH_STREAM=0
 * measures that path).
 * The machine's 2 cores are shared by three processes on the upstream path: the server, the load
 * generator and the Go backend (a fourth process that the in-process path does not have), so the
 * ratio includes the backend's CPU taking time from the other two. The backend's per-call log
 * lines go to /dev/null. Everything binds 127.0.0.1.
 *
 * Requires Go and the example's modules in the module cache (.ci/deps/examples-go.sh); the backend
 * is built offline (test/examples/go-backend.ts). MTGATE_BENCH_PROFILE (a directory): CPU profiles
 * of this process (the server) over each closed-loop phase go there, the median phases' summaries
 * into upstream.roundtrips (bench/profile.ts).
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { parseConfig } from '../src/config/index.js'
import { upstreamProto } from '../src/rpc/upstream.js'
import type { InvokeReplyIn } from '../src/rpc/upstream-wire.js'
import { MtgateServer } from '../src/server/server.js'
import { MemoryAuthKeyStore } from '../src/store/memory.js'
import { decodeResult, encode, NEWEST_LAYER, type TlObject } from '../src/tl/index.js'
import { withInitConnection } from '../test/e2e/raw-client.js'
import { startGoBackend } from '../test/examples/go-backend.js'
import { freePort } from '../test/helpers/services.js'
import { invokeRequest } from '../test/helpers/upstream.js'
import { ask, newKeys, spawnClient, stopClient, watchStalls, type FromChild, type LoadQuery, type ProcessStalls } from './ping-load.js'
import { LOAD_TEST_LIMITS } from './load-limits.js'
import { profileFields, profiled, type ProfileSummary } from './profile.js'
import { medianBy, report } from './report.js'

const SESSIONS = 100
const WINDOW = Number(process.env.MTGATE_BENCH_WINDOW ?? 8)
const PHASE_MS = Number(process.env.MTGATE_BENCH_PHASE_MS ?? 3000)
/** Paced phases per path and rate; each latency figure is their median. */
const REPEATS = Number(process.env.MTGATE_BENCH_REPEATS ?? 5)
/** Closed-loop phases per path; each max is their median. */
const CLOSED_REPEATS = Number(process.env.MTGATE_BENCH_CLOSED_REPEATS ?? 3)
/** A phase (or the connect) that has not ended this long after it should have fails the bench. */
const ASK_TIMEOUT_MS = PHASE_MS + 60_000
const METHOD = 'help.getAppConfig'
const QUERY = { _: METHOD, hash: 0 } as const
/** For profiling one path: MTGATE_BENCH_PATH=upstream or in-process runs only that one (no figures; paced at half its own max). */
const ONLY = process.env.MTGATE_BENCH_PATH
/** Calls on the backend's InvokeStream (config `stream: true`; the default here), or one unary Invoke each (MTGATE_BENCH_STREAM=0). */
const STREAM = process.env.MTGATE_BENCH_STREAM !== '0'

/** The Go backend's answer to QUERY, asked over gRPC directly: its bytes, decoded. */
async function backendAnswer(target: string): Promise<{ bytes: Buffer; object: TlObject }> {
  const { Client } = upstreamProto()
  const client = new Client(target, grpc.credentials.createInsecure())
  const query = encode(QUERY as unknown as TlObject)
  const request = invokeRequest({ layer: NEWEST_LAYER, method: METHOD, constructorId: query.readUInt32LE(0), query })
  try {
    const reply = await new Promise<InvokeReplyIn>((resolve, reject) =>
      client.Invoke(request, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err, r) => (err ? reject(err) : resolve(r!))),
    )
    if (reply.outcome !== 'result') throw new Error(`Go backend: ${METHOD} answered ${JSON.stringify(reply.rpcError)}`)
    const object = decodeResult(METHOD, reply.result) as unknown as TlObject
    if (!encode(object).equals(reply.result)) throw new Error(`Go backend: ${METHOD} answer does not re-encode to the same bytes`)
    return { bytes: reply.result, object }
  } finally {
    client.close()
  }
}

/** One path: a server in this process set up by `setup`, and its load generator (connected once, used by both phases). */
class Path {
  private constructor(
    readonly label: string,
    private readonly server: MtgateServer,
    private readonly child: ChildProcess,
    private readonly dataDir: string,
  ) {}

  static async open(label: string, extraConfig: Record<string, unknown>, setup: (s: MtgateServer) => void, query: LoadQuery): Promise<Path> {
    const dataDir = mkdtempSync(join(tmpdir(), 'mtgate-bench-upstream-'))
    const store = new MemoryAuthKeyStore()
    const config = parseConfig({ host: '127.0.0.1', tcp_ports: [0], ws_port: null, data_dir: dataDir, store: { backend: 'memory' }, limits: LOAD_TEST_LIMITS, ...extraConfig }, {})
    const server = await MtgateServer.start(config, { store, inlineHandshakeCrypto: true, gatewayId: 'bench' })
    setup(server)
    const path = new Path(label, server, spawnClient(), dataDir)
    await ask(path.child, { cmd: 'connect', keys: await newKeys(store, SESSIONS), port: server.addresses[0]!.port, window: WINDOW, query }, ASK_TIMEOUT_MS)
    return path
  }

  private closedRuns = 0

  /** Closed-loop max round trips/s, this process's CPU per round trip (µs), and its CPU profile meanwhile (MTGATE_BENCH_PROFILE). */
  async closed(): Promise<{ rate: number; serverUsPerRt: number; profile?: ProfileSummary }> {
    await ask(this.child, { cmd: 'closed', ms: 500 }, ASK_TIMEOUT_MS) // warm-up
    const cpu0 = process.cpuUsage()
    const { value: r, profile } = await profiled(`upstream-${this.label}-closed-${this.closedRuns++}`, () =>
      ask<Extract<FromChild, { ok: 'closed' }>>(this.child, { cmd: 'closed', ms: PHASE_MS }, ASK_TIMEOUT_MS),
    )
    const cpu = process.cpuUsage(cpu0)
    const out = { rate: r.roundTrips / (r.ms / 1000), serverUsPerRt: (cpu.user + cpu.system) / r.roundTrips, profile }
    process.stderr.write(`${this.label}: closed loop ${Math.round(out.rate)} round trips/s, server ${out.serverUsPerRt.toFixed(1)} µs/round trip\n`)
    return out
  }

  /** Latency with queries paced at `rate`/s; this process's stalls meanwhile. */
  async paced(rate: number): Promise<{ paced: Extract<FromChild, { ok: 'paced' }>; server: ProcessStalls }> {
    const stalls = watchStalls()
    const paced = await ask<Extract<FromChild, { ok: 'paced' }>>(this.child, { cmd: 'paced', rate, ms: PHASE_MS }, ASK_TIMEOUT_MS)
    const server = stalls()
    process.stderr.write(`${this.label}: at ${Math.round(rate)}/s p50 ${paced.p50Ms.toFixed(3)} ms, p99 ${paced.p99Ms.toFixed(3)} ms\n`)
    return { paced, server }
  }

  async close(): Promise<void> {
    await stopClient(this.child)
    await this.server.stop()
    rmSync(this.dataDir, { recursive: true, force: true })
  }
}

const r3 = (x: number) => Math.round(x * 1000) / 1000

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mtgate-bench-upstream-go-'))
  const listen = `127.0.0.1:${await freePort()}`
  // no pushes in this bench: the backend's Mtgate address is never dialled (it dials lazily)
  const backend = await startGoBackend({ listen, mtgate: `127.0.0.1:${await freePort()}`, stateFile: join(dir, 'state.json') }, true)
  try {
    const answer = await backendAnswer(listen)
    process.stderr.write(`${METHOD}: the answer is ${answer.bytes.length} bytes of TL\n`)
    const query: LoadQuery = {
      first: withInitConnection(NEWEST_LAYER, 1, QUERY).toString('hex'),
      body: encode(QUERY as unknown as TlObject).toString('hex'),
    }
    const paths: Path[] = []
    try {
      if (ONLY !== 'upstream') paths.push(await Path.open('in-process', {}, (s) => s.handle(METHOD, () => answer.object as never), query))
      // max_in_flight far above the default 1024: the paced phases send on schedule whatever comes
      // back, so a stall of a third of a second would make the bridge shed calls (-503), which ends
      // the bench; a stall belongs in the latency figures instead
      const upstream = { name: 'go', targets: [listen], stream: STREAM, max_in_flight: 65_536 }
      if (ONLY !== 'in-process') paths.push(await Path.open('upstream', { upstreams: [upstream], routes: { [METHOD]: 'go' } }, () => undefined, query))
      if (ONLY !== undefined) {
        await paths[0]!.paced((await paths[0]!.closed()).rate / 2)
        return
      }
      await figures(paths[0]!, paths[1]!, answer.bytes.length)
    } finally {
      for (const p of paths) await p.close()
    }
  } finally {
    await backend.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Both closed-loop phases, then both paced phases at two rates: half the in-process max (when the
 * upstream path sustains it; figures upstream.p50 / upstream.p99) and half the upstream path's own
 * max (its half load; upstream.p50.half_upstream_max / upstream.p99.half_upstream_max).
 */
async function figures(inProcessPath: Path, upstreamPath: Path, answerBytes: number): Promise<void> {
  // alternating, like the paced phases: a stall of the shared machine moves one phase, not the figure
  const closed: { inProcess: ClosedRun[]; upstream: ClosedRun[] } = { inProcess: [], upstream: [] }
  for (let i = 0; i < CLOSED_REPEATS; i++) {
    closed.inProcess.push(await inProcessPath.closed())
    closed.upstream.push(await upstreamPath.closed())
  }
  const inProcess = medianBy(closed.inProcess, (r) => r.rate)
  const upstream = medianBy(closed.upstream, (r) => r.rate)
  const sustainable = upstream.rate > (inProcess.rate / 2) * 1.1

  const common = {
    sessions: SESSIONS,
    queries_in_flight_per_session: WINDOW,
    method: METHOD,
    answer_bytes: answerBytes,
    note: 'upstream path: server (this process), load generator (child) and Go backend (own process) share the 2 cores; in-process path: server and load generator',
  }
  report({
    bench: 'upstream.roundtrips',
    value: upstream.rate,
    unit: 'round trips/s',
    baseline: 'in-process: the same server setup with a TypeScript handler returning the identical object, same run',
    baseline_value: inProcess.rate,
    goal_ratio: 0.5,
    server_cpu_us_per_roundtrip: r3(upstream.serverUsPerRt),
    baseline_server_cpu_us_per_roundtrip: r3(inProcess.serverUsPerRt),
    of_phases: `median of ${CLOSED_REPEATS} closed-loop phases of ${PHASE_MS} ms each, in-process and upstream alternating`,
    phases: closed.upstream.map((r) => Math.round(r.rate)),
    baseline_phases: closed.inProcess.map((r) => Math.round(r.rate)),
    ...profileFields({ profile: upstream.profile, baseline_profile: inProcess.profile }),
    ...common,
  })
  const rates: { rate: number; suffix: string; rateIs: string }[] = [{ rate: upstream.rate / 2, suffix: '.half_upstream_max', rateIs: 'half the upstream max round trips/s' }]
  if (sustainable) rates.unshift({ rate: inProcess.rate / 2, suffix: '', rateIs: 'half the in-process max round trips/s' })
  for (const { rate, suffix, rateIs } of rates) {
    // in-process and upstream phases alternate, REPEATS of each: one stall of the shared machine
    // moves one phase's p99, not the figure (each figure is the median phase)
    const runs: { inProcess: PacedRun[]; upstream: PacedRun[] } = { inProcess: [], upstream: [] }
    for (let i = 0; i < REPEATS; i++) {
      runs.inProcess.push(await inProcessPath.paced(rate))
      runs.upstream.push(await upstreamPath.paced(rate))
    }
    for (const p of ['p50', 'p99'] as const) {
      const key = p === 'p50' ? 'p50Ms' : 'p99Ms'
      const up = medianBy(runs.upstream, (r) => r.paced[key])
      const base = medianBy(runs.inProcess, (r) => r.paced[key])
      report({
        bench: `upstream.${p}${suffix}`,
        value: up.paced[key],
        unit: 'ms',
        baseline: `in-process ${p} at the same rate, same run`,
        baseline_value: base.paced[key],
        added_ms: r3(up.paced[key] - base.paced[key]),
        ...(p === 'p99' ? { goal_added_ms: 2 } : {}),
        rate: Math.round(rate),
        rate_is: rateIs,
        of_phases: `median of ${REPEATS} phases of ${PHASE_MS} ms each, in-process and upstream alternating`,
        phases: runs.upstream.map((r) => r3(r.paced[key])),
        baseline_phases: runs.inProcess.map((r) => r3(r.paced[key])),
        queries: up.paced.sent,
        server_at_rate: up.server,
        baseline_server_at_rate: base.server,
        client_at_rate: up.paced.client,
        ...common,
      })
    }
  }
}

type PacedRun = Awaited<ReturnType<Path['paced']>>
type ClosedRun = Awaited<ReturnType<Path['closed']>>

await main()
