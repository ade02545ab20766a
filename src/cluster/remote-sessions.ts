/**
 * The gateway's view of the session nodes: one gRPC client and one Connect stream per live session
 * node, the rendezvous ring over the nodes whose stream is up, and the SessionService the gateway's
 * encrypted path talks to (routing each auth_key_id to its owner).
 *
 * Failure handling:
 * - A stream that breaks (node killed, network) takes its node out of the ring at once; the client
 *   connections that had traffic on it are closed (their in-flight requests may be lost: the clients
 *   reconnect, keep their auth key, get new_session_created from the new owner and resend).
 *   The stream is reopened with backoff while the node is still registered.
 * - Goodbye (graceful drain of a session node): out of the ring, connections stay; their next
 *   messages go to the new owner.
 * - A key whose owner changes (join/leave) sends ConnectionClosed to the old owner for the
 *   connections it had, so it stops pushing to them.
 *
 * Backpressure toward a session node: when the stream's queue reaches its high-water mark (half of
 * streamQueueMax) the client connections whose messages fill it are paused (their sockets are not
 * read; TCP pushes back on the clients) and resumed when the queue is back to its low-water mark.
 * Hard bounds: a stream that stays above the mark for pauseTimeoutMs closes the connections it
 * paused; a message that finds the queue full (streamQueueMax) closes its connection. Either way the
 * client reconnects and resends, as after any lost connection.
 */
import * as grpc from '@grpc/grpc-js'
import type { AuthKeyRecord, GatewayLink, InboundMessage, SessionService } from '../session/api.js'
import type { AuthKeyType } from '../store/types.js'
import type { Logger } from '../util/log.js'
import type { ClusterTls } from '../config/cluster.js'
import { FrameWriter } from './frame-writer.js'
import { CHANNEL_OPTIONS, clientCredentials, deadline, GATEWAY_ID_HEADER } from './grpc.js'
import { big, i64, protos, type PbQueryAuthKeyReply, type SessionClient } from './proto.js'
import type { WireGatewayFrame, WireGatewayItem, WireSessionFrame } from './wire.js'
import { RendezvousRing } from './ring.js'

export type PeerState = 'connecting' | 'up' | 'draining' | 'down'

/** How long a stream to a node that left the registry may stay open to deliver its last answers. */
const REMOVED_GRACE_MS = 15_000

export interface RemoteSessionsOptions {
  gatewayId: string
  log: Logger
  tls: ClusterTls | undefined
  callTimeoutMs: number
  streamQueueMax: number
  /** How long connections may stay paused behind a full stream before they are closed (default 10000 ms). */
  pauseTimeoutMs?: number
}

/** Pauses / resumes reading a client connection (the gateway's front; calls nest). */
export interface ConnectionFlow {
  pauseConnection(connId: string): void
  resumeConnection(connId: string): void
}

export const DEFAULT_PAUSE_TIMEOUT_MS = 10_000

class SessionPeer {
  readonly client: SessionClient
  state: PeerState = 'connecting'
  call: grpc.ClientDuplexStream<WireGatewayFrame, WireSessionFrame> | undefined
  writer: FrameWriter<WireGatewayItem> | undefined
  retryTimer: NodeJS.Timeout | undefined
  backoffMs = 100
  removed = false
  /** Client connections paused because this peer's stream is above its high-water mark. */
  readonly paused = new Set<string>()
  pauseTimer: NodeJS.Timeout | undefined

  constructor(
    readonly id: string,
    readonly address: string,
    tls: ClusterTls | undefined,
  ) {
    const { SessionClient } = protos()
    this.client = new SessionClient(address, clientCredentials(tls), CHANNEL_OPTIONS)
  }
}

export class RemoteSessions implements SessionService {
  private readonly peers = new Map<string, SessionPeer>()
  /** Removed from the registry, stream still open (finishing). */
  private readonly retired = new Set<SessionPeer>()
  readonly ring = new RendezvousRing()
  private link: GatewayLink | undefined
  private flow: ConnectionFlow | undefined
  /** connId → auth_key_id → session node the connection's messages for that key went to. */
  private readonly routes = new Map<string, Map<bigint, string>>()
  /** Where the last message went (its connection and key): the fast path of sendData. */
  private lastRoute: SessionPeer | undefined
  private lastConnId = ''
  private lastKeyId = 0n
  private ringWaiters: (() => void)[] = []
  private stopped = false
  /** Last time a session node sent us something (drain uses it to wait for quiet). */
  lastInboundAt = 0
  /** Last time a client message was forwarded to a session node. */
  lastOutboundAt = 0
  readonly stats = { sent: 0, received: 0, refused: 0, peerLosses: 0, closedOnLoss: 0, paused: 0, resumed: 0, closedOnPauseTimeout: 0 }

