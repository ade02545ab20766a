/**
 * The session side of `mtgate serve` and of a cluster session node, built from config: the
 * auth-key store (the configured one, or one the caller provides), the RpcRouter with the
 * built-in methods, and the SessionManager behind a GatewayLink (the in-process EncryptedPath, or
 * the gRPC streams of the gateways). With `upstreams` configured, methods without a TypeScript
 * handler go to the upstream bridge (src/rpc/upstream.ts). With `tracing` configured, each call the
 * session layer dispatches is in a span (src/admin/tracing.ts).
 */
import { mkdirSync } from 'node:fs'
import { RpcTracing } from '../admin/tracing.js'
import type { ServerConfig } from '../config/types.js'
import type { RandomSource } from '../crypto/random.js'
import { registerBuiltins } from '../rpc/builtins.js'
import { RpcRouter } from '../rpc/router.js'
import type { BackendApiHost } from '../rpc/backend-api.js'
import { UpstreamBridge } from '../rpc/upstream.js'
import { UpstreamDiscoveryWatch } from './upstream-discovery.js'
import type { GatewayLink, PushTarget } from '../session/api.js'
import { SessionManager } from '../session/manager.js'
import { openConfiguredStore } from '../store/open.js'
import type { AuthKeyStore } from '../store/types.js'
import type { Clock } from '../util/clock.js'
import type { Logger } from '../util/log.js'

export type { PushTarget }

export interface SessionSideOptions {
  /** Use this store instead of opening the configured one; not closed by close(). */
  store?: AuthKeyStore
  clock: Clock
  random: RandomSource
  log: Logger
  /** Session-layer tick period (ms); default 1000. */
  tickIntervalMs?: number
  /** help.getNearestDc's country of a client address (BuiltinSettings.countryOf). */
  countryOf?: (ip: string) => string | undefined
  /** Wraps the store (given or opened) before anything uses it (metrics: timed operations). */
  wrapStore?: (s: AuthKeyStore) => AuthKeyStore
}

export class SessionSide {
  private manager: SessionManager | undefined
  /** Pushes asked of this process (metrics). */
  readonly stats = { pushes: 0 }

  private constructor(
    private readonly config: ServerConfig,
    private readonly o: SessionSideOptions,
    readonly store: AuthKeyStore,
    private readonly ownsStore: boolean,
    readonly storeDescription: string,
    readonly router: RpcRouter,
    /** The upstream bridge (the router's fallback), when upstreams are configured. */
    readonly upstream: UpstreamBridge | undefined,
    /** etcd discovery of the upstreams configured with it. */
    private readonly discovery: UpstreamDiscoveryWatch[],
    /** The RPC spans (config tracing), undefined when off. */
    readonly tracing: RpcTracing | undefined,
  ) {}

  /** Opens (or adopts) the store and builds the router. */
  static async open(config: ServerConfig, o: SessionSideOptions): Promise<SessionSide> {
    let store: AuthKeyStore
    let description: string
    if (o.store !== undefined) {
      store = o.store
      description = 'auth keys: provided by the caller'
    } else {
      mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
      const s = await openConfiguredStore(config.store, o.log, o.clock)
      store = s
      description = s.describe()
    }
    if (o.wrapStore !== undefined) store = o.wrapStore(store)
    const tracing = await RpcTracing.start(config.tracing, o.log)
    try {
      return await SessionSide.build(config, o, store, description, tracing)
    } catch (e) {
      await tracing?.shutdown()
      throw e
    }
  }

