/**
 * The composition root of `mtgate serve`: one process holding the auth-key store, the RSA keys and
 * handshake, the session layer, RPC routing, the gateway (handshake + encrypted path) and the
 * TCP / WebSocket listeners. start → serve → stop (drain).
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { igeBackend, igeBackendReason } from '../crypto/ige.js'
import { secureRandom, type RandomSource } from '../crypto/random.js'
import type { ServerConfig } from '../config/types.js'
import { CryptoPool } from '../handshake/crypto-pool.js'
import { InlineCrypto, type HandshakeCrypto } from '../handshake/crypto-backend.js'
import { fingerprintHex } from '../handshake/rsa-key.js'
import { createKeyFile, loadKeySet, type RsaKeySet } from '../handshake/rsa-keyset.js'
import { HandshakeService } from '../handshake/server.js'
import { GatewayFront, type ListenAddress } from '../gateway/front.js'
import { registerBuiltins } from '../rpc/builtins.js'
import { RpcRouter, type HandlerMap, type MethodName } from '../rpc/router.js'
import { SessionManager } from '../session/manager.js'
import { openConfiguredStore } from './store.js'
import type { AuthKeyStore } from '../store/types.js'
import { encode, type TlObject } from '../tl/index.js'
import { systemClock, type Clock } from '../util/clock.js'
import { rootLogger, type Logger } from '../util/log.js'
import { EncryptedPath } from '../gateway/encrypted.js'

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
}

export type { ListenAddress }

export interface RsaKeyInfo {
  fingerprint: string
  publicKeyPath: string
  retired: boolean
}

/** Where a push goes: every session of an auth key, or of every auth key bound to a user id. */
export type PushTarget = { authKeyId: bigint } | { userId: bigint }

export class MtgateServer {
  private stopping: Promise<void> | undefined
  private expireTimer: NodeJS.Timeout | undefined
  private expiring: Promise<number> | undefined

  private constructor(
    readonly config: ServerConfig,
    readonly store: AuthKeyStore,
    private readonly ownsStore: boolean,
    readonly storeDescription: string,
    readonly rsaKeys: RsaKeySet,
    private readonly handshakeCrypto: HandshakeCrypto & { close?: () => unknown },
    private readonly handshake: HandshakeService,
    readonly router: RpcRouter,
    readonly sessions: SessionManager,
    readonly encrypted: EncryptedPath,
    private readonly front: GatewayFront,
    private readonly log: Logger,
    private readonly clock: Clock,
  ) {}