  constructor(private readonly opts: RemoteSessionsOptions) {}

  /** The gateway's encrypted path: answers from session nodes are written through it. */
  attach(link: GatewayLink): void {
    this.link = link
  }

  /** Who can pause client connections (the gateway's front); without it a full stream closes them. */
  attachFlow(flow: ConnectionFlow): void {
    this.flow = flow
  }

  /** The session nodes in the registry (id → address). */
  setMembers(members: { id: string; address: string }[]): void {
    if (this.stopped) return
    const want = new Map(members.map((m) => [m.id, m.address]))
    for (const p of [...this.peers.values()]) {
      if (want.get(p.id) !== p.address) this.removePeer(p, 'left the registry')
    }
    for (const [id, address] of want) {
      if (!this.peers.has(id)) {
        const p = new SessionPeer(id, address, this.opts.tls)
        this.peers.set(id, p)
        this.opts.log.info({ peer: id, address }, 'session node joined: opening stream')
        this.open(p)
      }
    }
  }

  peerStates(): Record<string, PeerState> {
    return Object.fromEntries([...this.peers.values()].map((p) => [p.id, p.state]))
  }

  /** The node currently owning `authKeyId` (undefined with no live node). */
  ownerOf(authKeyId: bigint): string | undefined {
    return this.ring.owner(authKeyId)
  }

  /** Items waiting in the stream writers (drain). */
  get queued(): number {
    let n = 0
    for (const p of this.peers.values()) n += p.writer?.queued ?? 0
    return n
  }

  // ------------------------------------------------------------------ SessionService

  async queryAuthKey(authKeyId: bigint): Promise<AuthKeyRecord | undefined> {
    const rep = await this.unary<PbQueryAuthKeyReply>(authKeyId, 'QueryAuthKey', (c, o, cb) => c.QueryAuthKey({ authKeyId: i64(authKeyId), gatewayId: this.opts.gatewayId }, new grpc.Metadata(), o, cb))
    if (!rep.found || !rep.key) return undefined
    const k = rep.key
    const expiresAt = Number(k.expiresAt)
    return { id: big(k.id), key: k.key, type: k.type as AuthKeyType, createdAt: Number(k.createdAt), ...(expiresAt > 0 ? { expiresAt } : {}) }
  }

  sendData(msg: InboundMessage): void {
    // A connection's messages come in runs: the next one of the same connection and key goes where
    // the last one went, as long as nothing routing depends on changed (lastRoute is reset wherever the ring, a peer or a route changes).
    const last = this.lastRoute
    if (last !== undefined && msg.connId === this.lastConnId && msg.authKeyId === this.lastKeyId && last.writer !== undefined) {
      this.forward(last, last.writer, msg)
      return
    }
    this.lastRoute = undefined
    const owner = this.ring.owner(msg.authKeyId)
    const peer = owner === undefined ? undefined : this.peers.get(owner)
    if (peer === undefined || peer.writer === undefined) {
      this.opts.log.warn({ conn: msg.connId }, 'no live session node: closing the connection (the client reconnects and resends)')
      this.link?.closeConnection(msg.connId, 'no session node')
      return
    }
    let r = this.routes.get(msg.connId)
    if (r === undefined) this.routes.set(msg.connId, (r = new Map()))
    const prev = r.get(msg.authKeyId)
    if (prev !== peer.id) {
      r.set(msg.authKeyId, peer.id)
      if (prev !== undefined && ![...r.values()].includes(prev)) {
        // The key moved (membership change): the old owner must stop using this connection.
        this.peers.get(prev)?.writer?.push({ closed: { connId: msg.connId } })
      }
    }
    this.lastRoute = peer
    this.lastConnId = msg.connId
    this.lastKeyId = msg.authKeyId
    this.forward(peer, peer.writer, msg)
  }

  /** Queues `msg` on the peer's stream; pauses its connection above the high-water mark, closes it when full. */
  private forward(peer: SessionPeer, writer: FrameWriter<WireGatewayItem>, msg: InboundMessage): void {
    // the message itself goes into the frame (InboundMessage is a WireInbound): no copy per message
    const ok = writer.push({ data: msg })
    if (ok) {
      this.stats.sent++
      this.lastOutboundAt = Date.now()
      if (writer.aboveHighWater) this.pause(peer, msg.connId)
      return
    }
    this.stats.refused++
    this.opts.log.warn({ conn: msg.connId, peer: peer.id, queued: writer.queued }, 'stream to the session node is full: closing the connection (backpressure)')
    this.link?.closeConnection(msg.connId, 'session stream full')
  }

