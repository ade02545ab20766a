/**
 * `mtgate session`: the session layer (SessionManager), RPC routing (RpcRouter + built-ins) and the
 * auth-key store behind the gRPC Session service, registered in etcd as role "session".
 *
 * Gateways open one Connect stream each; their messages go to SessionManager.sendData with the
 * connection id made cluster-unique as "<gatewayId>#<connId>", and GatewayStreams (the GatewayLink
 * of this process) sends answers back over the stream of the gateway named in that id.
 *
 * Every session node keeps the same rendezvous ring as the gateways (over the registered session
 * nodes) to know who owns a key: CreateSession / CloseSession go to the owner, and keys the ring
 * moved away are forgotten here (see syncRing) so they start clean if they return. Pushes fan out to
 * every node (see push).
 */
import * as grpc from '@grpc/grpc-js'
import { mkdirSync } from 'node:fs'
import { secureRandom, type RandomSource } from '../crypto/random.js'
import { registerBuiltins } from '../rpc/builtins.js'
import { RpcRouter, type HandlerMap, type MethodName } from '../rpc/router.js'
import type { GatewayLink, OutboundMessage } from '../session/api.js'
import { SessionManager, UnknownAuthKeyError } from '../session/manager.js'
import { openConfiguredStore } from '../server/store.js'
import { StoreError, type AuthKeyStore, type AuthKeyType } from '../store/types.js'
import { encode, type TlObject } from '../tl/index.js'
import { systemClock, type Clock } from '../util/clock.js'
import { drainOnSignal } from './drain.js'
import { rootLogger, type Logger } from '../util/log.js'
import type { ClusterConfig } from '../config/cluster.js'
import { FrameWriter } from './frame-writer.js'
import { bindServer, CHANNEL_OPTIONS, clientCredentials, deadline, GATEWAY_ID_HEADER, HealthService, SERVER_OPTIONS, serverCredentials, withPort } from './grpc.js'
import {
  big,
  fromPbState,
  i64,
  pbState,
  protos,
  type PbAuthKey,
  type PbBoolReply,
  type PbCountReply,
  type PbPushRequest,
  type PbSessionRequest,
  type SessionClient,
  type SessionServerImpl,
} from './proto.js'
import { nodeRegistry, type Registry } from './registry.js'
import { RendezvousRing } from './ring.js'
import type { WireGatewayFrame, WireSessionFrame, WireSessionItem } from './wire.js'

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

/** Where a push goes: every session of an auth key, or of every auth key bound to a user id. */
export type PushTarget = { authKeyId: bigint } | { userId: bigint }

const SEP = '#'

/** "<gatewayId>#<connId>": the connection id the session layer sees. */
export function clusterConnId(gatewayId: string, connId: string): string {
  return gatewayId + SEP + connId
}

interface GatewayStream {
  gatewayId: string
  call: grpc.ServerDuplexStream<WireGatewayFrame, WireSessionFrame>
  writer: FrameWriter<WireSessionItem>
  /** The connections seen on this stream and not closed yet: the gateway's id → the cluster id. */
  conns: Map<string, string>
  ended: boolean
}

/** The GatewayLink of a session node: answers go back over the stream of the connection's gateway. */
export class GatewayStreams implements GatewayLink {
  readonly streams = new Map<string, GatewayStream>()
  readonly stats = { sent: 0, dropped: 0 }

  constructor(private readonly log: Logger) {}

  /** The last cluster connection id sent to, split (answers come in runs per connection). */
  private lastId = ''
  private lastGateway = ''
  private lastConn = ''

  send(connId: string, out: OutboundMessage): void {
    if (connId !== this.lastId) {
      const i = connId.indexOf(SEP)
      this.lastId = connId
      this.lastGateway = i > 0 ? connId.slice(0, i) : ''
      this.lastConn = connId.slice(i + 1)
    }
    const st = this.lastGateway === '' ? undefined : this.streams.get(this.lastGateway)
    if (st === undefined || st.ended) {
      this.stats.dropped++
      this.log.debug({ conn: connId }, 'send: the gateway has no stream to this node; dropped')
      return
    }
    const ok = st.writer.push({
      send: {
        connId: this.lastConn,
        authKeyId: out.authKeyId,
        salt: out.salt,
        sessionId: out.sessionId,
        msgId: out.msgId,
        seqNo: out.seqNo,
        body: out.body,
      },
    })
    if (ok) this.stats.sent++
    else {
      this.stats.dropped++
      this.log.warn({ conn: connId, queued: st.writer.queued }, 'send: stream queue to the gateway is full; message dropped')
    }
  }

