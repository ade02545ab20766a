/**
 * The composition root of `mtgate serve`: one process holding the auth-key store, the RSA keys and
 * handshake, the session layer, RPC routing, the gateway (handshake + encrypted path) and the
 * TCP / WebSocket listeners. start → serve → stop (drain).
 */
import { join } from 'node:path'
import { MtgateMetrics } from '../admin/metrics.js'
import { AdminServer, storeAnswers } from '../admin/server.js'
import { SessionSide, type PushTarget } from '../cluster/session-side.js'
import { igeBackend, igeBackendReason } from '../crypto/ige.js'
import { secureRandom, type RandomSource } from '../crypto/random.js'
import type { ServerConfig } from '../config/types.js'
import type { HandshakeCrypto } from '../handshake/crypto-backend.js'
import { fingerprintHex } from '../handshake/rsa-key.js'
import type { RsaKeySet } from '../handshake/rsa-keyset.js'
import { GatewaySide, type ListenAddress } from '../gateway/front.js'
import type { EncryptedPath } from '../gateway/encrypted.js'
import { serveBackendApi, type BackendApiServer } from '../rpc/backend-api.js'
import { TeamgramServices } from '../cluster/teamgram-services.js'
import type { RpcRouter, HandlerMap, MethodName } from '../rpc/router.js'
import type { UpstreamBridge } from '../rpc/upstream.js'
import type { SessionManager } from '../session/manager.js'
import type { AuthKeyStore } from '../store/types.js'
import { encode, type TlObject } from '../tl/index.js'
import { systemClock, type Clock } from '../util/clock.js'
import { rootLogger, type Logger } from '../util/log.js'

export interface ServerDeps {
  clock?: Clock
  random?: RandomSource
  log?: Logger
  /** Use this store instead of building the configured one (tests); not closed by stop(). */
  store?: AuthKeyStore
  /** Run handshake crypto inline (with `random` for the DH secrets) instead of a worker pool (tests with many servers). */
  inlineHandshakeCrypto?: boolean
  /** Wraps the handshake crypto backend (tests: fault injection such as zeroFirstKeys). */
  wrapHandshakeCrypto?: (c: HandshakeCrypto) => HandshakeCrypto
  /** Gateway id in InboundMessage (default "gw-<pid>"). */
  gatewayId?: string
  /** Clock of the transport layer (idle timeouts); default `clock`. */
  transportClock?: Clock
  /** Session-layer tick period (ms); default 1000. */
  tickIntervalMs?: number
  /** help.getNearestDc's country of a client address, e.g. a GeoIP lookup (default: telegram.country of the config). */
  countryOf?: (ip: string) => string | undefined
}

export type { ListenAddress }

export interface RsaKeyInfo {
  fingerprint: string
  publicKeyPath: string
  retired: boolean
}

export type { PushTarget }

export class MtgateServer {
  private stopping: Promise<void> | undefined
  private expireTimer: NodeJS.Timeout | undefined
  private expiring: Promise<number> | undefined
  private backendApi: BackendApiServer | undefined
  /** Teamgram's session service, status reports and registration (config teamgram). */
  teamgram: TeamgramServices | undefined
  private admin: AdminServer | undefined

  readonly store: AuthKeyStore
  readonly storeDescription: string
  readonly rsaKeys: RsaKeySet
  readonly router: RpcRouter
  readonly sessions: SessionManager
  readonly encrypted: EncryptedPath

  private constructor(
    readonly config: ServerConfig,
    private readonly sessionSide: SessionSide,
    private readonly gatewaySide: GatewaySide,
    private readonly log: Logger,
    private readonly clock: Clock,
  ) {
    this.store = sessionSide.store
    this.storeDescription = sessionSide.storeDescription
    this.rsaKeys = gatewaySide.rsaKeys
    this.router = sessionSide.router
    this.sessions = sessionSide.sessions
    this.encrypted = gatewaySide.encrypted
  }

