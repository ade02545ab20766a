/**
 * `mtgate session`: the session side (SessionSide: store, SessionManager, RpcRouter + built-ins)
 * behind the gRPC Session service, registered in etcd as role "session". The store calls of the
 * service are store-service.ts; the gateways' Connect streams, which carry the client messages and
 * are the session layer's GatewayLink, are gateway-streams.ts.
 *
 * Every session node keeps the same rendezvous ring as the gateways (over the registered session
 * nodes) to know who owns a key: CreateSession / CloseSession go to the owner, and keys the ring
 * moved away are forgotten here (see syncRing) so they start clean if they return. Pushes fan out to
 * every node (see push).
 */
import * as grpc from '@grpc/grpc-js'
import { MtgateMetrics } from '../admin/metrics.js'
import { AdminServer, membershipKnown, storeAnswers } from '../admin/server.js'
import { secureRandom, type RandomSource } from '../crypto/random.js'
import type { HandlerMap, MethodName, RpcRouter } from '../rpc/router.js'
import type { SessionManager } from '../session/manager.js'
import type { AuthKeyStore } from '../store/types.js'
import { encode, type TlObject } from '../tl/index.js'
import { systemClock, type Clock } from '../util/clock.js'
import { rootLogger, type Logger } from '../util/log.js'
import type { ClusterConfig } from '../config/cluster.js'
import { GatewayStreams } from './gateway-streams.js'
import { CHANNEL_OPTIONS, clientCredentials, deadline, startNodeServer, stopNodeServer, type NodeServer } from './grpc.js'
import { big, i64, protos, type PbBoolReply, type PbCountReply, type PbPushRequest, type PbSessionRequest, type SessionClient, type SessionServerImpl } from './proto.js'
import { nodeRegistry, type Registry } from './registry.js'
import { ClusterBackendApi } from './backend-api-host.js'
import { mtgateService } from '../rpc/backend-api.js'
import { TeamgramServices } from './teamgram-services.js'
import { upstreamProto } from '../rpc/upstream-proto.js'
import type { UpstreamBridge } from '../rpc/upstream.js'
import { RendezvousRing } from './ring.js'
import { SessionSide, type PushTarget } from './session-side.js'
import { storeService, unaryHandler } from './store-service.js'

export interface SessionNodeDeps {
  clock?: Clock
  random?: RandomSource
  log?: Logger
  /** Use this store instead of the configured one (tests); not closed by stop(). */
  store?: AuthKeyStore
  /** Session-layer tick period (ms); default 1000. */
  tickIntervalMs?: number
  /** Registry loop period (ms); default lease_ttl/3. */
  registryIntervalMs?: number
  /**
   * How long after a membership change keys this node no longer owns are kept before they are
   * forgotten (default 5000 ms): the gateways move their traffic once they see the change (their own
   * etcd watch, then the new node's stream coming up); until then messages may still arrive here.
   */
  movedKeyGraceMs?: number
}

/** Default of SessionNodeDeps.movedKeyGraceMs. */
export const MOVED_KEY_GRACE_MS = 5000
/** Sweeps after one ring change while foreign keys are still active here. */
const MAX_MOVED_SWEEPS = 10

export type { PushTarget }

export class SessionNode {
  private draining = false
  private stopping: Promise<void> | undefined
  private admin: AdminServer | undefined
  private readonly peers = new Map<string, { address: string; client: SessionClient }>()
  /** Rendezvous ring over the registered session nodes (self included): who owns which key. */
  readonly ring = new RendezvousRing()
  private movedTimer: NodeJS.Timeout | undefined
  private readonly movedKeyGraceMs: number
  /** When the ring last changed (clock ms), and how many sweeps ran since. */
  private ringChangedAt = 0
  private movedSweeps = 0
  private readonly clock: Clock
  readonly stats = { movedKeysDropped: 0, movedSessionsDropped: 0, forwarded: 0 }
  /** The Mtgate service's work (for backends) across the cluster. */
  readonly backendApi: ClusterBackendApi
  /** Open WatchPresence streams (ended when the node stops). */
  readonly watchStreams = new Set<() => void>()
  /** Teamgram's session.RPCSession, status reports and registration (config teamgram), over backendApi. */
  teamgram: TeamgramServices | undefined

