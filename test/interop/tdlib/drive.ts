/**
 * Runs test/interop/tdlib/driver.js (TDLib against our server) in its own loopback-only network
 * namespace and returns its result with the server's log lines of limit refusals; fails the test
 * with the driver's diagnostics when the driver did not succeed.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { lastJsonLine, runInNetns, tdjsonPath, type NetnsRun } from '../../helpers/tdlib.js'
import type { DriverArgs, DriverResult, ServedRpc } from './driver.js'

const require = createRequire(import.meta.url)
const DRIVER = fileURLToPath(new URL('./driver.js', import.meta.url))
/** Each stage (ready, each RPC, the reconnect); recovery from a zeroed key took 1.2–2.3 s here. */
const STAGE_MS = 15_000
export const RUN_MS = 45_000

export interface Run extends DriverResult {
  /** Server log lines of a limit refusal: a -429 or a connection refused by a source limit. */
  limitLines: string[]
  /** Server log lines of a connection rejected at its transport header (the acceptor's). */
  rejectLines: string[]
}

/** Throws a clear error when TDLib or tdl is not installed. */
function assertTdlibInstalled(): void {
  tdjsonPath()
  try {
    require.resolve('tdl')
  } catch {
    throw new Error('TDLib missing: the tdl package is not installed (npm install)')
  }
}

/** A server log line (pino JSON) as an object; undefined for TDLib's lines. */
function logObject(line: string): { code?: number; msg?: string } | undefined {
  if (!line.startsWith('{')) return undefined
  try {
    return JSON.parse(line) as { code?: number; msg?: string }
  } catch {
    return undefined
  }
}

/** A server log line that reports a limit refusal. */
function isLimitRefusal(o: { code?: number; msg?: string }): boolean {
  return o.code === -429 || o.msg === 'connection refused by a source limit'
}

export async function drive(args: Omit<DriverArgs, 'stageMs' | 'dir'>): Promise<Run> {
  assertTdlibInstalled()
  const dir = mkdtempSync(join(tmpdir(), 'mtgate-tdlib-'))
  const level = process.env.MTGATE_LOG_LEVEL
  const limitLines: string[] = []
  const rejectLines: string[] = []
  let run: NetnsRun
  try {
    run = await runInNetns(DRIVER, [JSON.stringify({ stageMs: STAGE_MS, dir, ...args })], {
      timeoutMs: RUN_MS,
      // refusals are logged at info and warn: the log must hold them
      env: { MTGATE_LOG_LEVEL: level === 'debug' || level === 'trace' ? level : 'info', NODE_TEST_CONTEXT: undefined },
      onStderrLine: (line) => {
        const o = logObject(line)
        if (o !== undefined && isLimitRefusal(o)) limitLines.push(line)
        if (o?.msg === 'rejecting connection') rejectLines.push(line)
      },
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const r = lastJsonLine<DriverResult>(run.stdout)
  if (!r?.ok) assert.fail(`TDLib driver failed: ${r?.error ?? 'no result line'}\n${diagnostics(run, r)}`)
  return { ...r, limitLines, rejectLines }
}

function diagnostics(run: NetnsRun, r: DriverResult | undefined): string {
  const how = run.timedOut ? `killed after ${RUN_MS} ms` : `exit ${run.code ?? run.signal}`
  return `${how}; result: ${JSON.stringify(r)}\nlog (server + TDLib), last lines:\n${run.stderr.split('\n').slice(-40).join('\n')}`
}

/** The RPCs `method` the server dispatched (answered by a result unless said otherwise). */
export function served(r: DriverResult, method: string, outcome = 'result'): ServedRpc[] {
  return r.rpcs.filter((c) => c.method === method && c.outcome === outcome)
}
