/**
 * `npm run bench -- rpc`
 *
 * rpc.roundtrips.{100,1000}: encrypted ping → pong round trips/s through the whole server (transport,
 *   gateway encrypted path, session layer) with 100 and 1000 concurrent sessions (one TCP
 *   intermediate connection each) over loopback. The server runs in this process, the load
 *   generator (test/e2e/raw-client.ts) in a child process, so each gets one of the 2 cores.
 *   Baseline: the crypto-only cost of the same messages measured in this run — one round trip =
 *   client encrypt + server decrypt + server encrypt + client decrypt of the same ping/pong plaintexts,
 *   on one core. Then p50/p99 latency with pings paced at half the measured max rate, sent in the
 *   closed-loop phase's shape (`window` pings to one session back to back, sessions in turn).
 * session.memory: heap bytes per idle authorised connection (auth key in the store, session created
 *   by one ping). Measured at SESSION_MEMORY_CONNECTIONS connections (default 19000), not 20k: the
 *   process open-file limit here is 20000 (hard limit too), and the server needs a few descriptors
 *   besides its sockets.
 *
 * Auth keys are put into the server's store directly (the handshake is benchmarked by bench/handshake.ts).
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { parseConfig } from '../src/config/index.js'
import { AuthKey, decryptMessage, encryptMessage } from '../src/crypto/message.js'
import { MtgateServer } from '../src/server/server.js'
import { MemoryAuthKeyStore } from '../src/store/memory.js'
import { encode } from '../src/tl/index.js'
import { ask, newKeys, spawnClient, stopClient, watchStalls, type FromChild } from './ping-load.js'
import { report } from './report.js'
import { LOAD_TEST_LIMITS } from './load-limits.js'

const SESSION_MEMORY_CONNECTIONS = Number(process.env.MTGATE_BENCH_MEMORY_CONNECTIONS ?? 19_000)
const PHASE_MS = Number(process.env.MTGATE_BENCH_PHASE_MS ?? 3000)
/** Which parts run (for profiling one of them): comma-separated of 100, 1000, memory; default all. */
const PARTS = new Set((process.env.MTGATE_BENCH_PARTS ?? '100,1000,memory').split(','))

// ------------------------------------------------------------------------------------------------
// server side (this process)
// ------------------------------------------------------------------------------------------------

/** Crypto-only round trips/s on one core: the four encrypt/decrypt steps of one ping/pong. */
function cryptoOnly(): number {
  const key = new AuthKey(randomBytes(256))
  const frame = (body: Buffer): Buffer => {
    const p = Buffer.alloc(32 + body.length)
    p.writeBigInt64LE(1n, 0)
    p.writeBigInt64LE(2n, 8)
    p.writeBigInt64LE(3n, 16)
    p.writeInt32LE(1, 24)
    p.writeInt32LE(body.length, 28)
    body.copy(p, 32)
    return p
  }
  const ping = frame(encode({ _: 'ping', ping_id: 5n }))
  const pong = frame(encode({ _: 'pong', msg_id: 3n, ping_id: 5n }))
  const once = () => {
    decryptMessage(key, encryptMessage(key, ping, 'client'), 'client')
    decryptMessage(key, encryptMessage(key, pong, 'server'), 'server')
  }
  for (let i = 0; i < 2000; i++) once()
  let n = 0
  const t0 = performance.now()
  while (performance.now() - t0 < 1500) {
    for (let i = 0; i < 200; i++) once()
    n += 200
  }
  return n / ((performance.now() - t0) / 1000)
}

async function roundTrips(port: number, keys: string[], window: number, crypto: number): Promise<void> {
  const child = spawnClient()
  try {
    await ask(child, { cmd: 'connect', keys, port, window })
    await ask(child, { cmd: 'closed', ms: 500 }) // warm-up
    const cpu0 = process.cpuUsage()
    const r = await ask<Extract<FromChild, { ok: 'closed' }>>(child, { cmd: 'closed', ms: PHASE_MS })
    const cpu = process.cpuUsage(cpu0)
    const rate = r.roundTrips / (r.ms / 1000)
    const serverUsPerRt = (cpu.user + cpu.system) / r.roundTrips
    const stalls = watchStalls()
    const paced = await ask<Extract<FromChild, { ok: 'paced' }>>(child, { cmd: 'paced', rate: rate / 2, ms: PHASE_MS })
    const server = stalls()
    report({
      bench: `rpc.roundtrips.${keys.length}`,
      value: rate,
      unit: 'round trips/s',
      baseline: 'crypto-only: client encrypt + server decrypt + server encrypt + client decrypt of the same ping/pong, 1 core, same run',
      baseline_value: crypto,
      sessions: keys.length,
      pings_in_flight_per_session: window,
      p50_ms_at_half_rate: Math.round(paced.p50Ms * 1000) / 1000,
      p99_ms_at_half_rate: Math.round(paced.p99Ms * 1000) / 1000,
      half_rate_pings: paced.sent,
      // where a latency tail comes from: each process's event-loop delay and GC pauses (ms) in the paced phase
      server_at_half_rate: server,
      client_at_half_rate: paced.client,
      server_cpu_us_per_roundtrip: Math.round(serverUsPerRt * 100) / 100,
      server_capacity_per_core: Math.round(1e6 / serverUsPerRt),
      server_cpu_busy: Math.round(((cpu.user + cpu.system) / 1000 / r.ms) * 100) / 100,
      note: 'server (this process) and load generator (child process) share the 2 cores',
    })
  } finally {
    await stopClient(child)
  }
}

async function main(): Promise<void> {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const dataDir = mkdtempSync(join(tmpdir(), 'mtgate-bench-rpc-'))
  const store = new MemoryAuthKeyStore()
  const config = parseConfig({ host: '127.0.0.1', tcp_ports: [0], ws_port: null, data_dir: dataDir, store: { backend: 'memory' }, limits: LOAD_TEST_LIMITS }, {})
  const server = await MtgateServer.start(config, { store, inlineHandshakeCrypto: true, gatewayId: 'bench' })
  const port = server.addresses[0]!.port

  try {
    const crypto = cryptoOnly()
    if (PARTS.has('100')) await roundTrips(port, await newKeys(store, 100), 8, crypto)
    if (PARTS.has('1000')) await roundTrips(port, await newKeys(store, 1000), 1, crypto)
    if (!PARTS.has('memory')) return

    // session.memory: keys go into the store first (their cost is the store's), then the connections
    const keys = await newKeys(store, SESSION_MEMORY_CONNECTIONS)
    await new Promise((r) => setTimeout(r, 1500)) // earlier connections close
    gc()
    gc()
    const before = process.memoryUsage()
    const conns0 = server.connectionCount
    const sessions0 = server.sessions.sessionCount
    const child = spawnClient()
    try {
      await ask(child, { cmd: 'connect', keys, port, window: 1 })
      await new Promise((r) => setTimeout(r, 1000))
      gc()
      gc()
      const after = process.memoryUsage()
      const n = server.connectionCount - conns0
      report({
        bench: 'session.memory',
        value: (after.heapUsed - before.heapUsed) / n,
        unit: 'heap bytes/connection',
        connections: n,
        new_sessions: server.sessions.sessionCount - sessions0,
        external_bytes_per_connection: Math.round((after.external - before.external) / n),
        note: `idle authorised connections (key in the store beforehand, session created by one ping), measured at ${n} connections, not 20k (open-file limit 20000 here, hard limit too)`,
      })
    } finally {
      await stopClient(child)
    }
  } finally {
    await server.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

await main()
