/**
 * TDLib as a client of a server outside its network namespace: runs inside a loopback-only
 * namespace (test/helpers/tdlib spawnInNetns) with TDLib (tdl, libtdjson patched with the server's
 * key) and a SOCKS5 redirector whose every CONNECT goes to a Unix socket, forwarded by the test
 * process to the server (startUnixForward). argv[2] is a JSON TdlibDriverArgs.
 *
 * Protocol, one JSON object a line: stdin takes `{ id, query }` (a td_api query, answered by
 * `{ id, result }` or `{ id, error }`) and `{ close: true }` (TDLib closed, then the process
 * exits); stdout gives `{ ready: true }` once TDLib runs, the replies, and `{ update }` for every
 * updateAuthorizationState, updateConnectionState, updateNewMessage and updateMessageSend{Succeeded,Failed}.
 * TDLib's log goes to stderr.
 */
import { createInterface } from 'node:readline'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { API_HASH, API_ID } from '../helpers/api.js'
import { assertLoopbackOnly, patchTdjson, startSocks5Redirect } from '../helpers/tdlib.js'
import type { Td } from './tdlib-client.js'

export interface TdlibDriverArgs {
  /** Work directory (patched libtdjson, TDLib's database); the caller removes it. */
  dir: string
  /** The server's RSA public key (PKCS#1 PEM). */
  pem: string
  /** The Unix socket that leads to the server. */
  socket: string
  /** TDLib's log verbosity. */
  verbosity: number
}

interface TdClient {
  invoke(q: Td): Promise<Td>
  on(ev: 'update', cb: (u: Td) => void): void
  on(ev: 'error', cb: (e: unknown) => void): void
  close(): Promise<void>
}

const FORWARDED = new Set(['updateAuthorizationState', 'updateConnectionState', 'updateNewMessage', 'updateMessageSendSucceeded', 'updateMessageSendFailed'])
const require = createRequire(import.meta.url)

const write = (o: object): void => void process.stdout.write(JSON.stringify(o) + '\n')

async function main(a: TdlibDriverArgs): Promise<void> {
  assertLoopbackOnly()
  const socks = await startSocks5Redirect({ path: a.socket })
  const tdl = require('tdl') as { configure(o: Record<string, unknown>): void; createClient(o: Record<string, unknown>): TdClient }
  tdl.configure({ tdjson: patchTdjson(a.pem, a.dir), verbosityLevel: a.verbosity })
  const client = tdl.createClient({ apiId: API_ID, apiHash: API_HASH, databaseDirectory: join(a.dir, 'db'), filesDirectory: join(a.dir, 'files') })
  client.on('error', (err) => process.stderr.write(`tdl error: ${String(err)}\n`))
  client.on('update', (u) => void (FORWARDED.has(u._) && write({ update: u })))
  await client.invoke({ _: 'addProxy', proxy: { _: 'proxy', server: '127.0.0.1', port: socks.port, type: { _: 'proxyTypeSocks5' } }, enable: true })
  write({ ready: true })
  for await (const line of createInterface({ input: process.stdin })) {
    const m = JSON.parse(line) as { id?: number; query?: Td; close?: boolean }
    if (m.close) break
    client.invoke(m.query!).then(
      (result) => write({ id: m.id, result }),
      (err: { code?: number; message?: string }) => write({ id: m.id, error: { code: Number(err.code), message: String(err.message) } }),
    )
  }
  await client.close()
  await socks.close()
}

main(JSON.parse(process.argv[2] ?? '{}') as TdlibDriverArgs).then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`tdlib driver: ${err.stack ?? String(err)}\n`)
    process.exit(1)
  },
)
