/**
 * The handshake side of the peers bench's load generator, in a child process of its own (one core
 * for it, one for the server): real auth-key exchanges over new TCP intermediate connections
 * (src/handshake/client.ts, RSA_PAD, p_q_inner_data_dc), the client factoring pq itself with
 * Pollard–Brent on every exchange whatever the server (tgtest's pq is always the same, mtgate's is
 * new each time; pq64.ts, about 12–15 ms of the generator's core for either: in a storm the
 * generator's core, not the server's, is usually the limit, see `clientCpuBusy`).
 *
 * - `keys`: n full exchanges (every check of the client flow, the auth key computed); their keys, hex.
 * - `storm`: `concurrency` loops of exchange-then-close for `ms`, after a warm-up; the exchanges
 *   completed in the window. Storm exchanges skip what only the client needs (the dh_prime, g_a
 *   and answer checks, computing the auth key) and reuse one secret b: the server's work is the same.
 *
 * The encrypted phases (round trips, idle connections) use bench/ping-load.ts with the keys made here.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { clientHandshake, type ClientHandshakeOptions } from '../../src/handshake/client.js'
import { dhPublic } from '../../src/handshake/dh-engine.js'
import { RsaPublicKey } from '../../src/handshake/rsa-key.js'
import { PlainTcpClient } from '../../test/helpers/clients.js'
import { factorPq64 } from './pq64.js'

export interface Target {
  host: string
  port: number
  dc: number
  /** PKCS#1 PEM of the server's public key. */
  publicPem: string
}
export type HsAsk =
  | { cmd: 'keys'; target: Target; n: number; concurrency: number }
  | { cmd: 'storm'; target: Target; concurrency: number; warmupMs: number; ms: number }
export type HsAnswer =
  | { ok: 'keys'; keys: string[] }
  /** clientCpuBusy: the generator's CPU time over the window / the window (1 = its core was the limit). */
  | { ok: 'storm'; done: number; failed: number; ms: number; clientCpuBusy: number; firstError?: string }
  | { ok: 'error'; message: string }

const TIMEOUT_MS = 15_000
/** Exchanges tried per key before `keys` gives up. */
const KEY_ATTEMPTS = 3

/** One exchange on a new connection, closed afterwards; rejects after TIMEOUT_MS. */
async function exchange(t: Target, opts: ClientHandshakeOptions): Promise<Buffer> {
  const c = await PlainTcpClient.connect(t.host, t.port, 'intermediate', { timeoutMs: TIMEOUT_MS })
  let timer: NodeJS.Timeout | undefined
  try {
    const r = await Promise.race([
      clientHandshake(c, opts),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no dh_gen_ok within ${TIMEOUT_MS} ms`)), TIMEOUT_MS))),
    ])
    return r.authKey
  } finally {
    clearTimeout(timer)
    c.close()
  }
}

async function keys(t: Target, n: number, concurrency: number): Promise<string[]> {
  const publicKeys = [RsaPublicKey.fromPem(t.publicPem)]
  const out: string[] = []
  let next = 0
  const loop = async (): Promise<void> => {
    while (next < n) {
      next++
      // a server may drop an exchange it cannot take (Teamgram's gnetway drops the ~1 in 256 whose
      // RSA block starts with a zero byte, without an answer): a key gets a few attempts
      for (let attempt = 1; ; attempt++) {
        try {
          out.push((await exchange(t, { publicKeys, dcId: t.dc })).toString('hex'))
          break
        } catch (e) {
          if (attempt === KEY_ATTEMPTS) throw e
        }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, loop))
  return out
}

async function storm(t: Target, concurrency: number, warmupMs: number, ms: number): Promise<Extract<HsAnswer, { ok: 'storm' }>> {
  const b = randomBytes(256)
  const opts: ClientHandshakeOptions = { publicKeys: [RsaPublicKey.fromPem(t.publicPem)], dcId: t.dc, fast: { b, gB: dhPublic(b), factor: factorPq64 } }
  let counting = false
  let running = true
  let done = 0
  let failed = 0
  let firstError: string | undefined
  const loop = async (): Promise<void> => {
    while (running) {
      try {
        await exchange(t, opts)
        if (counting && running) done++
      } catch (e) {
        if (counting && running) failed++
        firstError ??= (e as Error).message
      }
    }
  }
  const loops = Promise.all(Array.from({ length: concurrency }, loop))
  await new Promise((r) => setTimeout(r, warmupMs))
  counting = true
  const t0 = performance.now()
  const cpu0 = process.cpuUsage()
  await new Promise((r) => setTimeout(r, ms))
  running = false
  const elapsed = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  await loops
  return { ok: 'storm', done, failed, ms: elapsed, clientCpuBusy: (cpu.user + cpu.system) / 1000 / elapsed, firstError }
}

function child(): void {
  process.on('message', (m: HsAsk) => {
    const answer = m.cmd === 'keys' ? keys(m.target, m.n, m.concurrency).then((k): HsAnswer => ({ ok: 'keys', keys: k })) : storm(m.target, m.concurrency, m.warmupMs, m.ms)
    answer.then(
      (a) => process.send!(a),
      (e: Error) => process.send!({ ok: 'error', message: e.stack ?? String(e) } satisfies HsAnswer),
    )
  })
}

/** Starts the handshake generator (this file) as a child process. */
export function spawnHandshakes(): ChildProcess {
  return fork(fileURLToPath(import.meta.url), [], {
    env: { ...process.env, MTGATE_BENCH_ROLE: 'handshakes' },
    execArgv: [...process.execArgv, '--single-threaded-gc'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
}

/** Sends `m` to the generator; its answer (rejects on an error answer, or when it exits first). */
export function askHandshakes<T extends HsAnswer>(c: ChildProcess, m: HsAsk): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`handshake generator exited (code ${code}) during ${m.cmd}`))
    c.once('exit', onExit)
    c.once('message', (a: HsAnswer) => {
      c.off('exit', onExit)
      if (a.ok === 'error') reject(new Error(a.message))
      else resolve(a as T)
    })
    c.send(m)
  })
}

if (process.env.MTGATE_BENCH_ROLE === 'handshakes') child()
