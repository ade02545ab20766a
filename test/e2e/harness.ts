/**
 * End-to-end harness: the whole `mtgate serve` composition (MtgateServer) started in-process on a
 * loopback address, and the real client libraries from npm — GramJS (`telegram`) and mtcute
 * (`@mtcute/node`) — pointed at it, unmodified apart from the address and our RSA public key.
 *
 * GramJS on Node always dials port 80 (TCP and WebSocket), so every GramJS server gets its own
 * 127.x.y.z address with port 80 (we run as root in CI). mtcute honours the port.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseConfig } from '../../src/config/index.js'
import { createKeyFile, loadKeySet } from '../../src/handshake/rsa-keyset.js'
import { MtgateServer } from '../../src/server/server.js'
import { MemoryAuthKeyStore } from '../../src/store/memory.js'
import type { RandomSource } from '../../src/crypto/random.js'
import type { HandshakeCrypto } from '../../src/handshake/crypto-backend.js'

const require = createRequire(import.meta.url)

export const API_ID = 4
export const API_HASH = '014b35b6184100b085b0d0572f9b5103'

let sharedDataDir: string | undefined

/**
 * One data dir with one RSA key per test process (createKeyFile never makes a key mtcute cannot
 * look up: see fingerprintClientSafe).
 */
function dataDir(): string {
  if (sharedDataDir !== undefined) return sharedDataDir
  const dir = mkdtempSync(join(tmpdir(), 'mtgate-e2e-'))
  createKeyFile(dir)
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  sharedDataDir = dir
  return dir
}

export interface E2eServer {
  server: MtgateServer
  host: string
  tcpPort: number | undefined
  wsPort: number | undefined
  /** PKCS#1 PEM of our public key (what clients embed). */
  publicPem: string
  fingerprint: bigint
  modulus: bigint
  close(): Promise<void>
}

export interface E2eServerOptions {
  host: string
  /** TCP port (default 80 for GramJS); null for none. */
  tcpPort?: number | null
  /** WebSocket port; null (default) for none. */
  wsPort?: number | null
  /** Extra config (YAML keys). */
  config?: Record<string, unknown>
  /** The server's random source (e.g. firstSecret of a leading-zero pair: the DH secret a). */
  random?: RandomSource
  /** Wraps the handshake crypto backend (fault injection, e.g. zeroFirstKeys of test/helpers/clients). */
  wrapCrypto?: (c: HandshakeCrypto) => HandshakeCrypto
}

export async function startE2eServer(o: E2eServerOptions): Promise<E2eServer> {
  const tcp = o.tcpPort === undefined ? 80 : o.tcpPort
  const ws = o.wsPort ?? null
  const config = parseConfig(
    {
      host: o.host,
      tcp_ports: tcp === null ? [] : [tcp],
      ws_port: ws,
      data_dir: dataDir(),
      store: { backend: 'memory' },
      ...o.config,
    },
    {},
  )
  const server = await MtgateServer.start(config, {
    store: new MemoryAuthKeyStore(),
    inlineHandshakeCrypto: true,
    gatewayId: 'e2e',
    random: o.random,
    wrapHandshakeCrypto: o.wrapCrypto,
  })
  const key = loadKeySet(config.dataDir).all()[0]!
  return {
    server,
    host: o.host,
    tcpPort: server.addresses.find((a) => a.kind === 'tcp')?.port,
    wsPort: server.addresses.find((a) => a.kind === 'ws')?.port,
    publicPem: key.publicKey.toPem(),
    fingerprint: key.fingerprint,
    modulus: key.publicKey.modulus,
    async close() {
      await server.stop()
      await server.store.close()
    },
  }
}

