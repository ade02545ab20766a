/**
 * The ping load generator shared by bench/rpc.ts, bench/cluster.ts and bench/upstream.ts: a child
 * process holding many encrypted sessions (test/e2e/raw-client.ts), driven over IPC: connect,
 * closed-loop phase (max rate), paced phase (latency at a given rate). It sends pings, or with
 * connect's `query` one RPC query (an rpc_result counts as the round trip, an rpc_error fails the phase).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { AuthKey } from '../src/crypto/message.js'
import type { AuthKeyStore } from '../src/store/types.js'

export type ToChild =
  | { cmd: 'connect'; keys: string[]; port: number | number[]; window: number; query?: LoadQuery; host?: string }
  | { cmd: 'closed'; ms: number }
  | { cmd: 'paced'; rate: number; ms: number }
  | { cmd: 'idle' }
  | { cmd: 'exit' }
export type FromChild =
  | { ok: 'connected'; n: number }
  | { ok: 'closed'; roundTrips: number; ms: number }
  | { ok: 'paced'; sent: number; p50Ms: number; p99Ms: number; client: ProcessStalls }
  | { ok: 'error'; message: string }

/** The query a load generator sends instead of pings: hex of boxed TL. */
export interface LoadQuery {
  /** Sent once per session at connect, e.g. invokeWithLayer(initConnection(query)); must not be an rpc_error. */
  first: string
  /** Sent for each round trip. */
  body: string
}

/** Where a latency tail comes from: one process's event-loop delay and GC pauses over a phase (ms). */
export interface ProcessStalls {
  loopDelayP99: number
  loopDelayMax: number
  gcPauses: number
  gcPauseMax: number
  gcPauseTotal: number
}

/** Starts watching this process's event loop and GC; the returned function stops and reports. */
export function watchStalls(): () => ProcessStalls {
  const loop = monitorEventLoopDelay({ resolution: 1 })
  loop.enable()
  const pauses: number[] = []
  const gc = new PerformanceObserver((l) => void pauses.push(...l.getEntries().map((e) => e.duration)))
  gc.observe({ entryTypes: ['gc'] })
  const r3 = (x: number) => Math.round(x * 1e3) / 1e3
  return () => {
    loop.disable()
    gc.disconnect()
    return {
      loopDelayP99: r3(loop.percentile(99) / 1e6),
      loopDelayMax: r3(loop.max / 1e6),
      gcPauses: pauses.length,
      gcPauseMax: r3(Math.max(0, ...pauses)),
      gcPauseTotal: r3(pauses.reduce((a, b) => a + b, 0)),
    }
  }
}

// ------------------------------------------------------------------------------------------------
// load generator (child process)
// ------------------------------------------------------------------------------------------------