  /** Stops reading `connId` until the peer's stream is back below its low-water mark. */
  private pause(peer: SessionPeer, connId: string): void {
    if (this.flow === undefined || peer.paused.has(connId)) return
    peer.paused.add(connId)
    this.stats.paused++
    this.flow.pauseConnection(connId)
    if (peer.paused.size === 1) {
      this.opts.log.info({ peer: peer.id, queued: peer.writer?.queued }, 'stream to the session node above its high-water mark: pausing the client connections feeding it')
      peer.pauseTimer = setTimeout(() => this.pauseTimedOut(peer), this.opts.pauseTimeoutMs ?? DEFAULT_PAUSE_TIMEOUT_MS)
      peer.pauseTimer.unref()
    }
  }

  /** Lets every connection paused for `peer` read again. */
  private resumeAll(peer: SessionPeer): void {
    if (peer.pauseTimer) clearTimeout(peer.pauseTimer)
    peer.pauseTimer = undefined
    if (peer.paused.size === 0) return
    const conns = [...peer.paused]
    peer.paused.clear()
    this.stats.resumed += conns.length
    this.opts.log.info({ peer: peer.id, connections: conns.length }, 'stream to the session node drained: resuming the client connections')
    for (const c of conns) this.flow?.resumeConnection(c)
  }

  /** The hard bound: the stream stayed full; close the connections it holds paused. */
  private pauseTimedOut(peer: SessionPeer): void {
    peer.pauseTimer = undefined
    const conns = [...peer.paused]
    peer.paused.clear()
    if (conns.length === 0) return
    this.stats.closedOnPauseTimeout += conns.length
    this.opts.log.warn(
      { peer: peer.id, connections: conns.length, queued: peer.writer?.queued, ms: this.opts.pauseTimeoutMs ?? DEFAULT_PAUSE_TIMEOUT_MS },
      'stream to the session node stayed full: closing the paused client connections (they reconnect and resend)',
    )
    for (const c of conns) {
      this.flow?.resumeConnection(c)
      this.link?.closeConnection(c, 'session stream full')
    }
  }

  closeConnection(connId: string): void {
    this.lastRoute = undefined
    for (const p of this.peers.values()) p.paused.delete(connId)
    const r = this.routes.get(connId)
    if (r === undefined) return
    this.routes.delete(connId)
    for (const nodeId of new Set(r.values())) this.peers.get(nodeId)?.writer?.push({ closed: { connId } })
  }

  // ------------------------------------------------------------------ unary calls with failover