  readonly store: AuthKeyStore
  readonly router: RpcRouter
  readonly sessions: SessionManager
  /** The advertised gRPC address (with the bound port). */
  readonly address: string

  private constructor(
    readonly config: ClusterConfig,
    readonly nodeId: string,
    private readonly side: SessionSide,
    readonly link: GatewayStreams,
    readonly registry: Registry,
    private readonly grpc: NodeServer,
    private readonly log: Logger,
    movedKeyGraceMs: number,
    clock: Clock,
  ) {
    this.store = side.store
    this.router = side.router
    this.sessions = side.sessions
    this.address = grpc.address
    this.movedKeyGraceMs = movedKeyGraceMs
    this.clock = clock
    this.ring.set([nodeId])
    this.backendApi = new ClusterBackendApi({
      nodeId,
      local: side.localBackendApi(nodeId),
      push: (target, body) => this.routePush(target, body),
      peers: () => new Map([...this.peers].map(([id, p]) => [id, p.address])),
      owner: (authKeyId) => this.ring.owner(authKeyId) ?? nodeId,
      tls: config.cluster.tls,
      callTimeoutMs: config.cluster.callTimeoutMs,
      log,
    })
  }

  static async start(config: ClusterConfig, deps: SessionNodeDeps = {}): Promise<SessionNode> {
    const { server: sc, cluster: cc } = config
    const clock = deps.clock ?? systemClock
    const random = deps.random ?? secureRandom
    const log = (deps.log ?? rootLogger).child({ node: cc.nodeId, role: 'session' })
    const metrics = sc.admin === null ? undefined : new MtgateMetrics({ role: 'session', node: cc.nodeId })
    const side = await SessionSide.open(sc, { store: deps.store, clock, random, log, tickIntervalMs: deps.tickIntervalMs, wrapStore: metrics && ((s) => metrics.instrumentStore(s)) })
    let node: SessionNode | undefined
    let admin: AdminServer | undefined
    const link = new GatewayStreams({
      log: log.child({ mod: 'link' }),
      maxQueued: cc.streamQueueMax,
      onConnectionClosed: (keys) => {
        for (const k of keys) node?.dropIfMoved(k)
      },
    })
    let grpc: NodeServer
    try {
      if (metrics && sc.admin !== null) admin = await AdminServer.start(sc.admin, metrics, async () => (node === undefined ? 'starting' : node.readiness()), log)
      link.attach(side.start(link))
      metrics?.observeSessions(side)
      grpc = await startNodeServer(cc, ['mtgate.session.v1.Session', 'mtgate.upstream.v1.Mtgate'])
    } catch (e) {
      await admin?.close()
      await side.close()
      throw e
    }
    const registry = nodeRegistry(cc, 'session', grpc.address, log, deps.registryIntervalMs)
    metrics?.status.observeMembership(registry)
    node = new SessionNode(config, cc.nodeId, side, link, registry, grpc, log, deps.movedKeyGraceMs ?? MOVED_KEY_GRACE_MS, clock)
    const n = node
    n.admin = admin
    grpc.server.addService(protos().session, n.impl())
    grpc.server.addService(upstreamProto().mtgate, mtgateService(n.backendApi, log, n.watchStreams, n.backendApi.local))
    n.teamgram = await TeamgramServices.start(sc.teamgram, n.backendApi, log)
    grpc.health.set('SERVING')
    registry.on('change', () => {
      n.syncPeers()
      n.syncRing()
    })
    await registry.start()
    log.info({ address: grpc.address, etcd: registry.etcdReachable }, 'session node started')
    return n
  }

  /** Registers an RPC handler (see RpcRouter.handle). */
  handle<M extends MethodName>(method: M, handler: HandlerMap[M]): this {
    this.router.handle(method, handler)
    return this
  }

