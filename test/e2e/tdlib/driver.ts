/**
 * Runs inside a loopback-only network namespace (test/helpers/tdlib runInNetns): our whole server,
 * the SOCKS5 redirector and TDLib (tdl, patched libtdjson) in one process. argv[2] is a JSON
 * DriverArgs; prints one JSON DriverResult line on stdout. TDLib's log goes to stderr, the
 * server's too (MTGATE_LOG_LEVEL).
 */
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { authKeyId } from '../../../src/handshake/kdf.js'
import type { HandshakeCrypto } from '../../../src/handshake/crypto-backend.js'
import { zeroFirstKeys } from '../../helpers/clients.js'
import { assertLoopbackOnly, patchTdjson, startSocks5Redirect } from '../../helpers/tdlib.js'
import { API_HASH, API_ID, startE2eServer } from '../harness.js'

export interface DriverArgs {
  /** Work directory (patched libtdjson, TDLib's database); the caller removes it. */
  dir: string
  /** Which auth key the server computes (1 = first) gets its first byte zeroed: its dh_gen_ok cannot be verified. */
  zeroKey?: number
  /** Bound of each stage (ready, RPC). */
  stageMs: number
  /** TDLib option use_pfs: temp keys bound to the permanent one with auth.bindTempAuthKey. */
  pfs?: boolean
  /** TDLib's log verbosity (default 1). */
  verbosity?: number
}

/** A key the server computed in dhFinish (a zeroed one as stored: with its first byte 0). */
export interface ServerKey {
  id: string
  zeroed: boolean
  atMs: number
  /** 'perm' | 'temp' | 'mediaTemp' from the store; 'absent' when not stored. */
  type: string
  /** The permanent key a temp key is bound to (auth.bindTempAuthKey). */
  boundTo?: string
  /** The session layer loaded it: encrypted messages with this key were accepted. */
  used: boolean
}

export interface DriverResult {
  ok: boolean
  error?: string
  /** ms since TDLib started, per event: "authorizationStateWaitPhoneNumber", "connectionStateReady", "rpc:getCountryCode", ... */
  stages: Record<string, number>
  connectionStates: Array<[number, string]>
  countryCode?: string
  testNetwork?: string
  exchangesStarted: number
  keys: ServerKey[]
  zeroed: number
  socksRequests: string[]
}

const require = createRequire(import.meta.url)
const TYPES = ['perm', 'temp', 'mediaTemp']
const COUNTRY = 'XT'

type Td = { _: string; [k: string]: unknown }
interface TdClient {
  invoke(q: Td): Promise<Td>
  on(ev: 'update', cb: (u: Td) => void): void
  on(ev: 'error', cb: (e: unknown) => void): void
  close(): Promise<void>
}

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(t))
}

async function main(a: DriverArgs): Promise<DriverResult> {
  assertLoopbackOnly()
  const res: DriverResult = { ok: false, stages: {}, connectionStates: [], exchangesStarted: 0, keys: [], zeroed: 0, socksRequests: [] }
  const made: Array<{ id: bigint; zeroed: boolean; atMs: number }> = []
  let t0 = Date.now()
  let zero: (HandshakeCrypto & { zeroed: number }) | undefined
  let finished = 0
  const wrapCrypto = (inner: HandshakeCrypto): HandshakeCrypto => {
    const z = (zero = zeroFirstKeys(inner))
    return {
      rsaDecrypt: (fp, d) => inner.rsaDecrypt(fp, d),
      dhStart: () => (res.exchangesStarted++, inner.dhStart()),
      async dhFinish(x, gB) {
        const zeroed = ++finished === a.zeroKey
        const key = zeroed ? await z.dhFinish(x, gB) : await inner.dhFinish(x, gB)
        made.push({ id: authKeyId(key), zeroed, atMs: Date.now() - t0 })
        return key
      },
      close: () => inner.close(),
    }
  }
  const e = await startE2eServer({ host: '127.0.0.1', tcpPort: 0, config: { dc_id: 1, telegram: { country: COUNTRY } }, wrapCrypto })
  const socks = await startSocks5Redirect({ host: '127.0.0.1', port: e.tcpPort! })
  const tdl = require('tdl') as { configure(o: Record<string, unknown>): void; createClient(o: Record<string, unknown>): TdClient }
  tdl.configure({ tdjson: patchTdjson(e.publicPem, a.dir), verbosityLevel: a.verbosity ?? 1 })
  t0 = Date.now()
  const client = tdl.createClient({ apiId: API_ID, apiHash: API_HASH, databaseDirectory: join(a.dir, 'db'), filesDirectory: join(a.dir, 'files') })
  const waiters: Array<() => void> = []
  const mark = (name: string): void => {
    res.stages[name] ??= Date.now() - t0
    for (const w of waiters.splice(0)) w()
  }
  const until = (names: string[], what: string): Promise<void> =>
    bounded(
      new Promise<void>((resolve) => {
        const check = (): void => (names.every((n) => n in res.stages) ? resolve() : void waiters.push(check))
        check()
      }),
      a.stageMs,
      what,
    )
  client.on('error', (err) => (res.error ??= `tdl error: ${String(err)}`))
  client.on('update', (u) => {
    if (u._ === 'updateAuthorizationState') mark((u.authorization_state as Td)._)
    if (u._ === 'updateConnectionState') {
      const s = (u.state as Td)._
      res.connectionStates.push([Date.now() - t0, s])
      mark(s)
    }
  })
  try {
    if (a.pfs) await bounded(client.invoke({ _: 'setOption', name: 'use_pfs', value: { _: 'optionValueBoolean', value: true } }), a.stageMs, 'setOption use_pfs')
    await bounded(client.invoke({ _: 'addProxy', proxy: { _: 'proxy', server: '127.0.0.1', port: socks.port, type: { _: 'proxyTypeSocks5' } }, enable: true }), a.stageMs, 'addProxy')
    await until(['authorizationStateWaitPhoneNumber', 'connectionStateReady'], 'authorizationStateWaitPhoneNumber and connectionStateReady')
    const cc = await bounded(client.invoke({ _: 'getCountryCode' }), a.stageMs, 'getCountryCode')
    mark('rpc:getCountryCode')
    res.countryCode = String(cc.text)
    const tn = await bounded(client.invoke({ _: 'testNetwork' }), a.stageMs, 'testNetwork')
    mark('rpc:testNetwork')
    res.testNetwork = tn._
    res.ok = true
  } catch (err) {
    res.error ??= (err as Error).message
  }
  const used = new Set(e.server.sessions.loadedKeys())
  for (const k of made) {
    const rec = await e.server.store.get(k.id)
    const binding = rec && rec.type !== 0 ? await e.server.store.getBinding(k.id) : undefined
    res.keys.push({
      id: k.id.toString(16),
      zeroed: k.zeroed,
      atMs: k.atMs,
      type: rec ? TYPES[rec.type]! : 'absent',
      boundTo: binding?.permId.toString(16),
      used: used.has(k.id),
    })
  }
  res.zeroed = zero?.zeroed ?? 0
  res.socksRequests = [...socks.requests]
  await bounded(client.close(), 5000, 'TDLib close').catch((err: Error) => (res.error ??= err.message))
  await socks.close()
  await e.close()
  return res
}

main(JSON.parse(process.argv[2] ?? '{}') as DriverArgs).then(
  (r) => {
    process.stdout.write(JSON.stringify(r) + '\n')
    process.exit(0)
  },
  (err: Error) => {
    process.stdout.write(JSON.stringify({ ok: false, error: err.stack ?? String(err) }) + '\n')
    process.exit(1)
  },
)