/** Resolves when `pred` holds (polled), rejects after `ms`. */
export async function waitFor(pred: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const t0 = Date.now()
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

// ---------------------------------------------------------------------------------------------
// GramJS
// ---------------------------------------------------------------------------------------------

export type GramTransport = 'full' | 'abridged' | 'obfuscated' | 'websocket'

/** The parts of GramJS's TelegramClient the tests use. */
export interface GramClient {
  connect(): Promise<boolean>
  invoke<R = GramObject>(req: unknown): Promise<R>
  destroy(): Promise<void>
  disconnect(): Promise<void>
  addEventHandler(cb: (u: GramObject) => void, ev: unknown): void
  session: { getAuthKey(): { getKey(): Buffer | undefined } | undefined }
  _sender: { _state: { salt: unknown; timeOffset: number; _lastMsgId: unknown } } | undefined
}
export type GramObject = Record<string, unknown> & { className: string }

export interface GramJs {
  Api: Record<string, unknown> & {
    help: Record<string, new (a?: Record<string, unknown>) => unknown>
    Ping: new (a: Record<string, unknown>) => unknown
  }
  bigInt: (v: string | number) => unknown
  Raw: new (a: Record<string, unknown>) => unknown
}

export function gramjs(): GramJs {
  const tg = require('telegram') as { Api: GramJs['Api'] }
  const bigInt = require('big-integer') as GramJs['bigInt']
  const { Raw } = require('telegram/events/index.js') as { Raw: GramJs['Raw'] }
  return { Api: tg.Api, bigInt, Raw }
}

export function gramjsClient(e: E2eServer, transport: GramTransport): GramClient {
  const rsa = require('telegram/crypto/RSA.js') as { _serverKeys: Map<string, { n: unknown; e: number }> }
  const { bigInt } = gramjs()
  rsa._serverKeys.set(e.fingerprint.toString(), { n: bigInt(e.modulus.toString()), e: 65537 })
  const { TelegramClient } = require('telegram') as { TelegramClient: new (...a: unknown[]) => GramClient & { setLogLevel(l: string): void } }
  const { StringSession } = require('telegram/sessions/index.js') as { StringSession: new (s: string) => { setDC(dc: number, ip: string, port: number): void } }
  const net = require('telegram/network/index.js') as Record<string, unknown>
  const ext = require('telegram/extensions/index.js') as Record<string, unknown>
  const session = new StringSession('')
  session.setDC(2, e.host, 80)
  const connection = {
    full: net.ConnectionTCPFull,
    abridged: net.ConnectionTCPAbridged,
    obfuscated: net.ConnectionTCPObfuscated,
    websocket: net.ConnectionTCPObfuscated,
  }[transport]
  const client = new TelegramClient(session, API_ID, API_HASH, {
    connection,
    networkSocket: transport === 'websocket' ? ext.PromisedWebSockets : ext.PromisedNetSockets,
    connectionRetries: 2,
    retryDelay: 200,
    requestRetries: 2,
    useWSS: false,
    autoReconnect: false,
  })
  client.setLogLevel(process.env.GRAMJS_LOG ?? 'none')
  return client
}

// ---------------------------------------------------------------------------------------------
// mtcute
// ---------------------------------------------------------------------------------------------

export type MtcuteTransport = 'intermediate' | 'obfuscated' | 'websocket'

export interface MtcuteClient {
  call(req: Record<string, unknown>): Promise<Record<string, unknown> & { _: string }>
  connect(): Promise<void>
  destroy(): Promise<void>
  on(ev: 'raw_update', cb: (u: Record<string, unknown> & { _: string }) => void): void
  _client: { crypto: unknown; network: unknown }
}

export interface MtcuteOptions {
  transport?: MtcuteTransport
  /** Let mtcute run its updates machinery (default off: our server implements no updates.*). */
  updates?: boolean
}

export async function mtcuteClient(e: E2eServer, o: MtcuteOptions = {}): Promise<MtcuteClient> {
  const node = (await import('@mtcute/node')) as unknown as Record<string, unknown>
  const core = (await import('@mtcute/core')) as unknown as Record<string, unknown>
  const utils = (await import('@mtcute/core/utils.js')) as unknown as { addPublicKey: (c: unknown, pem: string) => void }
  const TcpTransport = node.TcpTransport as new () => { connect(dc: unknown): Promise<unknown>; packetCodec(): unknown }
  const ObfuscatedPacketCodec = core.ObfuscatedPacketCodec as new (inner: unknown) => unknown
  const IntermediatePacketCodec = core.IntermediatePacketCodec as new () => unknown
  const MemoryStorage = core.MemoryStorage as new () => unknown
  const TelegramClient = node.TelegramClient as new (o: Record<string, unknown>) => MtcuteClient
  const kind = o.transport ?? 'intermediate'
  let transport: unknown
  if (kind === 'intermediate') transport = new TcpTransport()
  else if (kind === 'obfuscated') {
    const tcp = new TcpTransport()
    transport = { connect: (dc: unknown) => tcp.connect(dc), packetCodec: () => new ObfuscatedPacketCodec(new IntermediatePacketCodec()) }
  } else {
    // What @mtcute/web's WebSocketTransport does: obfuscated intermediate over ws://host:port/apiws.
    const { connectWs } = (await import('@fuman/net')) as unknown as { connectWs: (ep: Record<string, unknown>) => Promise<unknown> }
    const { WebSocket } = (await import('ws')) as unknown as { WebSocket: unknown }
    transport = {
      connect: (dc: { ipAddress: string; port: number }) =>
        connectWs({ url: `ws://${dc.ipAddress}:${dc.port}/apiws`, implementation: WebSocket, protocols: 'binary' }),
      packetCodec: () => new ObfuscatedPacketCodec(new IntermediatePacketCodec()),
    }
  }
  const port = kind === 'websocket' ? e.wsPort : e.tcpPort
  if (port === undefined) throw new Error(`server has no ${kind === 'websocket' ? 'WebSocket' : 'TCP'} port`)
  const dc = { id: 2, ipAddress: e.host, port }
  const tg = new TelegramClient({
    apiId: API_ID,
    apiHash: API_HASH,
    storage: new MemoryStorage(),
    defaultDcs: { main: dc, media: dc },
    transport,
    logLevel: Number(process.env.MTCUTE_LOG ?? 0),
    disableUpdates: !(o.updates ?? false),
  })
  utils.addPublicKey(tg._client.crypto, e.publicPem)
  return tg
}
