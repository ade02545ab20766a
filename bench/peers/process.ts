/** Child-process helpers of the peers bench: start-up line, stop, resident memory. */
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'

/**
 * Resolves with the child's stdout so far once it matches `ready`; rejects (and kills the child)
 * when it exits first or `timeoutMs` passes, with the tail of its stderr in the message.
 */
export function waitForLine(proc: ChildProcess, ready: RegExp, timeoutMs: number, what: string): Promise<string> {
  let stdout = ''
  let stderr = ''
  return new Promise<string>((resolve, reject) => {
    const done = (err?: Error): void => {
      clearTimeout(timer)
      proc.stdout!.off('data', onOut)
      proc.stderr!.off('data', onErr)
      proc.off('exit', onExit)
      if (err === undefined) return resolve(stdout)
      proc.kill('SIGKILL')
      reject(err)
    }
    const onOut = (d: Buffer): void => {
      stdout += d.toString()
      if (ready.test(stdout)) done()
    }
    const onErr = (d: Buffer): void => void (stderr = (stderr + d.toString()).slice(-4000))
    const onExit = (code: number | null, sig: string | null): void =>
      done(new Error(`${what} exited at start (code ${code}, signal ${sig}): ${stderr}\n${stdout}`))
    const timer = setTimeout(() => done(new Error(`${what}: not ready within ${timeoutMs} ms: ${stderr}\n${stdout}`)), timeoutMs)
    proc.stdout!.on('data', onOut)
    proc.stderr!.on('data', onErr)
    proc.once('exit', onExit)
  }).finally(() => {
    // keep the pipes drained: a full pipe would block the child
    proc.stdout!.resume()
    proc.stderr!.resume()
  })
}

/** SIGTERM, then SIGKILL when the child is still there after `graceMs`. */
export async function stopProcess(proc: ChildProcess, graceMs = 6000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return
  const exited = new Promise<void>((r) => proc.once('exit', () => r()))
  proc.kill('SIGTERM')
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

/** Resident memory of `pids` summed (VmRSS of /proc/PID/status), in bytes. */
export function rssBytes(pids: number[]): number {
  let kb = 0
  for (const pid of pids) {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    if (m === null) throw new Error(`no VmRSS for pid ${pid}`)
    kb += Number(m[1])
  }
  return kb * 1024
}

/** CPU time (user + system, every thread) of `pids` summed, in seconds (/proc/PID/stat, 100 ticks a second). */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // the fields after "pid (comm) ": state is the first, utime the 12th, stime the 13th
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    ticks += Number(f[11]) + Number(f[12])
  }
  return ticks / 100
}
