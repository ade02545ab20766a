/**
 * An example backend as a child process (any language): started with the contract's flags
 * (--listen, --mtgate, --state, --delay-ms), ready once it prints `listening <host:port>` on stdout;
 * killed, stopped and started again on the same address and state file. Its stderr is kept (the
 * last lines go into start errors) and echoed when EXAMPLES_LOG=1.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import type { ExampleBackend, ExampleBackendOptions } from './backend.js'

/** How long a start may take until `listening`. */
const READY_TIMEOUT_MS = 60_000
/** SIGTERM that does not end it within this is followed by SIGKILL. */
const STOP_TIMEOUT_MS = 5_000

/** What runs the backend: a program and the arguments before the contract's flags. */
export interface BackendCommand {
  command: string
  args?: string[]
  env?: NodeJS.ProcessEnv
  /** Names it in errors and logs (e.g. "Go backend"). */
  name: string
  /** Its stderr goes to /dev/null (under load: the backends log every call). */
  quiet?: boolean
  /** `args` are all its flags: the contract's (--listen, --mtgate, --state, --delay-ms) are not added. */
  ownFlags?: boolean
}

class BackendProcess implements ExampleBackend {
  private proc: ChildProcess | undefined
  private exited: Promise<void> = Promise.resolve()
  private stderr = ''

  constructor(
    private readonly cmd: BackendCommand,
    private options: ExampleBackendOptions,
  ) {}

  get address(): string {
    return this.options.listen
  }

  logTail(n: number): string {
    return this.stderr.split('\n').slice(-n).join('\n')
  }

  /** Spawns it and resolves once it prints `listening`; rejects when it exits first or takes too long. */
  async start(): Promise<void> {
    const o = this.options
    const flags = this.cmd.ownFlags ? [] : ['--listen', o.listen, '--mtgate', o.mtgate, '--state', o.stateFile, '--delay-ms', String(o.delayMs ?? 0)]
    const proc = spawn(this.cmd.command, [...(this.cmd.args ?? []), ...flags], { env: { ...process.env, ...this.cmd.env }, stdio: ['ignore', 'pipe', this.cmd.quiet ? 'ignore' : 'pipe'] })
    this.proc = proc
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()))
    const echo = process.env.EXAMPLES_LOG === '1'
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-20_000)
      if (echo) process.stderr.write(`[${this.cmd.name}] ${d}`)
    })
    let stdout = ''
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => fail(`did not start: ${err.message}`)
      const onExit = (code: number | null, signal: string | null) => fail(`exited (${code ?? signal}) before it was listening`)
      const done = () => {
        clearTimeout(timer)
        proc.off('error', onError)
        proc.off('exit', onExit)
      }
      const fail = (why: string) => {
        done()
        proc.kill('SIGKILL')
        reject(new Error(`${this.cmd.name} ${why}\nstdout: ${stdout}\nstderr (last lines): ${this.logTail(20)}`))
      }
      const timer = setTimeout(() => fail(`printed no "listening" within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS)
      proc.once('error', onError)
      proc.once('exit', onExit)
      proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
        stdout += d
        if (/^listening \S+/m.test(stdout)) {
          done()
          resolve()
        }
      })
    })
  }

  async kill(): Promise<void> {
    this.proc?.kill('SIGKILL')
    await this.exited
  }

  async stop(): Promise<void> {
    const proc = this.proc
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return
    proc.kill('SIGTERM')
    const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS)
    await this.exited
    clearTimeout(timer)
  }

  async restart(o: Partial<Pick<ExampleBackendOptions, 'delayMs'>> = {}): Promise<void> {
    await this.kill()
    this.options = { ...this.options, ...o }
    await this.start()
  }
}

/** Starts `cmd` with the contract's flags from `o`; resolves once it serves. */
export async function startBackendProcess(cmd: BackendCommand, o: ExampleBackendOptions): Promise<ExampleBackend> {
  const b = new BackendProcess(cmd, o)
  await b.start()
  return b
}
