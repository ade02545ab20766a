/**
 * The Python example backend (examples/python/backend.py) as a child process: `python3 backend.py`
 * with the options as flags, ready once it prints `listening <host:port>`; its stderr (the log) is
 * kept for the error of a start that fails.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { ExampleBackend, ExampleBackendOptions, StartExampleBackend } from './backend.js'

/** examples/python (this file runs compiled, from dist/test/examples). */
export const PYTHON_EXAMPLE_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../../examples/python')

const START_TIMEOUT_MS = 30_000

/** Runs backend.py and resolves with the process once it serves (rejects when it exits first). */
async function spawnBackend(o: ExampleBackendOptions): Promise<ChildProcess> {
  const args = ['backend.py', '--listen', o.listen, '--mtgate', o.mtgate, '--state', o.stateFile, '--delay-ms', String(o.delayMs ?? 0)]
  const child = spawn('python3', args, { cwd: PYTHON_EXAMPLE_DIR, stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    log = (log + s).slice(-4000)
    if (process.env['EXAMPLE_BACKEND_LOG']) process.stderr.write(s)
  })
  const lines = createInterface({ input: child.stdout! })
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`backend.py did not serve within ${START_TIMEOUT_MS} ms:\n${log}`)), START_TIMEOUT_MS)
      lines.on('line', (line) => {
        if (line.startsWith('listening ')) {
          clearTimeout(timer)
          resolve()
        }
      })
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new Error(`backend.py exited (${code ?? signal}) before serving:\n${log}`))
      })
    })
  } catch (e) {
    child.kill('SIGKILL')
    throw e
  }
  return child
}

/** Sends `signal` and resolves once the process is gone. */
async function end(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill(signal)
  await exited
}

export const startPythonBackend: StartExampleBackend = async (o) => {
  let options = { ...o }
  let child = await spawnBackend(options)
  const backend: ExampleBackend = {
    address: o.listen,
    kill: () => end(child, 'SIGKILL'),
    stop: () => end(child, 'SIGTERM'),
    async restart(changes) {
      await end(child, 'SIGTERM')
      options = { ...options, ...changes }
      child = await spawnBackend(options)
    },
  }
  return backend
}
