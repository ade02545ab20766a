/**
 * GramJS (npm `telegram`) and its fork teleproto (npm `teleproto`: the same module layout and
 * client API, its own TL layer), unmodified apart from the address and our RSA public key: their
 * module handles, a whole TelegramClient pointed at a server, and GramJS's own handshake run alone.
 * The functions take the library (default `telegram`); each library has its own key table.
 *
 * Both always dial port 80 on Node (TCP and WebSocket); a client either gets a 127.x.y.z
 * address of its own with port 80, or a connection class subclassed only to replace the port.
 */
import { createRequire } from 'node:module'
import { authKeyId } from '../../src/handshake/kdf.js'
import { API_HASH, API_ID } from './api.js'
import type { TestServer } from './clients.js'

const require = createRequire(import.meta.url)

/** The npm package of a GramJS-family library. */
export type GramLibrary = 'telegram' | 'teleproto'

/** A module of `lib` by its path inside the package ('' for the package itself). */
function load<T>(lib: GramLibrary, path = ''): T {
  return require(path === '' ? lib : `${lib}/${path}`) as T
}

export type GramTransport = 'full' | 'abridged' | 'obfuscated' | 'websocket'

export type GramObject = Record<string, unknown> & { className: string }

/** The parts of GramJS's TelegramClient the tests use. */
export interface GramClient {
  connect(): Promise<boolean>
  invoke<R = GramObject>(req: unknown): Promise<R>
  destroy(): Promise<void>
  disconnect(): Promise<void>
  addEventHandler(cb: (u: GramObject) => void, ev: unknown): void
  session: { getAuthKey(): { getKey(): Buffer | undefined } | undefined; save(): string }
  _sender: { _state: { salt: unknown; timeOffset: number; _lastMsgId: unknown } } | undefined
}

export interface GramJs {
  Api: Record<string, unknown> & {
    help: Record<string, new (a?: Record<string, unknown>) => unknown>
    Ping: new (a: Record<string, unknown>) => unknown
  }
  bigInt: (v: string | number) => unknown
  Raw: new (a: Record<string, unknown>) => unknown
  /** The TL layer the library speaks (its invokeWithLayer). */
  layer: number
  /** The package's own version string. */
  version: string
}

export function gramjs(lib: GramLibrary = 'telegram'): GramJs {
  const tg = load<{ Api: GramJs['Api']; version: string }>(lib)
  const bigInt = require('big-integer') as GramJs['bigInt']
  const { Raw } = load<{ Raw: GramJs['Raw'] }>(lib, 'events/index.js')
  const { LAYER } = load<{ LAYER: number }>(lib, 'tl/AllTLObjects.js')
  return { Api: tg.Api, bigInt, Raw, layer: LAYER, version: tg.version }
}

/** The RSA public key a client is given: fingerprint and modulus (exponent 65537). */
export interface GramKey {
  fingerprint: bigint
  modulus: bigint
}

/** Registers our public key in the library's key table (`_serverKeys` of <lib>/crypto/RSA). */
export function addKeyToGramJs(key: GramKey, lib: GramLibrary = 'telegram'): void {
  const rsa = load<{ _serverKeys: Map<string, { n: unknown; e: number }> }>(lib, 'crypto/RSA.js')
  const { bigInt } = gramjs(lib)
  rsa._serverKeys.set(key.fingerprint.toString(), { n: bigInt(key.modulus.toString()), e: 65537 })
}

/** The library's connection class of a transport (WebSocket: obfuscated over PromisedWebSockets). */
function connectionClass(transport: GramTransport, lib: GramLibrary): new (o: Record<string, unknown>) => object {
  const net = load<Record<string, new (o: Record<string, unknown>) => object>>(lib, 'network/index.js')
  return { full: net.ConnectionTCPFull, abridged: net.ConnectionTCPAbridged, obfuscated: net.ConnectionTCPObfuscated, websocket: net.ConnectionTCPObfuscated }[transport]!
}

export interface GramJsClientOptions {
  /** The library (default `telegram`). */
  lib?: GramLibrary
  /** A saved StringSession (its DC, address and auth key); without it the session is new. */
  session?: string
  host: string
  key: GramKey
  transport: GramTransport
  /** The DC of the session (default 2). */
  dcId?: number
  /** The port dialled instead of 80 (the connection class is subclassed to replace it). */
  port?: number
  apiId?: number
  apiHash?: string
  /** More TelegramClient options: connectionRetries, retryDelay, requestRetries, autoReconnect... */
  params?: Record<string, unknown>
}

