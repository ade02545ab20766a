/**
 * The ping load generator shared by bench/rpc.ts and bench/cluster.ts: a child process holding
 * many encrypted sessions (test/e2e/raw-client.ts), driven over IPC: connect, closed-loop phase
 * (max rate), paced phase (latency at a given rate).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { AuthKey } from '../src/crypto/message.js'

export type ToChild =
  | { cmd: 'connect'; keys: string[]; port: number; window: number }
  | { cmd: 'closed'; ms: number }
  | { cmd: 'paced'; rate: number; ms: number }
  | { cmd: 'idle' }
  | { cmd: 'exit' }
export type FromChild =
  | { ok: 'connected'; n: number }
  | { ok: 'closed'; roundTrips: number; ms: number }
  | { ok: 'paced'; sent: number; latenciesMs: number[] }
  | { ok: 'error'; message: string }

// ------------------------------------------------------------------------------------------------
// load generator (child process)
// ------------------------------------------------------------------------------------------------

async function child(): Promise<void> {
  const { RawClient } = await import('../test/e2e/raw-client.js')
  let clients: Awaited<ReturnType<typeof RawClient.connect>>[] = []
  let window = 1
  const send = (m: FromChild) => process.send!(m)
  process.on('message', async (m: ToChild) => {
    try {
      if (m.cmd === 'connect') {
        window = m.window
        clients = []
        const batch = 200
        for (let i = 0; i < m.keys.length; i += batch) {
          const part = await Promise.all(
            m.keys.slice(i, i + batch).map((hex) => RawClient.connect({ host: '127.0.0.1', port: m.port, key: new AuthKey(Buffer.from(hex, 'hex')), ack: true })),
          )
          // first ping: bad_server_salt → salt, new_session_created
          await Promise.all(part.map((c) => c.ping()))
          clients.push(...part)
        }
        send({ ok: 'connected', n: clients.length })
      } else if (m.cmd === 'closed') {
        let n = 0
        let running = true
        const t0 = performance.now()
        const loop = async (c: (typeof clients)[number]) => {
          while (running) {
            await c.ping()
            n++
          }
        }
        const all = clients.flatMap((c) => Array.from({ length: window }, () => loop(c)))
        await new Promise((r) => setTimeout(r, m.ms))
        running = false
        const ms = performance.now() - t0
        const counted = n
        await Promise.all(all)
        send({ ok: 'closed', roundTrips: counted, ms })
      } else if (m.cmd === 'paced') {
        const lat: number[] = []
        let sent = 0
        let idx = 0
        const t0 = performance.now()
        const perMs = m.rate / 1000
        let due = 0
        const inflight: Promise<void>[] = []
        await new Promise<void>((resolve) => {
          const tick = () => {
            const now = performance.now()
            if (now - t0 >= m.ms) return resolve()
            const target = Math.floor((now - t0) * perMs)
            while (due < target) {
              // same traffic shape as the closed-loop phase: `window` pings per session back to back
              // (they leave in one write and come back in one container), sessions in turn
              const c = clients[Math.floor(idx++ / window) % clients.length]!
              const s = performance.now()
              inflight.push(c.ping().then(() => void lat.push(performance.now() - s)))
              due++
              sent++
            }
            setTimeout(tick, 1)
          }
          tick()
        })
        await Promise.all(inflight)
        send({ ok: 'paced', sent, latenciesMs: lat })
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

export function ask<T extends FromChild>(c: ChildProcess, m: ToChild): Promise<T> {
  return new Promise((resolve, reject) => {
    c.once('message', (r: FromChild) => (r.ok === 'error' ? reject(new Error(r.message)) : resolve(r as T)))
    c.send(m)
  })
}

export function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

/** Starts the load generator (this file, as a child process). */
export function spawnClient(): ChildProcess {
  return fork(fileURLToPath(import.meta.url), [], {
    env: { ...process.env, MTGATE_BENCH_ROLE: 'client' },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
}

export async function stopClient(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.send({ cmd: 'exit' } satisfies ToChild)
  await exited
}


if (process.env.MTGATE_BENCH_ROLE === 'client') await child()
