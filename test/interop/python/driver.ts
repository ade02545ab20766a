/**
 * Runs a Python driver of this directory (common.py's protocol: `python3 SCRIPT LIBRARY JSON`, one
 * JSON line on stdout) against an in-process server. By default `python3` on PATH runs it, with the
 * packages of test/interop/python/requirements.txt, installed by .ci/deps/python.sh; an Interpreter
 * names another one (e.g. Debian's /usr/bin/python3 with a distribution package).
 */
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { RpcError } from '../../../src/rpc/errors.js'
import type { RpcContext } from '../../../src/session/api.js'
import { API_HASH, API_ID } from '../../helpers/api.js'
import type { E2eServer } from '../../e2e/harness.js'
import { JsonLines } from '../../helpers/json-lines.js'

/** The Python sources (this file runs from dist/test/interop/python). */
const DIR = join(dirname(fileURLToPath(import.meta.url)), '../../../../test/interop/python')
const DRIVER_TIMEOUT_S = 30
const KILL_AFTER_MS = 45_000
const INSTALL = 'the Python clients are not installed: run `bash .ci/deps/python.sh` (CI runs it before npm test)'

export type Library = 'telethon' | 'pyrogram'

/** What every driver prints. */
export interface DriverOutput {
  library: Library
  distribution?: string
  version?: string
  missing?: string
  error?: string
  elapsed_ms?: number
  /** The library's own INFO+ log lines. */
  log?: string[]
}

/** Which interpreter runs a driver, and how its packages get installed (for the error messages). */
export interface Interpreter {
  python: string
  install: string
}

/** The `python3` on PATH with the packages of requirements.txt. */
export const PYPI: Interpreter = { python: 'python3', install: INSTALL }

/** Debian's /usr/bin/python3 with python3-telethon (Telethon 1.25, layer 144). */
export const DEBIAN: Interpreter = {
  python: '/usr/bin/python3',
  install: 'Debian\'s python3-telethon is not installed: run `bash .ci/deps/python-debian.sh` (CI runs it before npm test)',
}

/** Options of one driver run. */
export interface DriveOptions {
  /** Called with each progress line (a JSON line on stdout before the result, see common.emit). */
  onProgress?: (progress: Record<string, unknown>) => void
  /** More environment for the interpreter (e.g. SSL_CERT_FILE: the CA a TLS connection trusts). */
  env?: Record<string, string>
}

/**
 * Runs `script` for `library` against `e` with `extra` config (SIGKILL after KILL_AFTER_MS). Rejects
 * when the driver printed nothing, the package is missing, or the client failed (with its log).
 */
export function drive<T extends DriverOutput>(
  script: string,
  library: Library,
  e: E2eServer,
  extra: Record<string, unknown>,
  { python, install }: Interpreter = PYPI,
  { onProgress, env }: DriveOptions = {},
): Promise<T> {
  const cfg = {
    host: e.host,
    port: e.tcpPort,
    pem: e.publicPem,
    fingerprint: e.fingerprint.toString(),
    modulus: e.modulus.toString(16),
    api_id: API_ID,
    api_hash: API_HASH,
    timeout: DRIVER_TIMEOUT_S,
    ...extra,
  }
  return new Promise((resolve, reject) => {
    const child = spawn(python, [join(DIR, script), library, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'], env: env === undefined ? process.env : { ...process.env, ...env } })
    const stdout = new JsonLines(onProgress && ((p) => p.library === undefined && onProgress(p)))
    let stderr = ''
    let killed = false
    const timer = setTimeout(() => {
      killed = true
      child.kill('SIGKILL')
    }, KILL_AFTER_MS)
    child.stdout.setEncoding('utf8').on('data', stdout.push)
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      reject(err.code === 'ENOENT' ? new Error(`${python} not found; ${install}`) : err)
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      const line = stdout.text.trim().split('\n').filter((l) => l.startsWith('{')).at(-1)
      const res = line === undefined ? undefined : (JSON.parse(line) as T)
      if (res?.library === undefined) {
        const why = killed ? `killed after ${KILL_AFTER_MS} ms` : `exit ${code}`
        return reject(new Error(`${library} driver printed no result (${why})\nstdout: ${stdout.text}\nstderr: ${stderr}`))
      }
      if (res.missing !== undefined) return reject(new Error(`Python module ${res.missing} missing (${res.error}); ${install}`))
      if (res.error !== undefined) {
        const { log, ...rest } = res
        return reject(new Error(`${library} failed: ${res.error}\nresult: ${JSON.stringify(rest)}\nlog:\n${(log ?? []).join('\n')}\nstderr: ${stderr}`))
      }
      resolve(res)
    })
  })
}

/** A driver's result, or its failure (thrown in every test that reads it, so each one fails with it). */
export function ok<T>(run: T | Error): T {
  if (run instanceof Error) throw run
  return run
}

/**
 * users.getUsers gets what Telegram answers on a key that is not signed in: Telethon's connect()
 * asks for itself (get_me) and takes 401 as "not logged in" (400 INPUT_METHOD_INVALID, our answer
 * to methods without a handler, would make connect() throw). Records the calls' contexts.
 */
export function answerGetMeUnauthorized(e: E2eServer): RpcContext[] {
  const seen: RpcContext[] = []
  e.server.handle('users.getUsers', (_req, ctx) => {
    seen.push(ctx)
    throw new RpcError(401, 'AUTH_KEY_UNREGISTERED')
  })
  return seen
}