  closeConnection(connId: string, reason: string): void {
    const i = connId.indexOf(SEP)
    const st = i > 0 ? this.streams.get(connId.slice(0, i)) : undefined
    if (st === undefined || st.ended) return
    if (!st.writer.push({ close: { connId: connId.slice(i + 1), reason } })) {
      this.log.warn({ conn: connId }, 'closeConnection: stream queue to the gateway is full; close dropped')
    }
  }
}

function toStoreCode(e: unknown): grpc.status {
  if (e instanceof UnknownAuthKeyError) return grpc.status.NOT_FOUND
  // a forwarded call's gRPC status passes through
  const c = (e as { code?: unknown }).code
  if (typeof c === 'number') return c
  if (e instanceof StoreError) return e.code === 'unavailable' ? grpc.status.UNAVAILABLE : e.code === 'invalid' ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL
  return grpc.status.INTERNAL
}

export class SessionNode {
  private draining = false
  private stopping: Promise<void> | undefined
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

  private constructor(
    readonly config: ClusterConfig,
    readonly nodeId: string,
    /** The advertised gRPC address (with the bound port). */
    readonly address: string,
    readonly store: AuthKeyStore,
    private readonly ownsStore: boolean,
    readonly router: RpcRouter,
    readonly sessions: SessionManager,
    readonly link: GatewayStreams,
    readonly registry: Registry,
    private readonly server: grpc.Server,
    private readonly health: HealthService,
    private readonly log: Logger,
    movedKeyGraceMs: number,
    clock: Clock,
  ) {
    this.movedKeyGraceMs = movedKeyGraceMs
    this.clock = clock
    this.ring.set([nodeId])
  }

  static async start(config: ClusterConfig, deps: SessionNodeDeps = {}): Promise<SessionNode> {
    const { server: sc, cluster: cc } = config
    const clock = deps.clock ?? systemClock
    const random = deps.random ?? secureRandom
    const log = (deps.log ?? rootLogger).child({ node: cc.nodeId, role: 'session' })
    let store: AuthKeyStore
    const ownsStore = deps.store === undefined
    if (deps.store) store = deps.store
    else {
      mkdirSync(sc.dataDir, { recursive: true, mode: 0o700 })
      store = await openConfiguredStore(sc.store, log, clock)
    }
    const router = registerBuiltins(
      new RpcRouter({ unknownMethodError: sc.unknownMethodError, log }),
      { dcId: sc.dcId, publicAddresses: sc.publicAddresses, telegram: sc.telegram },
      clock,
    )
    const link = new GatewayStreams(log.child({ mod: 'link' }))
    const allowed = new Set(sc.apiIds)
    const sessions = new SessionManager({
      store,
      link,
      dispatcher: router,
      clock,
      random,
      log: log.child({ layer: 'session' }),
      allowApiId: allowed.size === 0 ? () => true : (id) => allowed.has(id),
      idleTimeoutMs: sc.limits.sessionIdleSeconds * 1000,
      outboxMaxMessages: sc.limits.pushQueueMax,
      tickIntervalMs: deps.tickIntervalMs,
    })
    const server = new grpc.Server(SERVER_OPTIONS)
    const health = new HealthService(['mtgate.session.v1.Session'])
    health.addTo(server)
    let port: number
    try {
      port = await bindServer(server, cc.listen, serverCredentials(cc.tls))
    } catch (e) {
      if (ownsStore) await store.close().catch(() => undefined)
      throw e
    }
    const address = cc.advertise.endsWith(':0') ? withPort(cc.advertise, port) : cc.advertise
    const registry = nodeRegistry(cc, 'session', address, log, deps.registryIntervalMs)
    const node = new SessionNode(config, cc.nodeId, address, store, ownsStore, router, sessions, link, registry, server, health, log, deps.movedKeyGraceMs ?? MOVED_KEY_GRACE_MS, clock)
    server.addService(protos().session, node.impl())
    sessions.start()
    health.set('SERVING')
    registry.on('change', () => {
      node.syncPeers()
      node.syncRing()
    })
    await registry.start()
    log.info({ address, etcd: registry.etcdReachable }, 'session node started')
    return node
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
    const body = Buffer.isBuffer(updates) ? updates : encode(updates)
    return this.routePush(target, body)
  }

  private pushLocal(target: PushTarget, body: Buffer): number {
    return 'authKeyId' in target ? this.sessions.pushToAuthKey(target.authKeyId, body) : this.sessions.pushToUser(target.userId, body)
  }