  /** Builds everything and starts listening. Throws (after cleaning up) if a port cannot be bound. */
  static async start(config: ServerConfig, deps: ServerDeps = {}): Promise<MtgateServer> {
    const clock = deps.clock ?? systemClock
    const random = deps.random ?? secureRandom
    const log = deps.log ?? rootLogger
    const gatewayId = deps.gatewayId ?? `gw-${process.pid}`
    const metrics = config.admin === null ? undefined : new MtgateMetrics({ role: 'serve', node: gatewayId })
    const sessionSide = await SessionSide.open(config, {
      store: deps.store,
      clock,
      random,
      log,
      tickIntervalMs: deps.tickIntervalMs,
      countryOf: deps.countryOf,
      wrapStore: metrics && ((s) => metrics.instrumentStore(s)),
    })
    let gatewaySide: GatewaySide | undefined
    let backendApi: BackendApiServer | undefined
    let teamgram: TeamgramServices | undefined
    let server: MtgateServer | undefined
    // up before the listeners: /readyz answers 503 "starting" until they are bound
    const admin = metrics && config.admin !== null ? await AdminServer.start(config.admin, metrics, async () => (server === undefined ? 'starting' : server.readiness()), log) : undefined
    try {
      gatewaySide = GatewaySide.create({
        config,
        store: sessionSide.store,
        gatewayId,
        clock,
        transportClock: deps.transportClock,
        random,
        paddingRandom: deps.random,
        log,
        inlineHandshakeCrypto: deps.inlineHandshakeCrypto,
        wrapHandshakeCrypto: deps.wrapHandshakeCrypto,
        onKeyCreated: (fingerprint) => log.info({ fingerprint }, 'generated a new RSA key'),
      })
      gatewaySide.encrypted.attach(sessionSide.start(gatewaySide.encrypted))
      metrics?.observeSessions(sessionSide)
      if (config.backendApi !== null) backendApi = await serveBackendApi(config.backendApi, sessionSide.localBackendApi(gatewayId), log)
      teamgram = await TeamgramServices.start(config.teamgram, sessionSide.localBackendApi(gatewayId), log)
      const front = await gatewaySide.listen()
      metrics?.observeGateway(front, gatewaySide.encrypted)
      advertiseBoundPorts(config, front.addresses)
    } catch (e) {
      await admin?.close()
      await backendApi?.close()
      await teamgram?.close()
      await gatewaySide?.closeFront('start failed').catch(() => undefined)
      await gatewaySide?.close().catch(() => undefined)
      await sessionSide.close()
      throw e
    }
    server = new MtgateServer(config, sessionSide, gatewaySide, log, clock)
    server.backendApi = backendApi
    server.teamgram = teamgram
    server.admin = admin
    server.expireTimer = setInterval(() => void server.expireTempKeys(), config.limits.expireTempIntervalSeconds * 1000)
    server.expireTimer.unref()
    return server
  }

  /** Registers an RPC handler (see RpcRouter.handle). */
  handle<M extends MethodName>(method: M, handler: HandlerMap[M]): this {
    this.router.handle(method, handler)
    return this
  }

  /**
   * Pushes `updates` (an Updates object or its serialised bytes) to every live session of the target;
   * sessions without a connection queue it (bounded). Returns how many sessions got it.
   */
  push(target: PushTarget, updates: TlObject | Buffer): number {
    return this.sessionSide.push(target, Buffer.isBuffer(updates) ? updates : encode(updates))
  }

