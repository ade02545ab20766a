/**
 * End-to-end harness: the whole `mtgate serve` composition (MtgateServer) started in-process on a
 * loopback address, for the real client libraries from npm (test/helpers/gramjs.ts,
 * test/helpers/mtcute.ts) and the other clients of test/e2e.
 *
 * GramJS on Node always dials port 80 (TCP and WebSocket), so every GramJS server gets its own
 * 127.x.y.z address with port 80 (we run as root in CI). mtcute honours the port.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseConfig } from '../../src/config/index.js'
import { createKeyFile, loadKeySet } from '../../src/handshake/rsa-keyset.js'
import { MtgateServer } from '../../src/server/server.js'
import { MemoryAuthKeyStore } from '../../src/store/memory.js'
import type { RandomSource } from '../../src/crypto/random.js'
import type { HandshakeCrypto } from '../../src/handshake/crypto-backend.js'
import type { AuthKeyStore } from '../../src/store/types.js'
import type { Connection, ConnectionInfo } from '../../src/transport/index.js'
import type { Logger } from '../../src/util/log.js'

export { API_HASH, API_ID } from '../helpers/api.js'
export { waitFor } from '../helpers/wait.js'

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
  /** The HTTP-only port (MTProto over HTTP; the WebSocket port serves it too). */
  httpPort: number | undefined
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
  /** A port serving only MTProto over HTTP (config http.port); null (default) for none. */
  httpPort?: number | null
  /** Extra config (YAML keys). */
  config?: Record<string, unknown>
  /** The server's random source (e.g. firstSecret of a leading-zero pair: the DH secret a). */
  random?: RandomSource
  /** Wraps the handshake crypto backend (fault injection, e.g. zeroFirstKeys of test/helpers/clients). */
  wrapCrypto?: (c: HandshakeCrypto) => HandshakeCrypto
  /** help.getNearestDc's country of a client address (ServerDeps.countryOf). */
  countryOf?: (ip: string) => string | undefined
  /** Serve the admin port (on `host`, a free port); default off. */
  admin?: boolean
  /** The auth key store (default a new MemoryAuthKeyStore). */
  store?: AuthKeyStore
  /** The server's logger (default rootLogger: silent in tests unless MTGATE_LOG_LEVEL says otherwise). */
  log?: Logger
}

export async function startE2eServer(o: E2eServerOptions): Promise<E2eServer> {
  const tcp = o.tcpPort === undefined ? 80 : o.tcpPort
  const ws = o.wsPort ?? null
  const http = o.httpPort ?? null
  const config = parseConfig(
    {
      host: o.host,
      tcp_ports: tcp === null ? [] : [tcp],
      ws_port: ws,
      data_dir: dataDir(),
      store: { backend: 'memory' },
      admin: o.admin === true ? { host: o.host, port: 0 } : null,
      ...o.config,
      ...(http === null ? {} : { http: { ...(o.config?.http as Record<string, unknown> | undefined), port: http } }),
    },
    {},
  )
  const server = await MtgateServer.start(config, {
    store: o.store ?? new MemoryAuthKeyStore(),
    inlineHandshakeCrypto: true,
    gatewayId: 'e2e',
    random: o.random,
    wrapHandshakeCrypto: o.wrapCrypto,
    countryOf: o.countryOf,
    log: o.log,
  })
  const key = loadKeySet(config.dataDir).all()[0]!
  return {
    server,
    host: o.host,
    tcpPort: server.addresses.find((a) => a.kind === 'tcp')?.port,
    wsPort: server.addresses.find((a) => a.kind === 'ws')?.port,
    httpPort: server.addresses.find((a) => a.kind === 'http')?.port,
    publicPem: key.publicKey.toPem(),
    fingerprint: key.fingerprint,
    modulus: key.publicKey.modulus,
    async close() {
      await server.stop()
      await server.store.close()
    },
  }
}

/** The ids of the keys `store` newly stored from now on (its put() answered 'created'). */
export function recordNewKeys(store: AuthKeyStore): bigint[] {
  const created: bigint[] = []
  const put = store.put.bind(store)
  store.put = async (record) => {
    const r = await put(record)
    if (r === 'created') created.push(record.id)
    return r
  }
  return created
}

/** An RPC the server's router dispatched: its method, the key it came on, and whether it was answered with a result. */
export interface DispatchedRpc {
  method: string
  authKeyId: bigint
  ok: boolean
}

/** The RPCs `server`'s router dispatches from now on, each added once answered. */
export function recordRpcs(server: MtgateServer): DispatchedRpc[] {
  const rpcs: DispatchedRpc[] = []
  const router = server.router
  const dispatch = router.dispatch.bind(router)
  router.dispatch = async (call) => {
    const out = await dispatch(call)
    rpcs.push({ method: call.method, authKeyId: call.ctx.authKeyId, ok: out.kind !== 'error' })
    return out
  }
  return rpcs
}

/**
 * The keys of `created` that carried an RPC (in `rpcs`), in the order they were stored. A client can
 * store a key it never uses: mtcute's handshake fails and starts over when the shared secret's first
 * byte is 0 (1 in 256), after the server has stored the key.
 */
export function keysInUse(created: readonly bigint[], rpcs: readonly DispatchedRpc[]): bigint[] {
  const used = new Set(rpcs.map((r) => r.authKeyId))
  return created.filter((k) => used.has(k))
}

/** The server's front, whose accept() MtgateServer does not expose. */
interface FrontOf {
  gatewaySide: { front: { accept(c: Connection): void } }
}

/** What the transport knew of each connection `server`'s front accepts from now on. */
export function recordAccepted(server: MtgateServer): ConnectionInfo[] {
  const seen: ConnectionInfo[] = []
  const front = (server as unknown as FrontOf).gatewaySide.front
  const accept = front.accept.bind(front)
  front.accept = (c: Connection) => {
    seen.push(c.info)
    accept(c)
  }
  return seen
}
