/**
 * mtgate as a server under test: `node dist/src/cli/main.js serve` in its own process, with a
 * config in the work dir (the bench's RSA key in data_dir/rsa, the memory store as the peers keep
 * their keys in memory, one TCP port chosen by the OS, no WebSocket, HTTP or admin port, per-source
 * limits lifted: every connection of the load generator comes from 127.0.0.1). bench/peers/
 * mtgate-probe.ts is preloaded to report event-loop delay and the JS heap, and to take CPU
 * profiles, over IPC.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { RsaPrivateKey, fingerprintHex } from '../../src/handshake/rsa-key.js'
import { LOAD_TEST_LIMITS } from '../load-limits.js'
import type { ProbeAnswer, ProbeAsk } from './mtgate-probe.js'
import type { Peer, PeerOptions, RunningPeer } from './peer.js'
import { stopProcess, waitForLine } from './process.js'

const here = dirname(fileURLToPath(import.meta.url))
/** dist/src/cli/main.js, from dist/bench/peers/. */
const MAIN_JS = join(here, '..', '..', 'src', 'cli', 'main.js')
const PROBE_JS = join(here, 'mtgate-probe.js')
const DC = 2
function ask<T extends ProbeAnswer>(proc: ChildProcess, m: ProbeAsk): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (a: ProbeAnswer): void => {
      if (a.probe !== m.probe) return
      proc.off('message', onMessage)
      resolve(a as T)
    }
    proc.on('message', onMessage)
    proc.send(m, (err) => {
      if (err) {
        proc.off('message', onMessage)
        reject(err)
      }
    })
  })
}

export const mtgate: Peer = {
  name: 'mtgate',

  async missing() {
    return existsSync(MAIN_JS) ? undefined : `${MAIN_JS} not built (npm run build)`
  },

  async start(opts: PeerOptions): Promise<RunningPeer> {
    const key = RsaPrivateKey.fromPem(opts.privateKeyPem)
    const dataDir = join(opts.workDir, 'data')
    const rsaDir = join(dataDir, 'rsa')
    mkdirSync(rsaDir, { recursive: true, mode: 0o700 })
    const base = join(rsaDir, fingerprintHex(key.fingerprint))
    writeFileSync(base + '.key', key.toPem(), { mode: 0o600 })
    writeFileSync(base + '.pub', key.publicKey.toPem())
    const configPath = join(opts.workDir, 'mtgate.yaml')
    const config = {
      dc_id: DC,
      dc_ids: [DC],
      host: '127.0.0.1',
      tcp_ports: [0],
      ws_port: null,
      data_dir: dataDir,
      store: { backend: 'memory' },
      admin: null,
      log: { level: 'warn' },
      limits: { max_connections: 100_000, ...LOAD_TEST_LIMITS },
    }
    writeFileSync(configPath, JSON.stringify(config, null, 2)) // JSON is YAML

    const env: NodeJS.ProcessEnv = {}
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MTGATE_') && k !== 'NODE_TEST_CONTEXT') env[k] = v
    const proc = spawn(process.execPath, ['--expose-gc', '--import', pathToFileURL(PROBE_JS).href, MAIN_JS, 'serve', '--config', configPath], {
      env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    })
    const stdout = await waitForLine(proc, /api_id allowed/, 30_000, 'mtgate serve')
    const tcp = /tcp\s+([\d.]+):(\d+)/.exec(stdout)
    if (tcp === null) {
      await stopProcess(proc)
      throw new Error(`mtgate serve: no TCP address in its output: ${stdout}`)
    }
    return {
      host: tcp[1]!,
      port: Number(tcp[2]),
      dc: DC,
      pids: [proc.pid!],
      stalls: async () => {
        const a = await ask<Extract<ProbeAnswer, { probe: 'stalls' }>>(proc, { probe: 'stalls' })
        return { p99Ms: a.p99Ms, source: `event-loop delay p99 (largest GC pause ${a.gcPauseMax} ms)` }
      },
      heapUsed: async () => (await ask<Extract<ProbeAnswer, { probe: 'heap' }>>(proc, { probe: 'heap' })).bytes,
      heapSnapshot: async (path) => (await ask<Extract<ProbeAnswer, { probe: 'snapshot' }>>(proc, { probe: 'snapshot', path })).heapUsed,
      profile: async () => {
        await ask(proc, { probe: 'profile-start' })
        return async (path) => (await ask<Extract<ProbeAnswer, { probe: 'profile-stop' }>>(proc, { probe: 'profile-stop', path })).summary
      },
      stop: () => stopProcess(proc),
    }
  },
}