  /**
   * Pushes `updates` to every live session of the target in the cluster. Resolves how many sessions
   * got it; a peer that fails is logged and counted as 0.
   *
   * Both kinds of push fan out to every node, on purpose:
   * - a user's keys are spread over the nodes by auth_key_id, and no node knows which are the user's;
   * - an auth key's sessions include those of temp keys bound to it (PFS clients: TDLib, Telegram
   *   Android), and the gateways place a temp key by its own id, so those sessions usually live on
   *   another node than the permanent key's owner. Sending only to the owner would miss them.
   * A node holding nothing for the target answers 0 from memory; the cost is one call per node.
   */
  async push(target: PushTarget, updates: TlObject | Buffer): Promise<number> {
    return this.routePush(target, Buffer.isBuffer(updates) ? updates : encode(updates))
  }

  private async routePush(target: PushTarget, body: Buffer): Promise<number> {
    const req = pushRequest(target, body)
    const results = await Promise.all([this.side.push(target, body), ...[...this.peers.keys()].map((id) => this.pushTo(id, req))])
    return results.reduce<number>((a, b) => a + (b ?? 0), 0)
  }

  /** Push to one peer's sessions; undefined when the peer failed (logged: its sessions missed it). */
  private pushTo(peerId: string, req: PbPushRequest): Promise<number | undefined> {
    const p = this.peers.get(peerId)
    if (!p) {
      this.log.warn({ peer: peerId }, 'push: no client for this node; its sessions missed this push')
      return Promise.resolve(undefined)
    }
    return new Promise<number | undefined>((resolve) => {
      p.client.Push(req, new grpc.Metadata(), { deadline: deadline(this.config.cluster.callTimeoutMs) }, (err, res?: PbCountReply) => {
        if (err) {
          this.log.warn({ peer: peerId, err: err.message }, 'push: peer failed; its sessions missed this push')
          resolve(undefined)
        } else resolve(Number(res?.count ?? 0))
      })
    })
  }

  // ------------------------------------------------------------------ session control

