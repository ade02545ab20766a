/**
 * Runs inside a loopback-only network namespace (test/helpers/tdlib runInNetns): our whole server,
 * the SOCKS5 redirector and TDLib (tdl, patched libtdjson) in one process. argv[2] is a JSON
 * DriverArgs; prints one JSON DriverResult line on stdout. TDLib's log goes to stderr, the
 * server's too (MTGATE_LOG_LEVEL).
 *
 * Steps: TDLib starts and gets ready (authorizationStateWaitPhoneNumber, connectionStateReady),
 * then getCountryCode (help.getNearestDc) and testNetwork; then, when asked,
 * setAuthenticationPhoneNumber (auth.sendCode, a method the server has no handler for) and a
 * server restart (stop, then a new server on the same port with the same store object).
 * With `http`, TDLib's proxy is its HTTP caching proxy on the server's HTTP port (through an
 * HttpTap), so TDLib speaks MTProto over HTTP to the server itself.
 */
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { authKeyId } from '../../../src/handshake/kdf.js'
import type { HandshakeCrypto } from '../../../src/handshake/crypto-backend.js'
import { MtgateServer } from '../../../src/server/server.js'
import type { RpcCall } from '../../../src/session/api.js'
import type { ConnectionInfo, SourceStats } from '../../../src/transport/index.js'
import { encode, type TlObject } from '../../../src/tl/index.js'
import type { HttpFront } from '../../../src/gateway/http-front.js'
import { readHttpWait, type HttpChannel } from '../../../src/gateway/http-channel.js'
import { zeroFirstKeys } from '../../helpers/clients.js'
import { assertLoopbackOnly, patchTdjson, startSocks5Redirect, type ClientWire } from '../../helpers/tdlib.js'
import { API_HASH, API_ID, recordAccepted, startE2eServer, waitFor } from '../../e2e/harness.js'
import { startHttpTap } from './http-tap.js'

export interface DriverArgs {
  /** Work directory (patched libtdjson, TDLib's database); the caller removes it. */
  dir: string
  /** Which auth key the server computes (1 = first) gets its first byte zeroed: its dh_gen_ok cannot be verified. */
  zeroKey?: number
  /** Bound of each stage (ready, RPC, reconnect). */
  stageMs: number
  /** TDLib option use_pfs: temp keys bound to the permanent one with auth.bindTempAuthKey. */
  pfs?: boolean
  /** TDLib's log verbosity (default 1). */
  verbosity?: number
  /** Call setAuthenticationPhoneNumber (auth.sendCode: no handler on the server). */
  unknownMethod?: boolean
  /** Stop the server, start a new one on the same port and store, wait for TDLib's traffic on it, then getCountryCode. */
  restart?: boolean
  /**
   * Push updateShort(updateServiceNotification(popup, this text)) to TDLib's key and wait for the
   * td_api updateServiceNotification: the one kind TDLib applies before authorization that reaches
   * the app (UpdatesManager::on_get_updates).
   */
  pushText?: string
  /**
   * TDLib's proxy is an MTProto proxy (proxyTypeMtproto) at our server's TCP port with this secret
   * (hex: plain, dd or ee + domain), which the server is configured with (mtproxy.secrets, plain
   * obfuscation off) instead of the SOCKS5 redirector.
   */
  mtproxySecret?: string
  /** The server's secret when it is not TDLib's (a refusal case). */
  mtproxyServerSecret?: string
  /** TDLib must not get ready within this many ms (the server refuses its connections); nothing else is run. */
  mtproxyRefusedMs?: number
  /**
   * Reach the server through TDLib's HTTP caching proxy (proxyTypeHttp, http_only) set to the
   * server's HTTP port (through an HttpTap) instead of the SOCKS5 redirector: TDLib then speaks
   * MTProto over HTTP, POSTing `HTTP://<dc ip>:80/api`, with http_wait long polls.
   */
  http?: boolean
}

/** What the server saw of TDLib's HTTP transport (DriverArgs.http). */
export interface HttpSeen {
  /** "METHOD target" of each HTTP request TDLib sent the proxy address. */
  requests: string[]
  /** Encrypted requests routed to a session's HTTP channel. */
  routed: number
  /** The max_wait (ms) of each routed request that carried http_wait. */
  waits: number[]
  /** Requests the server held for TDLib's sessions when the push was sent. */
  heldAtPush?: number
}

/** A connection the server accepted (GatewayFront), as its transport saw it. */
export interface AcceptedConnection {
  codec: string
  obfuscated: boolean
  fakeTls: boolean
  secretIndex: number | null
  dcId: number | null
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
  /** The session layer of the server that ran last loaded it: encrypted messages with this key were accepted. */
  used: boolean
}