  /** Builds everything and starts listening. Throws (after cleaning up) if a port cannot be bound. */
  static async start(config: ServerConfig, deps: ServerDeps = {}): Promise<MtgateServer> {
    const clock = deps.clock ?? systemClock
    const random = deps.random ?? secureRandom
    const log = deps.log ?? rootLogger
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })

    let rsaKeys = loadKeySet(config.dataDir)
    if (rsaKeys.offered().length === 0) {
      const k = createKeyFile(config.dataDir)
      log.info({ fingerprint: fingerprintHex(k.fingerprint) }, 'generated a new RSA key')
      rsaKeys = loadKeySet(config.dataDir)
    }

    let store: AuthKeyStore
    let storeDescription: string
    const ownsStore = deps.store === undefined
    if (deps.store !== undefined) {
      store = deps.store
      storeDescription = 'auth keys: provided by the caller'
    } else {
      const s = await openConfiguredStore(config.store, log, clock)
      store = s
      storeDescription = s.describe()
    }

    const cleanup: (() => unknown)[] = []
    try {
      const baseCrypto: HandshakeCrypto = deps.inlineHandshakeCrypto ? new InlineCrypto(rsaKeys, random) : new CryptoPool(rsaKeys)
      const handshakeCrypto: HandshakeCrypto = deps.wrapHandshakeCrypto ? deps.wrapHandshakeCrypto(baseCrypto) : baseCrypto
      cleanup.push(() => handshakeCrypto.close?.())
      const handshake = new HandshakeService({
        keys: rsaKeys,
        crypto: handshakeCrypto,
        store,
        dcId: config.dcId,
        testMode: config.telegram.testMode,
        clock,
        random,
        log: log.child({ mod: 'handshake' }),
      })
      cleanup.push(() => handshake.close())
      void handshake.warmUp()

      const router = registerBuiltins(
        new RpcRouter({ unknownMethodError: config.unknownMethodError, log }),
        { dcId: config.dcId, publicAddresses: config.publicAddresses, telegram: config.telegram },
        clock,
      )
      const gatewayId = deps.gatewayId ?? `gw-${process.pid}`
      const encrypted = new EncryptedPath({
        gatewayId,
        clock,
        log: log.child({ mod: 'gateway' }),
        cacheSize: config.limits.authKeyCacheSize,
        random: deps.random,
      })
      const allowed = new Set(config.apiIds)
      const sessions = new SessionManager({
        store,
        link: encrypted,
        dispatcher: router,
        clock,
        random,
        log: log.child({ layer: 'session' }),
        allowApiId: allowed.size === 0 ? () => true : (id) => allowed.has(id),
        idleTimeoutMs: config.limits.sessionIdleSeconds * 1000,
        outboxMaxMessages: config.limits.pushQueueMax,
        tickIntervalMs: deps.tickIntervalMs,
      })
      encrypted.attach(sessions)
      sessions.start()
      cleanup.push(() => sessions.stop())
      const front = await GatewayFront.listen({
        handshake,
        encrypted,
        host: config.host,
        tcpPorts: config.tcpPorts,
        wsPort: config.wsPort,
        wsPath: config.wsPath,
        maxFrameBytes: config.limits.maxFrameBytes,
        maxConnections: config.limits.maxConnections,
        clock,
        transportClock: deps.transportClock,
        random,
        log,
      })
      cleanup.push(() => front.closeListeners())
      const server = new MtgateServer(
        config,
        store,
        ownsStore,
        storeDescription,
        rsaKeys,
        handshakeCrypto,
        handshake,
        router,
        sessions,
        encrypted,
        front,
        log,
        clock,
      )
      server.expireTimer = setInterval(() => void server.expireTempKeys(), config.limits.expireTempIntervalSeconds * 1000)
      server.expireTimer.unref()
      return server
    } catch (e) {
      for (const f of cleanup.reverse()) {
        try {
          await f()
        } catch {
          // best effort
        }
      }
      if (ownsStore) await store.close().catch(() => undefined)
      throw e
    }
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
    const body = Buffer.isBuffer(updates) ? updates : encode(updates)
    return 'authKeyId' in target ? this.sessions.pushToAuthKey(target.authKeyId, body) : this.sessions.pushToUser(target.userId, body)
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

  get addresses(): ListenAddress[] {
    return this.front.addresses
  }

  /** Closes every client connection (sessions stay; clients reconnect). Returns how many. */
  closeConnections(reason: string): number {
    return this.front.closeConnections(reason)
  }

  get connectionCount(): number {
    return this.front.connectionCount
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
    this.front.refuseNew('server stopping')
    this.log.info({ connections: this.front.connectionCount }, 'stopping: draining')
    // New connections are refused from here on (refuseNew); RPCs already dispatched get up to
    // drainTimeoutMs to answer, and one more turn of the event loop to be written out.
    const deadline = Date.now() + this.config.limits.drainTimeoutMs
    while (this.router.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    if (this.router.inFlight > 0) this.log.warn({ inFlight: this.router.inFlight }, 'drain timeout: closing with RPCs in flight')
    await new Promise((r) => setImmediate(r))
    this.front.closeConnections('server stopping')
    await this.front.closeListeners()
    this.sessions.stop()
    this.handshake.close()
    await this.handshakeCrypto.close?.()
    await this.expiring // a sweep in progress finishes before the store closes
    if (this.ownsStore) await this.store.close().catch((e) => this.log.warn({ err: e }, 'store close failed'))
    this.log.info({ ms: Date.now() - t0 }, 'stopped')
  }
}
