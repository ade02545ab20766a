/**
 * TDLib (tdl + prebuilt-tdlib) as a client of a server in this process: tdlib-driver.js in its own
 * loopback-only network namespace (TDLib dials Telegram's public addresses; there they lead to the
 * driver's SOCKS5 redirector), reaching the server through a Unix socket forwarded here. TDLib's
 * updates are kept in `updates`; queries go through `invoke`. TDLib's log is kept for failure
 * messages (`lastLog`) and echoed when EXAMPLES_LOG=1.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnInNetns, startUnixForward, tdjsonPath, type NetnsChild } from '../helpers/tdlib.js'
import { waitFor } from '../helpers/wait.js'
import type { TdlibDriverArgs } from './tdlib-driver.js'

export type Td = { _: string; [k: string]: unknown }

const DRIVER = fileURLToPath(new URL('./tdlib-driver.js', import.meta.url))
/** The longest a TDLib client may live (the namespace's process is killed then). */
const LIFETIME_MS = 180_000
/** TDLib's log verbosity: errors and warnings. */
const VERBOSITY = 2
/** How long TDLib may take to close before it is killed. */
const CLOSE_MS = 10_000
/** How long a TDLib query may take. */
const QUERY_MS = 15_000

export class TdlibClient {
  /** updateAuthorizationState, updateConnectionState, updateNewMessage, updateMessageSend{Succeeded,Failed}, in order. */
  readonly updates: Td[] = []
  /** TDLib's log and the driver's errors (stderr), last lines. */
  log: string[] = []
  private nextId = 1
  private readonly pending = new Map<number, { resolve(r: Td): void; reject(e: Error): void }>()
  private exited: string | undefined

  private constructor(
    private readonly child: NetnsChild,
    private readonly cleanup: () => Promise<void>,
  ) {}

  /** Starts TDLib with a fresh database; resolves once it runs with its proxy set. */
  static async start(server: { host: string; port: number; publicPem: string }): Promise<TdlibClient> {
    tdjsonPath()
    const dir = mkdtempSync(join(tmpdir(), 'mtgate-example-tdlib-'))
    const socket = join(dir, 'mtgate.sock')
    const forward = await startUnixForward(socket, { host: server.host, port: server.port })
    const args: TdlibDriverArgs = { dir, pem: server.publicPem, socket, verbosity: VERBOSITY }
    let ready!: () => void
    const started = new Promise<void>((r) => (ready = r))
    let c: TdlibClient | undefined
    const echo = process.env.EXAMPLES_LOG === '1'
    const cleanup = async (): Promise<void> => {
      await forward.close()
      rmSync(dir, { recursive: true, force: true })
    }
    try {
      const child = spawnInNetns(DRIVER, [JSON.stringify(args)], {
        timeoutMs: LIFETIME_MS,
        env: { NODE_TEST_CONTEXT: undefined },
        onStdoutLine: (line) => {
          if (!line.startsWith('{')) return
          const m = JSON.parse(line) as { ready?: boolean; id?: number; result?: Td; error?: { code: number; message: string }; update?: Td }
          if (m.ready) ready()
          else c?.onMessage(m)
        },
        onStderrLine: (line) => {
          if (echo) process.stderr.write(`[TDLib] ${line}\n`)
          if (c !== undefined) c.log = [...c.log.slice(-199), line]
        },
      })
      const client = (c = new TdlibClient(child, cleanup))
      const exited = child.done.then(
        (run) => client.onExit(`exited (${run.timedOut ? `killed after ${LIFETIME_MS} ms` : (run.code ?? run.signal)})`),
        (err: Error) => client.onExit(`failed: ${err.message}`),
      )
      const failed = exited.then(() => Promise.reject(new Error(`TDLib driver ${client.exited}:\n${client.lastLog()}`)))
      failed.catch(() => undefined)
      const timer = setTimeout(() => child.kill(), QUERY_MS)
      await Promise.race([started, failed]).finally(() => clearTimeout(timer))
      return client
    } catch (err) {
      await cleanup()
      throw err
    }
  }

  private onMessage(m: { id?: number; result?: Td; error?: { code: number; message: string }; update?: Td }): void {
    if (m.update !== undefined) return void this.updates.push(m.update)
    const p = this.pending.get(m.id!)
    this.pending.delete(m.id!)
    if (m.error !== undefined) p?.reject(new Error(`TDLib error ${m.error.code} ${m.error.message}`))
    else p?.resolve(m.result!)
  }

  private onExit(why: string): void {
    this.exited = why
    for (const p of this.pending.values()) p.reject(new Error(`TDLib driver ${why}`))
    this.pending.clear()
  }

  /** The last lines of TDLib's log (for failure messages). */
  lastLog(n = 40): string {
    return this.log.slice(-n).join('\n')
  }

  /** A td_api query; rejects with TDLib's error, or after QUERY_MS. */
  async invoke(query: Td): Promise<Td> {
    if (this.exited !== undefined) throw new Error(`TDLib driver ${this.exited}`)
    const id = this.nextId++
    const answer = new Promise<Td>((resolve, reject) => this.pending.set(id, { resolve, reject }))
    this.child.send(JSON.stringify({ id, query }))
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`TDLib ${query._}: no answer within ${QUERY_MS} ms\n${this.lastLog()}`)), QUERY_MS)))
    return Promise.race([answer, timeout]).finally(() => clearTimeout(timer))
  }

  /** The first update (kept or to come) that `match` accepts. */
  async update(match: (u: Td) => boolean, what: string, ms = QUERY_MS): Promise<Td> {
    await waitFor(() => this.updates.some(match), ms, `TDLib ${what}`).catch((err: Error) => {
      throw new Error(`${err.message}\n${this.lastLog()}`)
    })
    return this.updates.find(match)!
  }

  /** Closes TDLib and waits for the driver to exit. */
  async close(): Promise<void> {
    if (this.exited === undefined) this.child.send(JSON.stringify({ close: true }))
    const timer = setTimeout(() => this.child.kill(), CLOSE_MS)
    await this.child.done.catch(() => undefined)
    clearTimeout(timer)
    await this.cleanup()
  }
}