/** An RPC the server's router dispatched, with what it answered. */
export interface ServedRpc {
  atMs: number
  /** 0: the first server; 1: the one started by the restart. */
  server: number
  method: string
  authKeyId: string
  layer?: number
  /** The DC the connection came for (help.getConfig's this_dc). */
  dcId: number
  /** "result" or "error <code> <message>". */
  outcome: string
  /** The transport of the connection it came on. */
  transport: string
}

export interface Restart {
  /** ms since TDLib started: the old server stopped / the new one listened. */
  stoppedMs: number
  listeningMs: number
  /** First encrypted traffic TDLib sent the new server without being asked (its key loaded there). */
  trafficMs?: number
  /** Exchanges (req_pq) and keys the new server saw. */
  exchangesAfter: number
  keysAfter: number
}

export interface DriverResult {
  ok: boolean
  error?: string
  /** ms since TDLib started, per event: "authorizationStateWaitPhoneNumber", "connectionStateReady", "rpc:getCountryCode", ... */
  stages: Record<string, number>
  connectionStates: Array<[number, string]>
  countryCode?: string
  testNetwork?: string
  /** What setAuthenticationPhoneNumber failed with. */
  unknownMethodError?: { code: number; message: string }
  /** The td_api updateServiceNotification TDLib reported after the push: its type and text. */
  serviceNotification?: { type: string; text: string }
  /** Sessions the push reached. */
  pushed?: number
  restart?: Restart
  exchangesStarted: number
  keys: ServerKey[]
  zeroed: number
  rpcs: ServedRpc[]
  /** Every connection the servers accepted. */
  accepted: AcceptedConnection[]
  socksRequests: string[]
  /** What TDLib sent on each connection through the redirector; openedMs: ms since TDLib started. */
  wire: Array<Omit<ClientWire, 'openedAt'> & { openedMs: number }>
  /** Limit refusals the servers counted: handshakes over the per-prefix rate, connections per source limit. */
  refusals: { handshakeRate: number; sources: SourceStats['refused'] }
  http?: HttpSeen
}

const require = createRequire(import.meta.url)
const TYPES = ['perm', 'temp', 'mediaTemp']
const COUNTRY = 'XT'
/** A phone number for auth.sendCode (Telegram's test-number range). */
const PHONE = '+9996621234'

type Td = { _: string; [k: string]: unknown }
interface TdClient {
  invoke(q: Td): Promise<Td>
  on(ev: 'update', cb: (u: Td) => void): void
  on(ev: 'error', cb: (e: unknown) => void): void
  close(): Promise<void>
}

/** The server's limiters, which MtgateServer does not expose (read-only counters). */
interface LimitCounters {
  gatewaySide: { handshake: { limiter: { refused: number } }; front: { sources: { stats: SourceStats } } }
}

/** The server's HTTP front (not exposed by MtgateServer either). */
interface WithHttpFront {
  gatewaySide: { front: { http: HttpFront } }
}

/** Records the HTTP requests `server` routes to session channels (http_wait's max_wait, the channels). */
function observeHttp(server: MtgateServer, seen: HttpSeen): Set<HttpChannel> {
  const front = (server as unknown as WithHttpFront).gatewaySide.front.http
  const channels = new Set<HttpChannel>()
  const channelFor = front.channelFor.bind(front)
  front.channelFor = (x, addr, key, session, salt, body) => {
    seen.routed++
    const wait = readHttpWait(body)
    if (wait !== undefined) seen.waits.push(wait.maxWait)
    const ch = channelFor(x, addr, key, session, salt, body)
    channels.add(ch)
    return ch
  }
  return channels
}

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(t))
}

function addRefusals(res: DriverResult, server: MtgateServer): void {
  const g = (server as unknown as LimitCounters).gatewaySide
  res.refusals.handshakeRate += g.handshake.limiter.refused
  for (const [k, n] of Object.entries(g.front.sources.stats.refused)) res.refusals.sources[k as keyof SourceStats['refused']] += n
}

