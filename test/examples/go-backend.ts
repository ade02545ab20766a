/**
 * The Go example backend (examples/go) for the scenario: `go build` once per test process into a
 * temporary directory, offline (GOPROXY=off, go.sum as committed; the modules come from
 * .ci/deps/examples-go.sh), then one child process per start.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ExampleBackend, ExampleBackendOptions } from './backend.js'
import { startBackendProcess } from './process.js'

/** The Go sources (this file runs from dist/test/examples). */
const MODULE_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../../examples/go')
const INSTALL = 'run `bash .ci/deps/examples-go.sh` (CI runs it before npm test)'
/** A cold compile of gotd's package tg takes minutes on 2 cores; .ci/deps/examples-go.sh warms the cache. */
const BUILD_TIMEOUT_MS = 15 * 60_000

/** GOFLAGS without -mod=… (the build must use go.sum as committed), plus -buildvcs=false. */
function goEnv(): NodeJS.ProcessEnv {
  const flags = (process.env.GOFLAGS ?? '').split(/\s+/).filter((f) => f !== '' && !f.startsWith('-mod=') && !f.startsWith('-buildvcs'))
  return { ...process.env, GOFLAGS: [...flags, '-mod=readonly', '-buildvcs=false'].join(' '), GOPROXY: 'off', GOWORK: 'off' }
}

let built: Promise<string> | undefined

/** The backend binary, built on first use (removed when the process exits). */
function binary(): Promise<string> {
  built ??= new Promise((resolve, reject) => {
    const dir = mkdtempSync(join(tmpdir(), 'mtgate-example-go-'))
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
    const out = join(dir, 'backend')
    execFile('go', ['build', '-o', out, '.'], { cwd: MODULE_DIR, env: goEnv(), timeout: BUILD_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 22 }, (err, _stdout, stderr) => {
      if ((err as { code?: unknown } | null)?.code === 'ENOENT') return reject(new Error(`\`go\` not found on PATH; ${INSTALL}`))
      if (err) return reject(new Error(`go build of examples/go failed (Go modules missing? ${INSTALL}): ${err.message}\n${stderr}`))
      resolve(out)
    })
  })
  return built
}

/** `quiet`: its stderr (a line per call) goes to /dev/null. */
export async function startGoBackend(o: ExampleBackendOptions, quiet = false): Promise<ExampleBackend> {
  return startBackendProcess({ command: await binary(), name: 'Go backend', quiet }, o)
}