  private async routePush(target: PushTarget, body: Buffer): Promise<number> {
    const req: PbPushRequest = 'authKeyId' in target ? { authKeyId: i64(target.authKeyId), body, fanOut: false } : { userId: i64(target.userId), body, fanOut: false }
    const results = await Promise.all([this.pushLocal(target, body), ...[...this.peers.keys()].map((id) => this.pushTo(id, req))])
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

  private unary<Req, Res>(name: string, f: (req: Req) => Promise<Res> | Res): grpc.handleUnaryCall<Req, Res> {
    return (call, cb) => {
      Promise.resolve()
        .then(() => f(call.request))
        .then(
          (res) => cb(null, res),
          (e: unknown) => {
            this.log.warn({ call: name, err: (e as Error).message }, 'unary call failed')
            cb({ code: toStoreCode(e), details: (e as Error).message })
          },
        )
    }
  }

  private impl(): SessionServerImpl {
    const s = this.store
    const key = (r: { id: bigint; key: Buffer; type: number; expiresAt?: number; createdAt: number }): PbAuthKey => ({
      id: i64(r.id),
      key: r.key,
      type: r.type,
      expiresAt: String(r.expiresAt ?? 0),
      createdAt: String(r.createdAt),
    })
    return {
      QueryAuthKey: this.unary('QueryAuthKey', async (req) => {
        const rec = await this.sessions.queryAuthKey(big(req.authKeyId))
        return rec ? { found: true, key: key(rec) } : { found: false, key: null }
      }),
      PutAuthKey: this.unary('PutAuthKey', async (req) => {
        const expiresAt = Number(req.expiresAt)
        const r = await s.put({
          id: big(req.id),
          key: req.key,
          type: req.type as AuthKeyType,
          createdAt: Number(req.createdAt),
          ...(expiresAt > 0 ? { expiresAt } : {}),
        })
        return { created: r === 'created' }
      }),
      SaveSalts: this.unary('SaveSalts', async (req) => {
        await s.saveSalts(
          big(req.authKeyId),
          req.salts.map((x) => ({ salt: big(x.salt), validSince: Number(x.validSince), validUntil: Number(x.validUntil) })),
        )
        return {}
      }),
      LoadSalts: this.unary('LoadSalts', async (req) => ({
        salts: (await s.loadSalts(big(req.authKeyId))).map((x) => ({ salt: i64(x.salt), validSince: String(x.validSince), validUntil: String(x.validUntil) })),
      })),
      BindAuthKey: this.unary('BindAuthKey', async (req) => {
        await s.bind({ tempId: big(req.tempId), permId: big(req.permId), type: req.type as AuthKeyType, expiresAt: Number(req.expiresAt) })
        return {}
      }),
      GetBinding: this.unary('GetBinding', async (req) => {
        const b = await s.getBinding(big(req.authKeyId))
        return b
          ? { found: true, binding: { tempId: i64(b.tempId), permId: i64(b.permId), type: b.type, expiresAt: String(b.expiresAt) } }
          : { found: false, binding: null }
      }),
      DestroyAuthKey: this.unary('DestroyAuthKey', async (req) => ({ value: await s.destroy(big(req.authKeyId)) })),
      ExpireTemp: this.unary('ExpireTemp', async (req) => ({ count: String(await s.expireTemp(Number(req.now))) })),
      SaveState: this.unary('SaveState', async (req) => {
        await s.saveState(big(req.authKeyId), fromPbState(req.state))
        return {}
      }),
      LoadState: this.unary('LoadState', async (req) => {
        const st = await s.loadState(big(req.authKeyId))
        return st ? { found: true, state: pbState(st) } : { found: false, state: null }
      }),
      CreateSession: this.unary('CreateSession', async (req) => ({ value: await this.sessionControl('CreateSession', req) })),
      CloseSession: this.unary('CloseSession', async (req) => ({ value: await this.sessionControl('CloseSession', req) })),
      Push: this.unary('Push', async (req) => {
        const target: PushTarget = req.authKeyId !== undefined && req.authKeyId !== null ? { authKeyId: big(req.authKeyId) } : { userId: big(req.userId) }
        const n = req.fanOut ? await this.routePush(target, req.body) : this.pushLocal(target, req.body)
        return { count: String(n) }
      }),
      Connect: (call) => this.onStream(call),
    }
  }

  private onStream(call: grpc.ServerDuplexStream<WireGatewayFrame, WireSessionFrame>): void {
    const gatewayId = String(call.metadata.get(GATEWAY_ID_HEADER)[0] ?? '')
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(gatewayId)) {
      this.log.warn({ peer: call.getPeer() }, 'stream without a valid gateway id: refused')
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: `missing or bad ${GATEWAY_ID_HEADER}` })
      return
    }
    if (this.draining) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'session node draining' })
      return
    }
    const prev = this.link.streams.get(gatewayId)
    if (prev) this.endStream(prev, 'replaced by a new stream from the same gateway')
    const st: GatewayStream = {
      gatewayId,
      call,
      writer: new FrameWriter<WireSessionItem>((f) => call.write(f), { maxQueued: this.config.cluster.streamQueueMax }),
      conns: new Map(),
      ended: false,
    }
    this.link.streams.set(gatewayId, st)
    this.log.info({ gateway: gatewayId, peer: call.getPeer() }, 'gateway stream open')
    call.on('drain', () => st.writer.resume())
    call.write({ items: [] }) // tells the gateway the stream is up
    call.on('data', (frame: WireGatewayFrame) => {
      if (st.ended) return
      for (const it of frame.items) {
        if ('data' in it && it.data) {
          // the decoded message becomes the session layer's InboundMessage (no copy); its cluster
          // connection id is made once per connection (the same string each time: hashed once)
          const d = it.data
          let connId = st.conns.get(d.connId)
          if (connId === undefined) st.conns.set(d.connId, (connId = clusterConnId(gatewayId, d.connId)))
          d.gatewayId = gatewayId
          d.connId = connId
          this.sessions.sendData(d)
        } else if ('closed' in it && it.closed) {
          const connId = clusterConnId(gatewayId, it.closed.connId)
          st.conns.delete(it.closed.connId)
          const keys = this.sessions.keysOfConnection(connId)
          this.sessions.closeConnection(connId)
          for (const k of keys) this.dropIfMoved(k)
        }
      }
    })
    call.on('end', () => this.endStream(st, 'gateway ended the stream'))
    call.on('error', (e) => this.endStream(st, `stream error: ${e.message}`))
    call.on('cancelled', () => this.endStream(st, 'stream cancelled'))
  }

  private endStream(st: GatewayStream, reason: string): void {
    if (st.ended) return
    st.ended = true
    if (this.link.streams.get(st.gatewayId) === st) this.link.streams.delete(st.gatewayId)
    const lost = st.writer.close().length
    this.log.info({ gateway: st.gatewayId, reason, connections: st.conns.size, unsent: lost }, 'gateway stream closed')
    // The gateway's connections are gone from here: sessions stay (the clients may come back).
    for (const c of st.conns.values()) this.sessions.closeConnection(c)
    st.conns.clear()
    try {
      st.call.end()
    } catch {
      // already closed
    }
  }

  /** Live gateway streams (tests, metrics). */
  get gatewayCount(): number {
    return this.link.streams.size
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
    this.health.set('NOT_SERVING')
    this.log.info({ gateways: this.link.streams.size }, 'session node draining')
    // Goodbye first (gateways route around us at once), then leave etcd.
    for (const st of this.link.streams.values()) st.writer.push({ goodbye: { nodeId: this.nodeId } })
    await this.registry.deregister()
    // Messages the gateways sent before they read the Goodbye are still on the way: take them.
    await new Promise((r) => setTimeout(r, 250))
    const until = Date.now() + this.config.server.limits.drainTimeoutMs
    while (this.router.inFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10))
    if (this.router.inFlight > 0) this.log.warn({ inFlight: this.router.inFlight }, 'drain timeout: stopping with RPCs in flight')
    await new Promise((r) => setImmediate(r))
    const flushUntil = Date.now() + 1000
    for (const st of this.link.streams.values()) st.writer.flush()
    while ([...this.link.streams.values()].some((s) => s.writer.queued > 0) && Date.now() < flushUntil) await new Promise((r) => setTimeout(r, 10))
    for (const st of [...this.link.streams.values()]) this.endStream(st, 'session node stopping')
    this.health.close()
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.server.forceShutdown()
        resolve()
      }, 2000)
      this.server.tryShutdown(() => {
        clearTimeout(t)
        resolve()
      })
    })
    this.sessions.stop()
    if (this.movedTimer) clearTimeout(this.movedTimer)
    await this.registry.stop()
    for (const p of this.peers.values()) p.client.close()
    this.peers.clear()
    if (this.ownsStore) await this.store.close().catch((e: unknown) => this.log.warn({ err: (e as Error).message }, 'store close failed'))
    this.log.info({ ms: Date.now() - t0 }, 'session node stopped')
  }
}

/** `mtgate session`: starts a session node and drains it on SIGTERM / SIGINT. */
export async function runSessionNode(config: ClusterConfig, deps: SessionNodeDeps = {}): Promise<SessionNode> {
  const node = await SessionNode.start(config, deps)
  drainOnSignal(node, deps.log)
  return node
}
