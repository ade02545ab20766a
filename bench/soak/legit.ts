/**
 * The soak bench's legitimate load (forked by bench/soak.ts): N RawClients (test/e2e/raw-client.ts)
 * with auth keys the parent wrote into the server's SQLite store, each from its own loopback
 * address (127.0.1.x), pinging and invoking help.getConfig at a fixed modest rate. Every second it
 * reports the round-trip times of the pings answered in that second, failures (connection lost,
 * 10 s timeout, unexpected answer) and reconnects. A client whose connection is lost reconnects
 * after 1 s with the same auth key.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { FromLegit, ToLegit } from './protocol.js'

const { RawClient, isRpcError, withInitConnection } = await import('../../test/e2e/raw-client.js')
const { AuthKey } = await import('../../src/crypto/message.js')
const { encode } = await import('../../src/tl/index.js')
type Client = Awaited<ReturnType<typeof RawClient.connect>>

const LAYER = 222
const API_ID = 4
const TIMEOUT_MS = 10_000

const send = (m: FromLegit) => {
  if (process.connected) process.send!(m)
}

interface Slot {
  i: number
  key: InstanceType<typeof AuthKey>
  local: string
  client: Client | undefined
  inited: boolean
  reconnecting: boolean
}

let running = false
let pingMs: number[] = []
let invokes = 0
let invokeMaxMs = 0
let errors = 0
let timeouts = 0
let reconnects = 0
const timers: NodeJS.Timeout[] = []
const slots: Slot[] = []

function withTimeout<T>(p: Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(Object.assign(new Error('timeout'), { timeout: true })), TIMEOUT_MS)
    p.then(
      (v) => {
        clearTimeout(t)
        resolve(v)
      },
      (e) => {
        clearTimeout(t)
        reject(e)
      },
    )
  })
}

async function open(s: Slot, host: string, port: number): Promise<void> {
  const p = RawClient.connect({ host, port, key: s.key, ack: true, localAddress: s.local })
  const c = await withTimeout(p)
  s.client = c
  s.inited = false
  await withTimeout(c.ping()) // bad_server_salt → salt, new_session_created
}

function failed(s: Slot, e: unknown, host: string, port: number): void {
  if (!running) return
  errors++
  if ((e as { timeout?: boolean }).timeout) timeouts++
  const c = s.client
  if (c !== undefined && !c.isClosed && !(e as { timeout?: boolean }).timeout) return
  if (s.reconnecting) return
  // lost (or stuck): drop it and reconnect after 1 s with the same key
  s.reconnecting = true
  s.client = undefined
  try {
    c?.close()
  } catch {
    /* closed */
  }
  const retry = () => {
    if (!running) return
    reconnects++
    open(s, host, port).then(
      () => (s.reconnecting = false),
      () => {
        errors++
        s.client?.close()
        s.client = undefined
        setTimeout(retry, 1000)
      },
    )
  }
  setTimeout(retry, 1000)
}

function ping(s: Slot, host: string, port: number): void {
  const c = s.client
  if (!running || c === undefined || s.reconnecting) return
  const t0 = performance.now()
  withTimeout(c.ping()).then(
    () => void pingMs.push(Math.round((performance.now() - t0) * 100) / 100),
    (e) => failed(s, e, host, port),
  )
}

function invoke(s: Slot, host: string, port: number): void {
  const c = s.client
  if (!running || c === undefined || s.reconnecting) return
  const t0 = performance.now()
  const body = s.inited ? encode({ _: 'help.getConfig' } as never) : withInitConnection(LAYER, API_ID, { _: 'help.getConfig' })
  withTimeout(c.invoke(body)).then(
    (r) => {
      invokes++
      invokeMaxMs = Math.max(invokeMaxMs, performance.now() - t0)
      if (Buffer.isBuffer(r) || isRpcError(r) || r._ !== 'config') {
        errors++
        send({ type: 'log', message: `unexpected answer to help.getConfig: ${Buffer.isBuffer(r) ? r.toString('hex').slice(0, 40) : JSON.stringify(r).slice(0, 200)}` })
      } else s.inited = true
    },
    (e) => failed(s, e, host, port),
  )
}

process.on('message', async (m: ToLegit) => {
  try {
    if (m.cmd === 'start') {
      running = true
      m.keys.forEach((hex, i) =>
        slots.push({ i, key: new AuthKey(Buffer.from(hex, 'hex')), local: m.localAddresses[i % m.localAddresses.length]!, client: undefined, inited: false, reconnecting: false }),
      )
      await Promise.all(slots.map((s) => open(s, m.host, m.port)))
      send({ type: 'connected', n: slots.length })
      const periodMs = 1000 / m.pingsPerSecPerClient
      for (const s of slots) {
        // staggered so the load is even, not in bursts
        const start = setTimeout(() => {
          timers.push(setInterval(() => ping(s, m.host, m.port), periodMs))
          invoke(s, m.host, m.port)
          timers.push(setInterval(() => invoke(s, m.host, m.port), m.invokeEverySec * 1000))
        }, Math.random() * Math.max(periodMs, 1000))
        timers.push(start)
      }
      const h = monitorEventLoopDelay({ resolution: 1 })
      h.enable()
      timers.push(
        setInterval(() => {
          send({
            type: 'legit',
            t: Date.now(),
            pingMs,
            invokes,
            invokeMaxMs: Math.round(invokeMaxMs * 100) / 100,
            errors,
            timeouts,
            reconnects,
            connected: slots.filter((s) => s.client !== undefined && !s.client.isClosed && !s.reconnecting).length,
            clientElP99: Math.round(h.percentile(99) / 1e4) / 100,
          })
          pingMs = []
          invokes = 0
          invokeMaxMs = 0
          errors = 0
          timeouts = 0
          reconnects = 0
          h.reset()
        }, 1000),
      )
    } else if (m.cmd === 'stop') {
      running = false
      for (const t of timers) clearInterval(t)
      for (const s of slots) s.client?.close()
      process.exit(0)
    }
  } catch (e) {
    send({ type: 'error', message: (e as Error).stack ?? String(e) })
  }
})
process.on('disconnect', () => process.exit(0))
