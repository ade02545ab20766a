/**
 * The soak bench's server process (forked by bench/soak.ts): `MtgateServer.start(config)` with the
 * config from loadConfig (the YAML file the parent wrote: loopback host, one TCP port, no WebSocket,
 * data dir and SQLite store in a tmp dir; limits: the server's defaults unless the file sets them).
 * Every second it sends the parent a ServerSample over IPC: RSS, heap, event-loop delay p50/p99/max
 * over that second (monitorEventLoopDelay, reset each second), connections and sessions.
 * Stops (drains) on { cmd: 'stop' }; exits at once if the parent goes away.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { loadConfig } from '../../src/config/index.js'
import { fingerprintHex } from '../../src/handshake/rsa-key.js'
import { MtgateServer } from '../../src/server/server.js'
import type { FromServer, ToServer } from './protocol.js'

const send = (m: FromServer) => {
  if (process.connected) process.send!(m)
}

async function main(): Promise<void> {
  const file = process.env.SOAK_CONFIG
  if (!file) throw new Error('SOAK_CONFIG not set')
  const config = loadConfig({ file, env: {} })
  const server = await MtgateServer.start(config, { gatewayId: 'soak' })
  const key = server.rsaKeys.all().find((k) => !k.retired) ?? server.rsaKeys.all()[0]!
  const tcp = server.addresses.find((a) => a.kind === 'tcp')!
  send({
    type: 'ready',
    host: config.host,
    port: tcp.port,
    dcId: config.dcId,
    rsaPublicKeyPem: key.publicKey.toPem(),
    fingerprint: fingerprintHex(key.fingerprint),
    store: server.storeDescription,
  })

  const h = monitorEventLoopDelay({ resolution: 1 })
  h.enable()
  const ms = (ns: number) => Math.round(ns / 1e3) / 1e3
  const timer = setInterval(() => {
    const m = process.memoryUsage()
    send({
      type: 'sample',
      t: Date.now(),
      rss: m.rss,
      heapUsed: m.heapUsed,
      external: m.external,
      elP50: ms(h.percentile(50)),
      elP99: ms(h.percentile(99)),
      elMax: ms(h.max),
      connections: server.connectionCount,
      sessions: server.sessions.sessionCount,
    })
    h.reset()
  }, 1000)

  let stopping = false
  process.on('message', (m: ToServer) => {
    if (m.cmd !== 'stop' || stopping) return
    stopping = true
    clearInterval(timer)
    h.disable()
    const force = setTimeout(() => process.exit(0), 8000)
    force.unref()
    server.stop().then(
      () => process.exit(0),
      (e) => {
        process.stderr.write(`soak server: stop failed: ${(e as Error).stack}\n`)
        process.exit(0)
      },
    )
  })
  process.on('disconnect', () => process.exit(stopping ? 0 : 3))
}

main().catch((e) => {
  send({ type: 'error', message: (e as Error).stack ?? String(e) })
  process.exit(1)
})
