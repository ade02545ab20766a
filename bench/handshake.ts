/**
 * handshake.rate: full auth-key handshakes per second under a storm of new TCP connections, as
 * a ratio to the crypto limit measured in the same run (1 RSA-2048 private decrypt + 2 modexps
 * of 2048 bits, on every core at once); plus the server event-loop lag p99 during the storm.
 *
 * Layout: the server (TcpListener + Gateway + HandshakeService, crypto on a CryptoPool sized to
 * the cores) runs on the main thread; the load generator runs on a worker thread with many
 * concurrent clients speaking unencrypted MTProto through our own transport codecs and the
 * spec client flow (src/handshake/client.ts) in `fast` mode: it reuses one client secret b and
 * does not compute the auth key (the server's work is unchanged). To keep the load generator from
 * eating the server's CPU with Pollard-rho, the server draws pq from a precomputed list that the
 * generator also holds (a load-generator shortcut only).
 *
 * The baseline is the limit measured with the same scheduling priority before and after the storm
 * (median unit time, i.e. under the machine's load at that moment); `limit_uncontended` (10th
 * percentile unit time) and `ratio_uncontended` tell how far a shared machine is from idle.
 *
 * Env: HS_SECONDS (storm length, default 6), HS_CLIENTS (concurrency, default 64), HS_NICE
 * (niceness of the crypto workers and of the limit-measuring workers alike, default 10).
 */
import { availableParallelism, loadavg, setPriority } from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { randomBytes } from 'node:crypto'
import { report } from './report.js'
import { RsaPrivateKey, RsaPublicKey } from '../src/handshake/rsa-key.js'
import { RsaKeySet } from '../src/handshake/rsa-keyset.js'
import { CryptoPool } from '../src/handshake/crypto-pool.js'
import { HandshakeService } from '../src/handshake/server.js'
import { makePair, PqPool, type PqPair, type PqSource } from '../src/handshake/pq.js'
import { Gateway } from '../src/gateway/gateway.js'
import { TcpListener } from '../src/transport/tcp-listener.js'
import { MemoryAuthKeyStore } from '../src/store/memory.js'
import { dhPublic, modPowDh } from '../src/handshake/dh-engine.js'
import { clientHandshake } from '../src/handshake/client.js'
import { PlainTcpClient } from '../test/helpers/clients.js'

interface LoadInit {
  role: 'load'
  host: string
  port: number
  publicPem: string
  pairs: Array<[string, string]>
  clients: number
  seconds: number
}
interface LimitInit {
  role: 'limit'
  privatePem: string
  ms: number
  nice: number
}

const log = (msg: string): void => void process.stderr.write(`[bench handshake] ${msg}\n`)

/** Worker: crypto limit loop (1 RSA private op + 2 modexps per iteration). */
function limitWorker(init: LimitInit): void {
  // Same scheduling priority as the CryptoPool workers, so the comparison is like for like.
  if (init.nice > 0) setPriority(0, init.nice)
  const key = RsaPrivateKey.fromPem(init.privatePem)
  const n = BigInt('0x' + key.publicKey.n.toString('hex'))
  const c = Buffer.from((n - 12345n).toString(16).padStart(512, '0'), 'hex')
  const a = randomBytes(256)
  const gB = dhPublic(randomBytes(256))
  for (let i = 0; i < 5; i++) key.decryptRaw(c)
  // Median time of one unit: robust against preemption by other processes on a shared machine.
  const start = performance.now()
  const times: number[] = []
  while (performance.now() - start < init.ms) {
    const t = performance.now()
    key.decryptRaw(c)
    dhPublic(a)
    modPowDh(gB, a)
    times.push(performance.now() - t)
  }
  times.sort((x, y) => x - y)
  // Median: the rate under the machine's current load; 10th percentile: close to the uncontended cost.
  parentPort!.postMessage([1000 / times[Math.floor(times.length / 2)]!, 1000 / times[Math.floor(times.length / 10)]!])
}

/** Worker: load generator. */
async function loadWorker(init: LoadInit): Promise<void> {
  const factors = new Map(init.pairs.map(([p, q]) => [BigInt(p) * BigInt(q), { p: BigInt(p), q: BigInt(q) }]))
  const publicKeys = [RsaPublicKey.fromPem(init.publicPem)]
  const b = randomBytes(256)
  const fast = { b, gB: dhPublic(b), factor: (pq: bigint) => factors.get(pq)! }
  let done = 0
  let failed = 0
  let measuring = false
  let stop = false
  parentPort!.on('message', (m: string) => {
    if (m === 'measure') {
      measuring = true
      done = 0
      failed = 0
    } else if (m === 'stop') stop = true
  })
  const one = async (): Promise<void> => {
    const c = await PlainTcpClient.connect(init.host, init.port)
    try {
      await clientHandshake(c, { publicKeys, dcId: 2, fast })
      if (measuring) done++
    } catch {
      if (measuring) failed++
    } finally {
      c.close()
    }
  }
  const loop = async (): Promise<void> => {
    while (!stop) await one().catch(() => void failed++)
  }
  await Promise.all(Array.from({ length: init.clients }, loop))
  parentPort!.postMessage({ done, failed })
}