  private static async build(config: ServerConfig, o: SessionSideOptions, store: AuthKeyStore, description: string, tracing: RpcTracing | undefined): Promise<SessionSide> {
    const router = registerBuiltins(
      new RpcRouter({ unknownMethodError: config.unknownMethodError, log: o.log }),
      { publicAddresses: config.publicAddresses, telegram: config.telegram, countryOf: o.countryOf },
      o.clock,
      // a route naming a built-in method exactly gives it to its upstream; a prefix route does not
      new Set(config.upstream.routes.map((r) => r.prefix)),
    )
    let upstream: UpstreamBridge | undefined
    const discovery: UpstreamDiscoveryWatch[] = []
    if (config.upstream.upstreams.length > 0) {
      const bridge = new UpstreamBridge(config.upstream, { unknownMethodError: config.unknownMethodError, log: o.log, traceHeaders: tracing && ((call) => tracing.headersOf(call)) })
      router.setFallback((call) => bridge.dispatch(call))
      upstream = bridge
      for (const u of config.upstream.upstreams) {
        if (u.discovery !== undefined) discovery.push(new UpstreamDiscoveryWatch(u.name, u.discovery, (t) => bridge.setTargets(u.name, t), o.log))
      }
      // the first read before serving, so that the first calls find the instances
      await Promise.all(discovery.map((d) => d.start()))
    }
    return new SessionSide(config, o, store, o.store === undefined, description, router, upstream, discovery, tracing)
  }

  /** Builds the session layer on `link` and starts its tick. */
  start(link: GatewayLink): SessionManager {
    const { config, o } = this
    const allowed = new Set(config.apiIds)
    this.manager = new SessionManager({
      store: this.store,
      link,
      dispatcher: this.tracing === undefined ? this.router : this.tracing.dispatcher(this.router),
      clock: o.clock,
      random: o.random,
      log: o.log.child({ layer: 'session' }),
      allowApiId: allowed.size === 0 ? () => true : (id) => allowed.has(id),
      idleTimeoutMs: config.limits.sessionIdleSeconds * 1000,
      outboxMaxMessages: config.limits.pushQueueMax,
      expansion: { perPacket: config.limits.maxInflatedBytes, perSecond: config.limits.inflateBytesPerSecond },
      tickIntervalMs: o.tickIntervalMs,
    })
    this.manager.start()
    return this.manager
  }

  get sessions(): SessionManager {
    if (this.manager === undefined) throw new Error('SessionSide: not started')
    return this.manager
  }

  /** Pushes `body` to the target's sessions in this process; returns how many got it. */
  push(target: PushTarget, body: Buffer): number {
    this.stats.pushes++
    if ('userId' in target) return this.sessions.pushToUser(target.userId, body, target.exceptAuthKeyId)
    if (target.sessionId !== undefined) return this.sessions.pushToSession(target.authKeyId, target.sessionId, body)
    return this.sessions.pushToAuthKey(target.authKeyId, body)
  }

  /**
   * The Mtgate service's work on this process's sessions (`nodeId` names it in presence): pushes,
   * deferred results of this process's upstream calls, its online keys.
   */
  localBackendApi(nodeId: string): BackendApiHost {
    const presence = () => this.sessions.presence
    return {
      push: async (target, updates) => this.push(target, updates),
      pushRpcResult: async (k, reply) => this.upstream?.completeDeferred(k, reply) ?? false,
      online: async (userIds) => presence().keys(userIds).map((k) => ({ ...k, nodeId })),
      watch: (fn) => {
        const stop = presence().subscribe((c) => fn({ ...c, nodeId }))
        return { snapshot: presence().keys().map((k) => ({ ...k, nodeId })), stop }
      },
    }
  }

  /** Gives the RPCs in flight up to limits.drainTimeoutMs to answer, then one more turn of the event loop to be written out. */
  async drainRpcs(): Promise<void> {
    const deadline = Date.now() + this.config.limits.drainTimeoutMs
    while (this.router.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    if (this.router.inFlight > 0) this.o.log.warn({ inFlight: this.router.inFlight }, 'drain timeout: stopping with RPCs in flight')
    await new Promise((r) => setImmediate(r))
  }

  /** Stops the session layer (its tick). */
  stopSessions(): void {
    this.manager?.stop()
  }

  /** Stops the session layer and closes the store when it was opened here. */
  async close(): Promise<void> {
    this.stopSessions()
    for (const d of this.discovery) d.stop()
    this.upstream?.close()
    await this.tracing?.shutdown()
    if (this.ownsStore) await this.store.close().catch((e: unknown) => this.o.log.warn({ err: (e as Error).message }, 'store close failed'))
  }
}