  /**
   * Creates session `sessionId` of the key on the node owning it (this one, or the owner through one
   * forwarded CreateSession call). True when created, false when it existed; rejects with
   * UnknownAuthKeyError (NOT_FOUND over gRPC) for an unknown key.
   */
  createSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    return this.sessionControl('CreateSession', { authKeyId: i64(authKeyId), sessionId: i64(sessionId), forwarded: false })
  }

  /** Forgets session `sessionId` of the key on the node owning it (as destroy_session). True if it existed. */
  closeSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    return this.sessionControl('CloseSession', { authKeyId: i64(authKeyId), sessionId: i64(sessionId), forwarded: false })
  }

  /**
   * Runs a session control call here when this node owns the key (or the call was forwarded to us),
   * else forwards it to the owner; when the owner is unreachable (dead, its lease not expired yet)
   * to the next node in the key's preference order, as the gateways route its traffic then.
   */
  private async sessionControl(name: 'CreateSession' | 'CloseSession', req: PbSessionRequest): Promise<boolean> {
    const authKeyId = big(req.authKeyId)
    const sessionId = big(req.sessionId)
    const local = (): Promise<boolean> | boolean =>
      name === 'CreateSession' ? this.sessions.createSession(authKeyId, sessionId) : this.sessions.closeSession(authKeyId, sessionId)
    if (req.forwarded) return local()
    let last: Error | undefined
    for (const id of this.ring.preference(authKeyId).slice(0, 2)) {
      if (id === this.nodeId) return local()
      const p = this.peers.get(id)
      if (!p) continue
      this.stats.forwarded++
      try {
        const rep = await new Promise<PbBoolReply>((resolve, reject) => {
          p.client[name]({ ...req, forwarded: true }, new grpc.Metadata(), { deadline: deadline(this.config.cluster.callTimeoutMs) }, (err, res) => (err ? reject(err) : resolve(res!)))
        })
        return rep.value
      } catch (e) {
        last = e as Error
        const code = (e as grpc.ServiceError).code
        if (code !== grpc.status.UNAVAILABLE && code !== grpc.status.DEADLINE_EXCEEDED) throw e
        this.log.warn({ call: name, peer: id, err: last.message }, 'session control: owner unreachable; trying the next node for the key')
      }
    }
    if (last) throw last
    return local()
  }

  // ------------------------------------------------------------------ moved keys

  /**
   * The registry changed: recompute the ring (self always in it while serving) and, when keys loaded
   * here now belong to another node, forget them once the gateways have moved their traffic.
   *
   * Order: the gateways learn the change from etcd too and route a key to its new owner once that
   * node's stream is up; messages already on the way (or sent by a gateway that has not caught up)
   * still arrive here meanwhile. So the sweep runs movedKeyGraceMs after the change and keeps a key
   * that had a message since the change (a gateway still routes it here); such keys are looked at
   * again after another grace period (up to MAX_MOVED_SWEEPS times).
   */
  private syncRing(): void {
    const ids = this.registry.members('session').map((m) => m.id)
    if (!this.draining && !ids.includes(this.nodeId)) ids.push(this.nodeId)
    const before = this.ring.members.join(',')
    this.ring.set(ids)
    if (this.ring.members.join(',') === before) return
    this.log.info({ ring: this.ring.members }, 'ring changed')
    if (this.draining) return
    this.ringChangedAt = this.clock.now()
    this.movedSweeps = 0
    this.scheduleMovedSweep()
  }

  private scheduleMovedSweep(): void {
    if (this.movedTimer) clearTimeout(this.movedTimer)
    this.movedTimer = setTimeout(() => {
      this.movedTimer = undefined
      const { kept } = this.dropMovedKeys()
      if (kept > 0 && ++this.movedSweeps < MAX_MOVED_SWEEPS && !this.draining) {
        this.ringChangedAt = this.clock.now()
        this.scheduleMovedSweep()
      }
    }, this.movedKeyGraceMs)
    this.movedTimer.unref()
  }

  /**
   * A gateway closed a connection here (the client left, or the gateway moved the key to its new
   * owner: it tells the old one so). A key the ring gives to another node and that has no
   * connection left here is forgotten at once: no gateway sends it here any more, and a copy kept
   * would be stale if the key came back (say its new owner dies soon after).
   */
  private dropIfMoved(authKeyId: bigint): void {
    if (this.draining || this.ring.owner(authKeyId) === this.nodeId) return
    const n = this.sessions.forgetKeyIfDisconnected(authKeyId)
    if (n === undefined) return
    this.stats.movedKeysDropped++
    this.stats.movedSessionsDropped += n
    this.log.info({ authKeyId: authKeyId.toString(), sessions: n }, 'key moved to another session node and its last connection left: sessions here dropped')
  }

  /**
   * Forgets the keys (sessions, outboxes, state) the ring assigns to other nodes, unless a gateway
   * still sends them here (a message since the last ring change and a connection attached);
   * `kept` counts those.
   */
  dropMovedKeys(): { keys: number; sessions: number; kept: number } {
    let kept = 0
    const r = this.sessions.forgetKeys((id, lastActiveMs, connected) => {
      if (this.ring.owner(id) === this.nodeId) return true
      if (connected && lastActiveMs >= this.ringChangedAt) {
        kept++
        return true
      }
      return false
    })
    this.stats.movedKeysDropped += r.keys
    this.stats.movedSessionsDropped += r.sessions
    if (r.keys > 0 || kept > 0) this.log.info({ keys: r.keys, sessions: r.sessions, stillActive: kept, ring: this.ring.members }, 'keys moved to other session nodes: their sessions here dropped')
    return { ...r, kept }
  }

  private syncPeers(): void {
    const live = new Map(this.registry.members('session').filter((m) => m.id !== this.nodeId).map((m) => [m.id, m.address]))
    for (const [id, p] of this.peers) {
      if (live.get(id) !== p.address) {
        p.client.close()
        this.peers.delete(id)
      }
    }
    const { SessionClient } = protos()
    for (const [id, address] of live) {
      if (!this.peers.has(id)) this.peers.set(id, { address, client: new SessionClient(address, clientCredentials(this.config.cluster.tls), CHANNEL_OPTIONS) })
    }
  }

  private impl(): SessionServerImpl {
    const unary = unaryHandler(this.log)
    return {
      ...storeService(this.store, (id) => this.sessions.queryAuthKey(id), unary),
      CreateSession: unary('CreateSession', async (req: PbSessionRequest) => ({ value: await this.sessionControl('CreateSession', req) })),
      CloseSession: unary('CloseSession', async (req: PbSessionRequest) => ({ value: await this.sessionControl('CloseSession', req) })),
      Push: unary('Push', async (req: PbPushRequest) => {
        const target = pushTarget(req)
        const n = req.fanOut ? await this.routePush(target, req.body) : this.side.push(target, req.body)
        return { count: String(n) }
      }),
      Connect: (call) => this.link.accept(call),
    }
  }

  /** The upstream bridge (config upstreams), undefined when none is configured. */
  get upstream(): UpstreamBridge | undefined {
    return this.side.upstream
  }

  /** host and port of the admin HTTP port (config admin); undefined when off or not bound. */
  get adminAddress(): { host: string; port: number } | undefined {
    return this.admin?.address
  }

  /** /readyz: why this node is not ready (draining, no membership, the store not answering), or undefined. */
  async readiness(): Promise<string | undefined> {
    if (this.draining) return 'draining'
    return membershipKnown(this.registry, false) ?? storeAnswers(this.store)
  }

  /** Live gateway streams (tests, metrics). */
  get gatewayCount(): number {
    return this.link.size
  }

  /**
   * Graceful drain: leave etcd (gateways stop routing here), say Goodbye on every stream, give
   * in-flight RPCs up to limits.drainTimeoutMs, flush answers, end the streams, stop.
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop()
    return this.stopping
  }

  private async doStop(): Promise<void> {
    const t0 = Date.now()
    this.draining = true
    this.grpc.health.set('NOT_SERVING')
    this.log.info({ gateways: this.link.size }, 'session node draining')
    // Goodbye first (gateways route around us at once), then leave etcd.
    this.link.goodbye(this.nodeId)
    await this.registry.deregister()
    await this.teamgram?.deregister()
    // Messages the gateways sent before they read the Goodbye are still on the way: take them.
    await new Promise((r) => setTimeout(r, 250))
    await this.side.drainRpcs()
    await this.link.flush(1000)
    this.link.endAll('session node stopping')
    for (const end of [...this.watchStreams]) end()
    await this.teamgram?.close()
    await stopNodeServer(this.grpc)
    this.backendApi.close()
    this.side.stopSessions()
    if (this.movedTimer) clearTimeout(this.movedTimer)
    await this.registry.stop()
    for (const p of this.peers.values()) p.client.close()
    this.peers.clear()
    await this.side.close()
    await this.admin?.close()
    this.log.info({ ms: Date.now() - t0 }, 'session node stopped')
  }
}

/** A push to a peer node's own sessions (fan_out false). */
function pushRequest(target: PushTarget, body: Buffer): PbPushRequest {
  return 'userId' in target
    ? { userId: i64(target.userId), exceptAuthKeyId: i64(target.exceptAuthKeyId ?? 0n), sessionId: '0', body, fanOut: false }
    : { authKeyId: i64(target.authKeyId), sessionId: i64(target.sessionId ?? 0n), exceptAuthKeyId: '0', body, fanOut: false }
}

function pushTarget(req: PbPushRequest): PushTarget {
  if (req.authKeyId !== undefined && req.authKeyId !== null) {
    const sessionId = big(req.sessionId || '0')
    return sessionId === 0n ? { authKeyId: big(req.authKeyId) } : { authKeyId: big(req.authKeyId), sessionId }
  }
  const except = big(req.exceptAuthKeyId || '0')
  return except === 0n ? { userId: big(req.userId) } : { userId: big(req.userId), exceptAuthKeyId: except }
}
