/**
 * The gateway streams of a session node: one Connect stream per gateway. Messages arriving on a
 * stream go to the session layer with the connection id made cluster-unique as
 * "<gatewayId>#<connId>"; GatewayStreams is the session layer's GatewayLink and sends its answers
 * back over the stream of the gateway named in that id.
 */
import * as grpc from '@grpc/grpc-js'
import type { GatewayLink, OutboundMessage } from '../session/api.js'
import type { SessionManager } from '../session/manager.js'
import type { Logger } from '../util/log.js'
import { FrameWriter } from './frame-writer.js'
import { GATEWAY_ID_HEADER } from './grpc.js'
import type { WireGatewayFrame, WireSessionFrame, WireSessionItem } from './wire.js'

const SEP = '#'

/** "<gatewayId>#<connId>": the connection id the session layer sees. */
export function clusterConnId(gatewayId: string, connId: string): string {
  return gatewayId + SEP + connId
}

export type GatewayCall = grpc.ServerDuplexStream<WireGatewayFrame, WireSessionFrame>

interface GatewayStream {
  gatewayId: string
  call: GatewayCall
  writer: FrameWriter<WireSessionItem>
  /** The connections seen on this stream and not closed yet: the gateway's id → the cluster id. */
  conns: Map<string, string>
  ended: boolean
}

export interface GatewayStreamsOptions {
  log: Logger
  /** Queue bound of each stream's FrameWriter (cluster.stream_queue_max). */
  maxQueued: number
  /** A gateway closed a connection: the auth keys that had sessions on it. */
  onConnectionClosed: (authKeyIds: bigint[]) => void
}

type Sessions = Pick<SessionManager, 'sendData' | 'keysOfConnection' | 'closeConnection'>

/** The GatewayLink of a session node: answers go back over the stream of the connection's gateway. */
export class GatewayStreams implements GatewayLink {
  readonly streams = new Map<string, GatewayStream>()
  readonly stats = { sent: 0, dropped: 0 }
  private sessions: Sessions | undefined
  private refusing = false
  private readonly log: Logger

  constructor(private readonly o: GatewayStreamsOptions) {
    this.log = o.log
  }

  /** The session layer the streams feed (it sends back through this link). */
  attach(sessions: Sessions): void {
    this.sessions = sessions
  }

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

  /** Live gateway streams. */
  get size(): number {
    return this.streams.size
  }

  /** A gateway's Connect stream (the gRPC handler). */
  accept(call: GatewayCall): void {
    const sessions = this.sessions
    const gatewayId = String(call.metadata.get(GATEWAY_ID_HEADER)[0] ?? '')
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(gatewayId)) {
      this.log.warn({ peer: call.getPeer() }, 'stream without a valid gateway id: refused')
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: `missing or bad ${GATEWAY_ID_HEADER}` })
      return
    }
    if (this.refusing || sessions === undefined) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'session node draining' })
      return
    }
    const prev = this.streams.get(gatewayId)
    if (prev) this.end(prev, 'replaced by a new stream from the same gateway')
    const st: GatewayStream = {
      gatewayId,
      call,
      writer: new FrameWriter<WireSessionItem>((f) => call.write(f), { maxQueued: this.o.maxQueued }),
      conns: new Map(),
      ended: false,
    }
    this.streams.set(gatewayId, st)
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
          sessions.sendData(d)
        } else if ('closed' in it && it.closed) {
          const connId = clusterConnId(gatewayId, it.closed.connId)
          st.conns.delete(it.closed.connId)
          const keys = sessions.keysOfConnection(connId)
          sessions.closeConnection(connId)
          this.o.onConnectionClosed(keys)
        }
      }
    })
    call.on('end', () => this.end(st, 'gateway ended the stream'))
    call.on('error', (e) => this.end(st, `stream error: ${e.message}`))
    call.on('cancelled', () => this.end(st, 'stream cancelled'))
  }

  private end(st: GatewayStream, reason: string): void {
    if (st.ended) return
    st.ended = true
    if (this.streams.get(st.gatewayId) === st) this.streams.delete(st.gatewayId)
    const lost = st.writer.close().length
    this.log.info({ gateway: st.gatewayId, reason, connections: st.conns.size, unsent: lost }, 'gateway stream closed')
    // The gateway's connections are gone from here: sessions stay (the clients may come back).
    for (const c of st.conns.values()) this.sessions?.closeConnection(c)
    st.conns.clear()
    try {
      st.call.end()
    } catch {
      // already closed
    }
  }

  /** Drain, first step: new streams are refused and every gateway is told Goodbye (it routes around `nodeId`). */
  goodbye(nodeId: string): void {
    this.refusing = true
    for (const st of this.streams.values()) st.writer.push({ goodbye: { nodeId } })
  }

  /** Flushes every stream's queue, waiting up to `ms` for them to empty. */
  async flush(ms: number): Promise<void> {
    const until = Date.now() + ms
    for (const st of this.streams.values()) st.writer.flush()
    while ([...this.streams.values()].some((s) => s.writer.queued > 0) && Date.now() < until) await new Promise((r) => setTimeout(r, 10))
  }

  /** Ends every stream (the gateways' connections leave the session layer; sessions stay). */
  endAll(reason: string): void {
    for (const st of [...this.streams.values()]) this.end(st, reason)
  }
}