/** A TelegramClient of the library (StringSession) pointed at host:80, or at host:port. */
export function gramjsClient(o: GramJsClientOptions): GramClient {
  const lib = o.lib ?? 'telegram'
  addKeyToGramJs(o.key, lib)
  const { TelegramClient } = load<{ TelegramClient: new (...a: unknown[]) => GramClient & { setLogLevel(l: string): void } }>(lib)
  const { StringSession } = load<{ StringSession: new (s: string) => { setDC(dc: number, ip: string, port: number): void } }>(lib, 'sessions/index.js')
  const ext = load<Record<string, unknown>>(lib, 'extensions/index.js')
  const session = new StringSession(o.session ?? '')
  if (o.session === undefined) session.setDC(o.dcId ?? 2, o.host, 80)
  const base = connectionClass(o.transport, lib)
  const port = o.port
  const connection =
    port === undefined
      ? base
      : class extends base {
          constructor(c: Record<string, unknown>) {
            super({ ...c, port })
          }
        }
  const client = new TelegramClient(session, o.apiId ?? API_ID, o.apiHash ?? API_HASH, {
    connection,
    networkSocket: o.transport === 'websocket' ? ext.PromisedWebSockets : ext.PromisedNetSockets,
    useWSS: false,
    baseLogger: new (ext.Logger as new (level: string) => unknown)(process.env.GRAMJS_LOG ?? 'none'),
    ...o.params,
  })
  client.setLogLevel(process.env.GRAMJS_LOG ?? 'none')
  return client
}

/**
 * Runs GramJS's own handshake (telegram/network/Authenticator doAuthentication over its
 * MTProtoPlainSender and its Connection class) against the server; returns GramJS's auth key.
 * A failed exchange is started again on the same connection, `attempts` times in all, as
 * GramJS's MTProtoSender.connect does (connectionRetries, 5 by default).
 */
export async function gramjsHandshake(server: TestServer, transport: Exclude<GramTransport, 'websocket'>, attempts = 3): Promise<{ authKey: Buffer; authKeyId: bigint; failures: number }> {
  addKeyToGramJs({ fingerprint: server.key.fingerprint, modulus: server.key.publicKey.modulus })
  const ext = require('telegram/extensions/index.js') as { Logger: new (level: string) => unknown; PromisedNetSockets: unknown }
  const { MTProtoPlainSender } = require('telegram/network/MTProtoPlainSender.js') as { MTProtoPlainSender: new (c: unknown, l: unknown) => unknown }
  const { doAuthentication } = require('telegram/network/Authenticator.js') as {
    doAuthentication: (s: unknown, log: unknown) => Promise<{ authKey: { getKey(): Buffer | undefined } }>
  }
  const Cls = connectionClass(transport, 'telegram') as new (o: Record<string, unknown>) => { connect(): Promise<void>; disconnect(): Promise<void> }
  const loggers = new ext.Logger('none')
  const conn = new Cls({ ip: server.host, port: server.port, dcId: server.dcId, loggers, proxy: undefined, socket: ext.PromisedNetSockets, testServers: false })
  await conn.connect()
  try {
    for (let failures = 0; ; failures++) {
      try {
        const sender = new MTProtoPlainSender(conn, loggers)
        const { authKey } = await doAuthentication(sender, loggers)
        const key = authKey.getKey()
        if (!key) throw new Error('GramJS returned no key')
        return { authKey: key, authKeyId: authKeyId(key), failures }
      } catch (err) {
        if (failures + 1 >= attempts) throw err
      }
    }
  } finally {
    await conn.disconnect()
  }
}

/**
 * A whole GramJS TelegramClient (TCP, `transport` by name) pointed at the test server's port.
 * `connect()` is started but not awaited (it waits for the answer to invokeWithLayer, which a
 * handshake-only server never sends); `authKeyId()` reads the key GramJS saved in its session.
 */
export async function startGramJsClient(
  server: TestServer,
  transport: Exclude<GramTransport, 'websocket'>,
  connectionRetries = 3,
): Promise<{ authKeyId(): bigint | undefined; close(): Promise<void> }> {
  const client = gramjsClient({
    host: server.host,
    port: server.port,
    dcId: server.dcId,
    key: { fingerprint: server.key.fingerprint, modulus: server.key.publicKey.modulus },
    transport,
    apiId: 1,
    apiHash: '00000000000000000000000000000000',
    params: { connectionRetries, autoReconnect: false, baseLogger: undefined },
  })
  client.connect().catch(() => undefined)
  return {
    authKeyId() {
      const key = client.session.getAuthKey()?.getKey()
      return key ? authKeyId(key) : undefined
    },
    async close() {
      await Promise.race([client.destroy().catch(() => undefined), new Promise((r) => setTimeout(r, 2000))])
    },
  }
}