async function runWorker<T>(data: LoadInit | LimitInit): Promise<{ worker: Worker; result: Promise<T> }> {
  const worker = new Worker(new URL(import.meta.url), { workerData: data })
  const result = new Promise<T>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  return { worker, result }
}

async function main(): Promise<void> {
  const cores = availableParallelism()
  const seconds = Number(process.env.HS_SECONDS ?? 6)
  const nice = Number(process.env.HS_NICE ?? 10)
  const clients = Number(process.env.HS_CLIENTS ?? 64)
  const key = RsaPrivateKey.generate()

  // 1. Crypto limit: every core at once (measured again after the storm; the mean is the baseline).
  let uncontended = 0
  const measureLimit = async (): Promise<number> => {
    const limits = await Promise.all(Array.from({ length: cores }, () => runWorker<[number, number]>({ role: 'limit', privatePem: key.toPem(), ms: 1500, nice })))
    const perCore = await Promise.all(limits.map((l) => l.result))
    await Promise.all(limits.map((l) => l.worker.terminate()))
    const limit = perCore.reduce((a, b) => a + b[0], 0)
    uncontended = Math.max(uncontended, perCore.reduce((a, b) => a + b[1], 0))
    log(`crypto limit ${limit.toFixed(1)}/s (${perCore.map((x) => x[0].toFixed(1)).join(' + ')} on ${cores} cores; median unit time); uncontended ${uncontended.toFixed(1)}/s (p10 unit time)`)
    return limit
  }
  const limitBefore = await measureLimit()

  // 2. Server.
  const pool = new PqPool(4096, 0)
  await pool.fill()
  const pairs: PqPair[] = []
  for (let i = 0; i < 4096; i++) pairs.push(pool.take())
  pool.close()
  let next = 0
  const pq: PqSource = { take: () => makePair(pairs[next % pairs.length]!.p, pairs[next++ % pairs.length]!.q) }
  const keys = new RsaKeySet([key])
  const crypto = new CryptoPool(keys, cores, nice)
  await crypto.ready()
  const store = new MemoryAuthKeyStore()
  const service = new HandshakeService({ keys, crypto, store, dcIds: [2], pq, rate: { perSecondPerIp: 1 << 20, burstPerIp: 1 << 20, perSecondPerPrefix: 1 << 20, burstPerPrefix: 1 << 20 } })
  const gateway = new Gateway({ handshake: service, onEncrypted: (c) => c.close('bench', -404) })
  const listener = new TcpListener({ host: '127.0.0.1', ports: [0] })
  gateway.attach(listener)
  const [port] = (await listener.listen()) as [number]

  // 3. Storm: 1 s warm-up, then `seconds` measured.
  const load = await runWorker<{ done: number; failed: number }>({
    role: 'load',
    host: '127.0.0.1',
    port: port!,
    publicPem: key.publicKey.toPem(),
    pairs: pairs.map((p) => [p.p.toString(), p.q.toString()]),
    clients,
    seconds,
  })
  await new Promise((r) => setTimeout(r, 1000))
  const lag = monitorEventLoopDelay({ resolution: 1 })
  load.worker.postMessage('measure')
  const t0 = performance.now()
  const elu0 = performance.eventLoopUtilization()
  lag.enable()
  await new Promise((r) => setTimeout(r, seconds * 1000))
  lag.disable()
  const elu = performance.eventLoopUtilization(elu0).utilization
  load.worker.postMessage('stop')
  const elapsed = (performance.now() - t0) / 1000
  const { done, failed } = await load.result
  await load.worker.terminate()
  await crypto.close()
  const limitAfter = await measureLimit()
  const limit = (limitBefore + limitAfter) / 2
  const rate = done / elapsed
  const p99 = lag.percentile(99) / 1e6
  log(`${done} handshakes in ${elapsed.toFixed(2)} s (${failed} failed), ${clients} concurrent clients, event-loop p99 ${p99.toFixed(2)} ms, max ${(lag.max / 1e6).toFixed(1)} ms, main-thread utilisation ${(elu * 100).toFixed(0)}%, load average ${loadavg()[0]!.toFixed(1)}`)

  report({ bench: 'handshake.rate', value: rate, unit: 'handshakes/s', baseline: `crypto limit (1 RSA decrypt + 2 modexps) x ${cores} cores`, baseline_value: limit, clients, failed, nice, limit_before: Math.round(limitBefore), limit_after: Math.round(limitAfter), limit_uncontended: Math.round(uncontended), ratio_uncontended: Math.round((rate / uncontended) * 1000) / 1000, load_average: Math.round(loadavg()[0]! * 10) / 10, main_thread_utilisation: Math.round(elu * 1000) / 1000 })
  report({ bench: 'handshake.loop_lag_p99', value: p99, unit: 'ms', baseline: 'goal', baseline_value: 20 })

  await listener.close()
  service.close()
}

if (isMainThread) {
  await main()
} else {
  const init = workerData as LoadInit | LimitInit
  if (init.role === 'limit') limitWorker(init)
  else await loadWorker(init)
}