async function child(): Promise<void> {
  const { RawClient, isRpcError } = await import('../test/e2e/raw-client.js')
  let clients: Awaited<ReturnType<typeof RawClient.connect>>[] = []
  let window = 1
  let queries = false
  const send = (m: FromChild) => process.send!(m)
  type Client = (typeof clients)[number]
  const sendOne = (c: Client, tag: number) => (queries ? c.sendQuery(tag) : c.sendPing(tag))
  const onDone = (c: Client, f: (tag: number, err?: Error) => void) => {
    c.onPong = f
    c.onAnswer = f
  }
  process.on('message', async (m: ToChild) => {
    try {
      if (m.cmd === 'connect') {
        window = m.window
        queries = m.query !== undefined
        clients = []
        const batch = 200
        // several ports: sessions go to them in turn (one listener per gateway process)
        const ports = Array.isArray(m.port) ? m.port : [m.port]
        for (let i = 0; i < m.keys.length; i += batch) {
          const part = await Promise.all(
            m.keys
              .slice(i, i + batch)
              .map((hex, j) => RawClient.connect({ host: m.host ?? '127.0.0.1', port: ports[(i + j) % ports.length]!, key: new AuthKey(Buffer.from(hex, 'hex')), ack: true })),
          )
          // first ping or query: bad_server_salt → salt, new_session_created
          if (m.query === undefined) await Promise.all(part.map((c) => c.ping()))
          else {
            const first = Buffer.from(m.query.first, 'hex')
            const body = Buffer.from(m.query.body, 'hex')
            for (const r of await Promise.all(part.map((c) => c.invoke(first)))) {
              if (isRpcError(r)) throw new Error(`first query answered rpc_error ${r.error_code} ${r.error_message}`)
            }
            for (const c of part) c.taggedQueryBody = body
          }
          clients.push(...part)
        }
        send({ ok: 'connected', n: clients.length })
      } else if (m.cmd === 'closed') {
        // `window` pings in flight per session: each pong sends the next ping on its session
        let n = 0
        let inFlight = 0
        let running = true
        let failure: Error | undefined
        let drained: (() => void) | undefined
        const onPong = (tag: number, err?: Error) => {
          failure ??= err
          inFlight--
          if (err === undefined) n++
          if (running && err === undefined) {
            inFlight++
            sendOne(clients[tag]!, tag)
          } else if (inFlight === 0) drained?.()
        }
        const t0 = performance.now()
        clients.forEach((c, i) => {
          onDone(c, onPong)
          for (let w = 0; w < window; w++, inFlight++) sendOne(c, i)
        })
        await new Promise((r) => setTimeout(r, m.ms))
        running = false
        const ms = performance.now() - t0
        const counted = n
        if (inFlight > 0) await new Promise<void>((r) => (drained = r))
        if (failure !== undefined) throw failure
        send({ ok: 'closed', roundTrips: counted, ms })
      } else if (m.cmd === 'paced') {
        // latencies go into a preallocated array and nothing is retained per ping, so the
        // generator's own garbage collection stays out of the figures it measures
        const lat = new Float64Array(Math.ceil((m.rate * m.ms) / 1000) + 1024)
        const stalls = watchStalls()
        let sent = 0
        let done = 0
        let idx = 0
        const t0 = performance.now()
        const perMs = m.rate / 1000
        let finished: (() => void) | undefined
        let failure: Error | undefined
        // start time per ping, by tag (the ping's index): no closure or promise per ping
        const started = new Float64Array(lat.length)
        const onPong = (tag: number, err?: Error) => {
          failure ??= err
          if (done < lat.length) lat[done] = performance.now() - started[tag]!
          done++
          if (done === sent && finished !== undefined) finished()
        }
        for (const c of clients) onDone(c, onPong)
        await new Promise<void>((resolve) => {
          const tick = () => {
            const now = performance.now()
            if (now - t0 >= m.ms || sent >= lat.length) return resolve()
            const target = Math.min(lat.length, Math.floor((now - t0) * perMs))
            while (sent < target) {
              // same traffic shape as the closed-loop phase: `window` pings per session back to back
              // (they leave in one write and come back in one container), sessions in turn
              const c = clients[Math.floor(idx++ / window) % clients.length]!
              started[sent] = performance.now()
              sendOne(c, sent)
              sent++
            }
            setTimeout(tick, 1)
          }
          tick()
        })
        if (done < sent) await new Promise<void>((r) => (finished = r))
        const client = stalls()
        if (failure !== undefined) throw failure
        const sorted = lat.subarray(0, Math.min(done, lat.length)).sort()
        send({
          ok: 'paced',
          sent,
          p50Ms: pct(sorted, 50),
          p99Ms: pct(sorted, 99),
          client,
        })
      } else if (m.cmd === 'idle') {
        send({ ok: 'connected', n: clients.length })
      } else if (m.cmd === 'exit') {
        for (const c of clients) c.close()
        process.exit(0)
      }
    } catch (e) {
      send({ ok: 'error', message: (e as Error).stack ?? String(e) })
    }
  })
}

/** `n` new auth keys put straight into `store` (the handshake has its own bench); their hex for connect. */
export async function newKeys(store: AuthKeyStore, n: number): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    const k = new AuthKey(randomBytes(256))
    await store.put({ id: k.id, key: k.key, type: 0, createdAt: Math.floor(Date.now() / 1000) })
    out.push(k.key.toString('hex'))
  }
  return out
}

/** Sends `m` to the load generator; its answer. `timeoutMs`: rejects when none comes within it (the child is killed). */
export function ask<T extends FromChild>(c: ChildProcess, m: ToChild, timeoutMs?: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            c.off('message', onMessage)
            c.kill('SIGKILL')
            reject(new Error(`load generator: no answer to ${m.cmd} within ${timeoutMs} ms`))
          }, timeoutMs)
    const onMessage = (r: FromChild) => {
      clearTimeout(timer)
      if (r.ok === 'error') reject(new Error(r.message))
      else resolve(r as T)
    }
    c.once('message', onMessage)
    c.send(m)
  })
}

function pct(sorted: ArrayLike<number>, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

/**
 * Starts the load generator (this file, as a child process). It runs with V8's single-threaded GC:
 * on 2 cores its parallel scavenger threads otherwise run on the server's core, and its own GC
 * pauses are the largest part of the latency tail it measures (see client_at_half_rate).
 */
export function spawnClient(): ChildProcess {
  return fork(fileURLToPath(import.meta.url), [], {
    env: { ...process.env, MTGATE_BENCH_ROLE: 'client' },
    execArgv: [...process.execArgv, '--single-threaded-gc'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
}

export async function stopClient(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  if (!child.killed) child.send({ cmd: 'exit' } satisfies ToChild)
  await exited
}


if (process.env.MTGATE_BENCH_ROLE === 'client') await child()
