/**
 * Builds and runs the gotd probe of this directory (its own Go module, main.go): one `go build`
 * into a directory of the caller's, offline (GOPROXY=off, go.sum as committed; the modules come
 * from .ci/deps/gotd.sh), then one process per scenario, which prints progress lines and one JSON
 * result line on stdout.
 */
import { spawn, execFile } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { JsonLines } from '../../helpers/json-lines.js'

/** The Go sources (this file runs from dist/test/interop/gotd). */
const MODULE_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../../../test/interop/gotd')
export const INSTALL = 'run `bash .ci/deps/gotd.sh` (CI runs it before npm test)'
/** A cold compile of gotd (package tg is large) takes minutes on 2 cores; .ci/deps/gotd.sh warms the cache. */
const BUILD_TIMEOUT_MS = 15 * 60_000
const PROBE_DEADLINE = '30s'
const KILL_AFTER_MS = 45_000

/** What the probe prints (main.go's result). */
export interface ProbeResult {
  ok: boolean
  error?: string
  stage: string
  transport: string
  layer: number
  config?: { this_dc: number; dc_options: string[]; expires: number; date: number }
  nearest_dc?: { country: string; this_dc: number; nearest_dc: number }
  /** client.Ping returned: the pong with its ping_id arrived. */
  pong: boolean
  /** gotd's session: its auth key id (signed decimal, LE int64 as on the wire) and the key. */
  auth_key_id?: string
  auth_key_len: number
  auth_key_hex?: string
  auth_key_id_matches: boolean
  /** The session file held a key before this run. */
  session_existed: boolean
  b_injected: boolean
  /** Our b was handed out as gotd's first DH secret. */
  b_given: boolean
  /** How many DH secrets gotd drew (one per exchange). */
  dh_draws: number
  /** First bytes (hex; 64, or 1024 for WebSocket) of every TCP connection gotd opened, in dial order. */
  heads: string[]
  /** gotd's OnConnectionState ("connecting", "ready", "disconnected"). */
  states: string[]
  /** gotd's OnDead errors. */
  dead_errors: string[]
  elapsed_ms: number
  /** Push mode (push.go): account.updateStatus's answer and every update the UpdateHandler saw. */
  status: boolean
  received?: { updates: string; update?: string; message?: string; message_ctor?: string; text?: string }[]
}

export interface Probe {
  res: ProbeResult
  stderr: string
}

/** GOFLAGS without -mod=… (the build must use go.sum as committed), plus -buildvcs=false. */
function goEnv(): NodeJS.ProcessEnv {
  const flags = (process.env.GOFLAGS ?? '').split(/\s+/).filter((f) => f !== '' && !f.startsWith('-mod=') && !f.startsWith('-buildvcs'))
  return { ...process.env, GOFLAGS: [...flags, '-mod=readonly', '-buildvcs=false'].join(' '), GOPROXY: 'off', GOWORK: 'off' }
}

/** Builds the probe into `out`. */
export function buildProbe(out: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('go', ['build', '-o', out, '.'], { cwd: MODULE_DIR, env: goEnv(), timeout: BUILD_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 22 }, (err, _stdout, stderr) => {
      if ((err as { code?: unknown } | null)?.code === 'ENOENT') return reject(new Error(`\`go\` not found on PATH; ${INSTALL}`))
      if (err) return reject(new Error(`go build of test/interop/gotd failed (Go modules missing? ${INSTALL}): ${err.message}\n${stderr}`))
      resolve()
    })
  })
}

/**
 * Runs the probe binary with `args` (a later -timeout wins; SIGKILL after KILL_AFTER_MS): its JSON
 * result line and stderr. `b` is handed to gotd as its first DH secret; `onProgress` gets each
 * progress line (JSON lines before the result, e.g. push mode's {"ready":true}).
 */
export function probe(bin: string, args: string[], b?: Buffer, onProgress?: (p: Record<string, unknown>) => void): Promise<Probe> {
  const env: NodeJS.ProcessEnv = { ...process.env, GOTD_LOG: process.env.GOTD_LOG ?? 'info' }
  delete env.GOTD_B_HEX
  if (b !== undefined) env.GOTD_B_HEX = b.toString('hex')
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['-timeout', PROBE_DEADLINE, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    const stdout = new JsonLines(onProgress && ((p) => p.stage === undefined && onProgress(p)))
    let stderr = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS)
    child.stdout.setEncoding('utf8').on('data', stdout.push)
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const line = stdout.text.trim().split('\n').filter((l) => l.startsWith('{') && l.includes('"stage"')).at(-1)
      if (line === undefined) return reject(new Error(`gotd probe printed no result (exit ${code ?? signal})\nstdout: ${stdout.text}\nstderr: ${stderr}`))
      resolve({ res: JSON.parse(line) as ProbeResult, stderr })
    })
  })
}