async function main(a: DriverArgs): Promise<DriverResult> {
  assertLoopbackOnly()
  const res: DriverResult = {
    ok: false,
    stages: {},
    connectionStates: [],
    exchangesStarted: 0,
    keys: [],
    zeroed: 0,
    rpcs: [],
    accepted: [],
    socksRequests: [],
    wire: [],
    refusals: { handshakeRate: 0, sources: { max_connections: 0, per_ip: 0, per_prefix: 0, rate_ip: 0, rate_prefix: 0 } },
  }
  const made: Array<{ id: bigint; zeroed: boolean; atMs: number }> = []
  let t0 = Date.now()
  const since = (): number => Date.now() - t0
  const zeros: Array<HandshakeCrypto & { zeroed: number }> = []
  /** The connections each server accepted. */
  const accepted: ConnectionInfo[][] = []
  let finished = 0
  const wrapCrypto = (inner: HandshakeCrypto): HandshakeCrypto => {
    const z = zeroFirstKeys(inner)
    zeros.push(z)
    return {
      rsaDecrypt: (fp, d) => inner.rsaDecrypt(fp, d),
      dhStart: () => (res.exchangesStarted++, inner.dhStart()),
      async dhFinish(x, gB) {
        const zeroed = ++finished === a.zeroKey
        const key = zeroed ? await z.dhFinish(x, gB) : await inner.dhFinish(x, gB)
        made.push({ id: authKeyId(key), zeroed, atMs: since() })
        return key
      },
      close: () => inner.close(),
    }
  }
  const observe = (server: MtgateServer, index: number): MtgateServer => {
    const router = server.router
    const dispatch = router.dispatch.bind(router)
    router.dispatch = async (call: RpcCall) => {
      const c = call.ctx
      const rpc: ServedRpc = { atMs: since(), server: index, method: call.method, authKeyId: c.authKeyId.toString(16), layer: c.layer, dcId: c.connection.dcId, outcome: '', transport: c.connection.transport }
      res.rpcs.push(rpc)
      const out = await dispatch(call)
      rpc.outcome = out.kind === 'error' ? `error ${out.code} ${out.message}` : 'result'
      return out
    }
    accepted.push(recordAccepted(server))
    return server
  }
  const serverSecret = a.mtproxyServerSecret ?? a.mtproxySecret
  const mtproxy = serverSecret === undefined ? {} : { mtproxy: { secrets: [serverSecret], plain_obfuscated: false } }
  const e = await startE2eServer({ host: '127.0.0.1', tcpPort: 0, httpPort: a.http ? 0 : null, config: { telegram: { country: COUNTRY }, ...mtproxy }, wrapCrypto })
  let server = observe(e.server, 0)
  const servers = [server]
  const socks = await startSocks5Redirect({ host: '127.0.0.1', port: e.tcpPort! })
  const httpTap = a.http ? await startHttpTap('127.0.0.1', { host: '127.0.0.1', port: e.httpPort! }) : undefined
  if (httpTap !== undefined) res.http = { requests: httpTap.requests, routed: 0, waits: [] }
  const httpChannels = res.http === undefined ? undefined : observeHttp(server, res.http)
  const tdl = require('tdl') as { configure(o: Record<string, unknown>): void; createClient(o: Record<string, unknown>): TdClient }
  tdl.configure({ tdjson: patchTdjson(e.publicPem, a.dir), verbosityLevel: a.verbosity ?? 1 })
  t0 = Date.now()
  const client = tdl.createClient({ apiId: API_ID, apiHash: API_HASH, databaseDirectory: join(a.dir, 'db'), filesDirectory: join(a.dir, 'files') })
  const waiters: Array<() => void> = []
  const mark = (name: string): void => {
    res.stages[name] ??= since()
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
  const call = async (q: Td, stage: string): Promise<Td> => {
    const r = await bounded(client.invoke(q), a.stageMs, q._)
    mark(stage)
    return r
  }
  client.on('error', (err) => (res.error ??= `tdl error: ${String(err)}`))
  client.on('update', (u) => {
    if (u._ === 'updateServiceNotification') {
      const text = ((u.content as Td)?.text as Td | undefined)?.text
      res.serviceNotification = { type: String(u.type), text: String(text) }
      mark('updateServiceNotification')
    }
    if (u._ === 'updateAuthorizationState') mark((u.authorization_state as Td)._)
    if (u._ === 'updateConnectionState') {
      const s = (u.state as Td)._
      res.connectionStates.push([since(), s])
      mark(res.restart === undefined ? s : `${s} after restart`)
    }
  })
  /** Exchanges and keys when the restarted server started listening. */
  const before = { exchanges: 0, keys: 0 }
  try {
    if (a.pfs) await call({ _: 'setOption', name: 'use_pfs', value: { _: 'optionValueBoolean', value: true } }, 'setOption use_pfs')
    const proxy =
      a.mtproxySecret !== undefined
        ? { _: 'proxy', server: '127.0.0.1', port: e.tcpPort!, type: { _: 'proxyTypeMtproto', secret: a.mtproxySecret } }
        : httpTap !== undefined
          ? { _: 'proxy', server: '127.0.0.1', port: httpTap.port, type: { _: 'proxyTypeHttp', username: '', password: '', http_only: true } }
          : { _: 'proxy', server: '127.0.0.1', port: socks.port, type: { _: 'proxyTypeSocks5' } }
    await call({ _: 'addProxy', proxy, enable: true }, 'addProxy')
    if (a.mtproxyRefusedMs !== undefined) {
      // only wait: every connection TDLib makes should be refused
      await new Promise((r) => setTimeout(r, a.mtproxyRefusedMs))
      if ('connectionStateReady' in res.stages) throw new Error('TDLib got ready through a proxy that refuses it')
    } else {
      await until(['authorizationStateWaitPhoneNumber', 'connectionStateReady'], 'authorizationStateWaitPhoneNumber and connectionStateReady')
      res.countryCode = String((await call({ _: 'getCountryCode' }, 'rpc:getCountryCode')).text)
      res.testNetwork = (await call({ _: 'testNetwork' }, 'rpc:testNetwork'))._
      if (a.unknownMethod) {
        const sent = client.invoke({ _: 'setAuthenticationPhoneNumber', phone_number: PHONE })
        const failed = sent.then(
          () => undefined,
          (err: { code?: number; message?: string }) => ({ code: Number(err.code), message: String(err.message) }),
        )
        res.unknownMethodError = await bounded(failed, a.stageMs, 'setAuthenticationPhoneNumber')
        mark('rpc:setAuthenticationPhoneNumber')
      }
      if (a.pushText !== undefined) {
        const date = Math.floor(Date.now() / 1000)
        const notification = { _: 'updateServiceNotification', popup: true, type: 'mtgate', message: a.pushText, media: { _: 'messageMediaEmpty' }, entities: [] }
        const body = encode({ _: 'updateShort', update: notification, date } as TlObject)
        if (httpChannels !== undefined) {
          // a long poll of TDLib's held by the server: the push answers it
          const held = (): number => [...httpChannels].reduce((n, ch) => n + (ch.closed ? 0 : ch.waiting), 0)
          await waitFor(() => held() > 0, a.stageMs, 'a held http_wait of TDLib')
          res.http!.heldAtPush = held()
        }
        res.pushed = 0
        for (const id of server.sessions.loadedKeys()) res.pushed += server.push({ authKeyId: id }, body)
        await until(['updateServiceNotification'], 'updateServiceNotification from TDLib')
      }
      if (a.restart) {
        await server.stop()
        const stoppedMs = since()
        const config = { ...server.config, tcpPorts: [e.tcpPort!] }
        server = observe(await MtgateServer.start(config, { store: e.server.store, inlineHandshakeCrypto: true, gatewayId: 'e2e', wrapHandshakeCrypto: wrapCrypto }), 1)
        servers.push(server)
        const restart: Restart = { stoppedMs, listeningMs: since(), exchangesAfter: 0, keysAfter: 0 }
        before.exchanges = res.exchangesStarted
        before.keys = made.length
        res.restart = restart
        const restarted = server
        await waitFor(() => restarted.sessions.loadedKeys().length > 0, a.stageMs, 'traffic from TDLib on the restarted server')
        restart.trafficMs = since()
        // a quick reconnect may never leave connectionStateReady: TDLib reports a state going down only after a delay (StateManager's DOWN_DELAY)
        await waitFor(() => res.connectionStates.at(-1)?.[1] === 'connectionStateReady', a.stageMs, 'connectionStateReady after the restart')
        res.countryCode = String((await call({ _: 'getCountryCode' }, 'rpc:getCountryCode after restart')).text)
      }
    }
    res.ok = true
  } catch (err) {
    res.error ??= (err as Error).message
  }
  if (res.restart) {
    res.restart.exchangesAfter = res.exchangesStarted - before.exchanges
    res.restart.keysAfter = made.length - before.keys
  }
  const used = new Set(server.sessions.loadedKeys())
  for (const k of made) {
    const rec = await server.store.get(k.id)
    const binding = rec && rec.type !== 0 ? await server.store.getBinding(k.id) : undefined
    res.keys.push({
      id: k.id.toString(16),
      zeroed: k.zeroed,
      atMs: k.atMs,
      type: rec ? TYPES[rec.type]! : 'absent',
      boundTo: binding?.permId.toString(16),
      used: used.has(k.id),
    })
  }
  res.zeroed = zeros.reduce((n, z) => n + z.zeroed, 0)
  for (const s of servers) addRefusals(res, s)
  await bounded(client.close(), 5000, 'TDLib close').catch((err: Error) => (res.error ??= err.message))
  res.accepted = accepted.flat().map((i) => ({ codec: i.codec, obfuscated: i.obfuscated, fakeTls: i.fakeTls, secretIndex: i.secretIndex, dcId: i.dcId }))
  res.socksRequests = [...socks.requests]
  res.wire = socks.wire.map(({ openedAt, ...w }) => ({ ...w, openedMs: openedAt - t0 }))
  await socks.close()
  await httpTap?.close()
  await server.stop()
  await server.store.close()
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