  /**
   * Creates session `sessionId` of the auth key unless it exists (Teamgram's session_createSession).
   * True when created, false when it existed; rejects with UnknownAuthKeyError for an unknown key.
   */
  createSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    return this.sessions.createSession(authKeyId, sessionId)
  }

  /** Forgets session `sessionId` of the auth key as destroy_session does; true if it existed. */
  closeSession(authKeyId: bigint, sessionId: bigint): boolean {
    return this.sessions.closeSession(authKeyId, sessionId)
  }

  /**
   * Removes expired temporary auth keys from the store (AuthKeyStore.expireTemp at the clock's
   * now); runs every limits.expireTempIntervalSeconds. One sweep at a time (a slow store is not
   * swept twice at once); a store failure is logged and the next sweep tries again. Returns how
   * many keys were removed.
   */
  expireTempKeys(): Promise<number> {
    this.expiring ??= this.sweep().finally(() => (this.expiring = undefined))
    return this.expiring
  }

  private async sweep(): Promise<number> {
    try {
      const n = await this.store.expireTemp(Math.floor(this.clock.now() / 1000))
      if (n > 0) this.log.info({ removed: n }, 'expired temporary auth keys removed')
      return n
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'expired temporary auth keys: store sweep failed')
      return 0
    }
  }

  /** RSA keys in the data dir, for the start-up banner. */
  rsaKeyInfo(): RsaKeyInfo[] {
    return this.rsaKeys.all().map((k) => {
      const fp = fingerprintHex(k.fingerprint)
      return { fingerprint: fp, publicKeyPath: join(this.config.dataDir, 'rsa', fp + '.pub'), retired: k.retired }
    })
  }

  get igeBackend(): string {
    return igeBackendReason ? `${igeBackend} (${igeBackendReason})` : igeBackend
  }

  /** host:port of the Mtgate service for backends (config backend_api); undefined when not served. */
  get backendApiAddress(): string | undefined {
    return this.backendApi?.address
  }

  /** host:port of Teamgram's session service (config teamgram.session_service); undefined when not served. */
  get teamgramSessionAddress(): string | undefined {
    return this.teamgram?.session.address
  }

  /** host and port of the admin HTTP port (config admin); undefined when off or not bound. */
  get adminAddress(): { host: string; port: number } | undefined {
    return this.admin?.address
  }

  /** /readyz: why this server is not ready (draining, the store not answering), or undefined. */
  readiness(): Promise<string | undefined> {
    if (this.stopping !== undefined) return Promise.resolve('draining')
    return storeAnswers(this.store)
  }

  /** The upstream bridge (config upstreams), undefined when none is configured. */
  get upstream(): UpstreamBridge | undefined {
    return this.sessionSide.upstream
  }

  /** Reads the TLS certificate files again (SIGHUP); throws, keeping the old certificate, on a bad file. */
  reloadTls(): void {
    this.gatewaySide.front.reloadTls()
  }

  get addresses(): ListenAddress[] {
    return this.gatewaySide.front.addresses
  }

  /** Closes every client connection (sessions stay; clients reconnect). Returns how many. */
  closeConnections(reason: string): number {
    return this.gatewaySide.front.closeConnections(reason)
  }

  get connectionCount(): number {
    return this.gatewaySide.front.connectionCount
  }

  /**
   * Drains and stops: no new connections, give in-flight RPCs up to limits.drainTimeoutMs, then
   * close every connection, stop the session layer and the handshake workers, close the store.
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop()
    return this.stopping
  }

  private async doStop(): Promise<void> {
    const t0 = Date.now()
    clearInterval(this.expireTimer)
    this.gatewaySide.front.refuseNew('server stopping')
    this.log.info({ connections: this.gatewaySide.front.connectionCount }, 'stopping: draining')
    await this.teamgram?.deregister()
    // New connections are refused from here on (refuseNew); RPCs already dispatched get up to
    // drainTimeoutMs to answer.
    await this.sessionSide.drainRpcs()
    await this.backendApi?.close()
    await this.teamgram?.close()
    await this.gatewaySide.closeFront('server stopping')
    this.sessionSide.stopSessions()
    await this.gatewaySide.close()
    await this.expiring // a sweep in progress finishes before the store closes
    await this.sessionSide.close()
    await this.admin?.close()
    this.log.info({ ms: Date.now() - t0 }, 'stopped')
  }
}

/** Default dc_options name the TCP listeners: one configured as port 0 advertises the port it was given. */
function advertiseBoundPorts(config: ServerConfig, bound: readonly ListenAddress[]): void {
  const tcp = bound.filter((a) => a.kind === 'tcp')
  for (const a of config.publicAddresses) {
    if (a.port === 0 && a.listener !== undefined) a.port = tcp[a.listener]?.port ?? 0
  }
}
