/**
 * Runs README snippets as programs: a child process with a deadline (SIGKILL after it), its exit
 * code and output; the directory a snippet runs in (with `data/rsa/<fingerprint>.pub`); the Go
 * module a Go snippet is built in.
 */
import { execFile } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT } from './blocks.js'

export interface RunResult {
  /** Exit code; null when killed. */
  code: number | null
  signal: string | null
  stdout: string
  stderr: string
}

/** Runs `cmd args` to its end (killed after `timeoutMs`). Rejects only when it cannot start. */
export function run(cmd: string, args: string[], o: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: o.cwd, env: o.env ?? process.env, timeout: o.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: unknown; signal?: string | null }) | null
      if (e?.code === 'ENOENT') return reject(new Error(`\`${cmd}\` not found on PATH`))
      resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : null, signal: e?.signal ?? null, stdout, stderr })
    })
  })
}

/** The run's whole output, for assertion messages. */
export function describeRun(r: RunResult): string {
  return `exit ${r.code ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`
}

/**
 * A new directory that holds `data/rsa/<fingerprintHex>.pub` (as `serve` leaves it), under `parent`
 * (a JS snippet's directory must be inside the worktree so that its imports resolve).
 */
export function snippetDir(parent: string, fingerprintHex: string, pem: string): string {
  mkdirSync(parent, { recursive: true })
  const dir = mkdtempSync(join(parent, 'readme-snippet-'))
  mkdirSync(join(dir, 'data', 'rsa'), { recursive: true })
  writeFileSync(join(dir, 'data', 'rsa', `${fingerprintHex}.pub`), pem)
  return dir
}

/** Where JS snippets run: inside the worktree's dist/, so that node_modules resolves. */
export const JS_PARENT = join(ROOT, 'dist', 'test', 'readme', 'tmp')

export const SCRATCH_PARENT = join(tmpdir(), 'mtgate-readme')

/** The Go module that pins gotd/td (go.mod, go.sum). */
export function gotdModuleDir(): string {
  const dir = join(ROOT, 'test/interop/gotd')
  if (!existsSync(join(dir, 'go.mod')) || !existsSync(join(dir, 'go.sum'))) throw new Error(`no Go module with go.mod and go.sum in ${dir}`)
  return dir
}

/** Copies the gotd module's go.mod and go.sum into `dir` (so a main.go there builds with its pins). */
export function copyGotdModule(dir: string): void {
  const from = gotdModuleDir()
  for (const f of ['go.mod', 'go.sum']) copyFileSync(join(from, f), join(dir, f))
}

/** Go's environment for building offline against the module cache (.ci/deps/gotd.sh fills it). */
export function goEnv(): NodeJS.ProcessEnv {
  return { ...process.env, GOFLAGS: '-mod=mod -buildvcs=false', GOPROXY: 'off', GOWORK: 'off' }
}