  /**
   * A unary call for `key`: to its owner, then (on UNAVAILABLE / deadline) to the next node in the
   * key's preference order. Waits up to callTimeoutMs for a live node when none is up yet.
   */
  async unary<Res>(
    key: bigint,
    name: string,
    f: (c: SessionClient, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => unknown,
  ): Promise<Res> {
    if (this.ring.size === 0) await this.waitForRing(this.opts.callTimeoutMs)
    const order = this.ring.preference(key).slice(0, 2)
    if (order.length === 0) throw Object.assign(new Error(`${name}: no live session node`), { code: grpc.status.UNAVAILABLE })
    let last: Error | undefined
    for (const id of order) {
      const peer = this.peers.get(id)
      if (!peer) continue
      try {
        return await new Promise<Res>((resolve, reject) => {
          f(peer.client, { deadline: deadline(this.opts.callTimeoutMs) }, (err, res) => (err ? reject(err) : resolve(res as Res)))
        })
      } catch (e) {
        last = e as Error
        const code = (e as grpc.ServiceError).code
        if (code !== grpc.status.UNAVAILABLE && code !== grpc.status.DEADLINE_EXCEEDED) throw e
        this.opts.log.warn({ call: name, peer: id, err: last.message }, 'unary call failed; trying the next session node')
      }
    }
    throw last ?? new Error(`${name}: failed`)
  }

  /** Any live node (calls not tied to a key). */
  anyNode(): string | undefined {
    return this.ring.members[0]
  }

  private waitForRing(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms)
      function done(): void {
        clearTimeout(t)
        resolve()
      }
      this.ringWaiters.push(done)
    })
  }

  // ------------------------------------------------------------------ streams

  private open(p: SessionPeer): void {
    if (this.stopped || p.removed) return
    p.state = 'connecting'
    const meta = new grpc.Metadata()
    meta.set(GATEWAY_ID_HEADER, this.opts.gatewayId)
    const call = p.client.Connect(meta)
    p.call = call
    const writer = new FrameWriter<WireGatewayItem>((f) => call.write(f), { maxQueued: this.opts.streamQueueMax, onLowWater: () => this.resumeAll(p) })
    p.writer = writer
    call.on('drain', () => writer.resume())
    call.on('data', (frame: WireSessionFrame) => this.onFrame(p, call, frame))
    let ended = false
    const end = (why: string): void => {
      if (ended) return
      ended = true
      if (p.call === call) this.streamLost(p, why)
    }
    call.on('error', (e) => end(e.message))
    call.on('end', () => end('stream ended'))
    call.on('close', () => end('stream closed'))
  }

  private onFrame(p: SessionPeer, call: grpc.ClientDuplexStream<WireGatewayFrame, WireSessionFrame>, frame: WireSessionFrame): void {
    if (p.call !== call) return
    this.lastInboundAt = Date.now()
    if (p.state === 'connecting') {
      p.state = 'up'
      p.backoffMs = 100
      this.opts.log.info({ peer: p.id }, 'session node stream up')
      this.updateRing()
    }
    const link = this.link
    for (const it of frame.items) {
      if ('send' in it && it.send) {
        const s = it.send
        this.stats.received++
        // a WireOutbound is an OutboundMessage (plus its connId)
        link?.send(s.connId, s)
      } else if ('close' in it && it.close) {
        link?.closeConnection(it.close.connId, it.close.reason)
      } else if ('goodbye' in it && it.goodbye) {
        this.opts.log.info({ peer: p.id }, 'session node is draining: routing around it')
        p.state = 'draining'
        this.updateRing()
      }
    }
  }

  private streamLost(p: SessionPeer, why: string): void {
    this.lastRoute = undefined
    const wasDraining = p.state === 'draining'
    const wasUp = p.state === 'up'
    p.state = 'down'
    const unsent = p.writer?.close().length ?? 0
    p.writer = undefined
    p.call = undefined
    // connections paused for it read again (those with traffic on it are closed just below)
    this.resumeAll(p)
    this.updateRing()
    if (wasUp) this.stats.peerLosses++
    if (!wasDraining) {
      // Requests on the lost node may never be answered: make their clients reconnect and resend.
      const affected: string[] = []
      for (const [connId, r] of this.routes) if ([...r.values()].includes(p.id)) affected.push(connId)
      if (wasUp || affected.length > 0) this.opts.log.warn({ peer: p.id, why, connections: affected.length, unsent }, 'session node stream lost')
      for (const c of affected) {
        this.stats.closedOnLoss++
        this.link?.closeConnection(c, 'session node lost')
        // EncryptedPath.closeConnection → connectionClosed → this.closeConnection(c) drops the route
        this.routes.delete(c)
      }
    } else {
      for (const r of this.routes.values()) for (const [k, id] of r) if (id === p.id) r.delete(k)
    }
    if (this.stopped || p.removed) return
    p.retryTimer = setTimeout(() => this.open(p), p.backoffMs)
    p.retryTimer.unref()
    p.backoffMs = Math.min(p.backoffMs * 2, 2000)
  }

  /**
   * The node left the registry (deregistered while draining, or its lease expired). It leaves the
   * ring at once; an open stream is left to end by itself (a draining node still answers what it
   * has, then ends it), or cut after the drain grace period. Connections are not closed for this: a
   * dead node's stream breaks by itself (keepalive) and that path closes them.
   */
  private removePeer(p: SessionPeer, why: string): void {
    this.lastRoute = undefined
    p.removed = true
    this.peers.delete(p.id)
    if (p.retryTimer) clearTimeout(p.retryTimer)
    this.resumeAll(p)
    this.opts.log.info({ peer: p.id, why }, 'session node removed')
    const call = p.call
    if (call && p.state !== 'down') {
      if (p.state === 'up' || p.state === 'connecting') p.state = 'draining'
      this.retired.add(p)
      const t = setTimeout(() => {
        call.cancel()
      }, REMOVED_GRACE_MS)
      t.unref()
      call.on('close', () => {
        clearTimeout(t)
        this.retired.delete(p)
        p.client.close()
      })
    } else p.client.close()
    this.updateRing()
  }

  private updateRing(): void {
    this.lastRoute = undefined
    const live = [...this.peers.values()].filter((p) => p.state === 'up').map((p) => p.id)
    const before = this.ring.members.join(',')
    this.ring.set(live)
    if (this.ring.members.join(',') !== before) this.opts.log.info({ ring: this.ring.members }, 'ring changed')
    if (live.length > 0 && this.ringWaiters.length > 0) {
      const w = this.ringWaiters
      this.ringWaiters = []
      for (const f of w) f()
    }
  }

  /** Ends every stream and closes the clients. */
  close(): void {
    this.stopped = true
    for (const p of [...this.peers.values(), ...this.retired]) {
      p.removed = true
      if (p.retryTimer) clearTimeout(p.retryTimer)
      this.resumeAll(p)
      p.state = 'draining' // not a loss: do not close client connections from here
      p.writer?.flush()
      p.call?.end()
      p.client.close()
    }
    this.peers.clear()
    this.retired.clear()
    this.updateRing()
  }
}
