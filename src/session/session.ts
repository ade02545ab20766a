/**
 * One MTProto session (auth_key_id, session_id): its state (received window, outbox, acks,
 * replies, result cache, calls in flight). The pipeline stages work on it as plain functions:
 * incoming checks (incoming.ts), service messages (service-messages.ts), RPC queries and their
 * rpc_result answers (calls.ts, with unwrap.ts for the invoke* wrappers), the outgoing flush
 * (outgoing.ts, one container per flush).
 */
import type { RandomSource } from '../crypto/random.js'
import type { Clock } from '../util/clock.js'
import type { Logger } from '../util/log.js'
import type { LogLimiter } from '../util/log-limiter.js'
import type { ServerMsgIdGenerator } from '../util/server-msg-id.js'
import { encode, type TlObject } from '../tl/index.js'
import type { ClientConnection, GatewayLink, InboundMessage, RpcDispatcher, RpcOutcome } from './api.js'
import { constructorOf, ID_MSG_CONTAINER } from './envelope.js'
import { PacketBudget } from './expansion.js'
import type { PushBody } from './layered.js'
import type { KeyState as KeyStateOf } from './key-state.js'
import { Outbox, type OutEntry } from './outbox.js'
import { flushSession } from './outgoing.js'
import { Received, ReceivedWindow } from './received.js'
import type { ResultCache } from './result-cache.js'
import { handleContainer, handleOne } from './incoming.js'

export { MAX_WRAPPER_DEPTH } from './unwrap.js'
export { DETAILED_INFO_MIN_BYTES } from './incoming.js'
export { jsonValue } from './client-info.js'
export { FAILED_REMEMBERED, UNBOUND_TEMP_KEY_METHODS } from './calls.js'
export { RESULT_CACHE_MAX } from './result-cache.js'

/** The per-key state the sessions of a key share. */
export type KeyState = KeyStateOf<Session>

export interface SessionOptions {
  /** initConnection api_id filter; false → rpc_error 400 API_ID_INVALID. */
  allowApiId: (apiId: number) => boolean
  /** Idle time after which a session without activity is forgotten. */
  idleTimeoutMs: number
  /** Unacknowledged outgoing content messages kept per session. */
  outboxMaxMessages: number
  outboxMaxBytes: number
  /** Results larger than this are gzip_packed when that helps. */
  gzipMinBytes: number
  /** Acknowledgments alone are sent after waiting this long for something to ride along with. */
  ackDelayMs: number
  /** Answers from this size on are announced with msg_detailed_info to duplicate queries (default DETAILED_INFO_MIN_BYTES). */
  detailedInfoMinBytes?: number
}

/** What a session needs from the manager that owns it. */
export interface SessionHost {
  readonly clock: Clock
  readonly random: RandomSource
  readonly link: GatewayLink
  readonly dispatcher: RpcDispatcher
  readonly msgIds: ServerMsgIdGenerator
  readonly log: Logger
  /** Lines a client can cause, rate-limited per reason. */
  readonly limitedLog: LogLimiter
  readonly options: SessionOptions
  /** The salt to put in outgoing messages / bad_server_salt / new_session_created. */
  currentSalt(key: KeyState): bigint
  /** get_future_salts. */
  futureSalts(key: KeyState, num: number): { salt: bigint; validSince: number; validUntil: number }[]
  /** destroy_session from a session of the same key; true if it existed. */
  destroySession(key: KeyState, sessionId: bigint, by: Session): boolean
  /** destroy_auth_key. */
  destroyAuthKey(key: KeyState): Promise<'ok' | 'none' | 'fail'>
  /** After the destroy_auth_key answer went out: forget the key and its sessions. */
  keyDestroyed(key: KeyState): void
  /** auth.bindTempAuthKey on a temp key. */
  bindTempAuthKey(key: KeyState, session: Session, msgId: bigint, query: TlObject): Promise<RpcOutcome>
  /** The handler changed ctx.userId. */
  setUserId(key: KeyState, userId: bigint | undefined): void
  /** A session was told its connection changed. */
  connectionChanged(session: Session, oldConnId: string | undefined): void
  /** Destroys the authorization `key` acts for: its permanent key, the keys bound to it, `key`. */
  destroyAuthorization(key: KeyState, reason: string): Promise<void>
}

type UpdatesMode = 'unknown' | 'on' | 'off'

function flushTicked(s: Session): void {
  s.flushTick()
}

export class Session {
  /** The connection answers go to (the one that sent the latest message). */
  conn: ClientConnection | undefined
  layer: number | undefined
  lastActiveMs: number
  /** ping_delay_disconnect deadline for a connection. */
  disconnectAt: { connId: string; atMs: number } | undefined
  updates: UpdatesMode = 'unknown'

  /** @internal */
  readonly uniqueId: bigint
  private firstMsgId: bigint
  /** @internal */
  readonly received = new ReceivedWindow()
  /** @internal */
  readonly outbox: Outbox
  /** @internal */
  outSeq = 0
  /** Service replies for the next flush (responses, not content-related: pong, bad_msg_notification, ...). */
  /** @internal */
  queue: Buffer[] = []
  /** @internal */
  pendingAcks: bigint[] = []
  /** @internal */
  pendingAcksSinceMs = 0
  /** @internal */
  resendAll = false
  /** @internal */
  resendSome: OutEntry[] = []
  /** @internal What the packet being handled may still make the server expand (set by handle()). */
  budget: PacketBudget = new PacketBudget(0, 0)
  /** @internal Recent answers by query msg_id, acknowledged or not. */
  results: ResultCache | undefined
  /** @internal Calls in flight by query msg_id: their promise says whether they succeeded. */
  inflight: Map<bigint, Promise<boolean>> | undefined
  /** @internal */
  dropped: Set<bigint> | undefined
  /** @internal Recently failed queries (for invokeAfterMsg). */
  failed: Set<bigint> | undefined
  private flushScheduled = false
  private flushTicked = false
  /** @internal */
  destroyed = false

  constructor(
    /** @internal */
    readonly host: SessionHost,
    readonly key: KeyState,
    readonly id: bigint,
    firstMsgId: bigint,
  ) {
    this.uniqueId = host.random(8).readBigInt64LE(0)
    this.firstMsgId = firstMsgId
    this.lastActiveMs = host.clock.now()
    this.outbox = new Outbox(host.log, host.options.outboxMaxMessages, host.options.outboxMaxBytes)
    this.queueNewSessionCreated(firstMsgId)
  }

  get authKeyId(): bigint {
    return this.key.record.id
  }

  /** Number of unacknowledged outgoing content messages (tests, metrics). */
  get unacked(): number {
    return this.outbox.size
  }

  // -------------------------------------------------------------------------------------------
  // inbound
  // -------------------------------------------------------------------------------------------

  /**
   * One message that passed the key-level checks (msg_id parity/time and salt); `budget` is what
   * its packet may still make the server expand (gzip_packed, re-sends).
   */
  handle(msg: InboundMessage, budget: PacketBudget): void {
    if (this.destroyed) return
    this.lastActiveMs = this.host.clock.now()
    this.budget = budget
    const cur = this.conn
    if (cur === undefined || cur.connId !== msg.connId || cur.gatewayId !== msg.gatewayId) {
      // The session follows the client to another connection only for a message it has not seen:
      // a captured packet replayed on another socket must not take the answers and pushes with it.
      if (cur === undefined || this.received.isNew(msg.msgId)) this.attach({ gatewayId: msg.gatewayId, connId: msg.connId, clientAddr: msg.clientAddr, dcId: msg.dcId, transport: msg.transport })
    }
    if (msg.msgId < this.firstMsgId && !this.received.has(msg.msgId)) {
      // spec: a similar notification for a msg_id lower than the session's first one
      this.firstMsgId = msg.msgId
      this.queueNewSessionCreated(msg.msgId)
    }
    const ctor = constructorOf(msg.body)
    if (ctor === ID_MSG_CONTAINER) handleContainer(this, msg)
    else handleOne(this, msg.msgId, msg.seqNo, msg.body, msg)
    // Answers wait until the current callback is done (process.nextTick): the messages of one read
    // chunk (several packets of a pipelining client) are answered in one container, one encryption.
    if (!this.flushTicked) {
      this.flushTicked = true
      process.nextTick(flushTicked, this)
    }
  }

  /** @internal The nextTick flush scheduled by handle(). */
  flushTick(): void {
    this.flushTicked = false
    this.flush(false)
  }

  private attach(conn: ClientConnection): void {
    const old = this.conn
    if (old && old.connId === conn.connId && old.gatewayId === conn.gatewayId) return
    this.conn = conn
    // spec: unacknowledged content-related messages are resent on the new connection
    if (this.outbox.entries().some((e) => e.msgId !== undefined)) this.resendAll = true
    this.host.connectionChanged(this, old?.connId)
  }

  /** The transport connection went away; answers wait in the outbox for the next one. */
  detach(connId: string): void {
    if (this.conn?.connId === connId) {
      this.conn = undefined
      // the idle timeout runs from the moment the session lost its connection
      this.lastActiveMs = this.host.clock.now()
    }
    if (this.disconnectAt?.connId === connId) this.disconnectAt = undefined
  }

  /** The client's layer: the session's invokeWithLayer, else the auth key's last known. */
  get clientLayer(): number | undefined {
    return this.layer ?? this.key.info.layer
  }

  // -------------------------------------------------------------------------------------------
  // outbound
  // -------------------------------------------------------------------------------------------

  /** A pushed content-related message (updates etc.) in the client's layer: kept until acknowledged. */
  push(body: PushBody): void {
    if (this.destroyed) return
    this.enqueue(body.forLayer(this.clientLayer), false, 'push')
    this.scheduleFlush()
  }

  /** @internal */
  reply(obj: TlObject): void {
    this.queue.push(encode(obj))
  }

  private queueNewSessionCreated(firstMsgId: bigint): void {
    const body = encode({
      _: 'new_session_created',
      first_msg_id: firstMsgId,
      unique_id: this.uniqueId,
      server_salt: this.host.currentSalt(this.key),
    })
    this.enqueue(body, true, 'service')
  }

  /** A content-related message: into the outbox, kept until acknowledged. */
  /** @internal */
  enqueue(body: Buffer, response: boolean, kind: 'result' | 'push' | 'service', reqMsgId?: bigint): OutEntry {
    const e: OutEntry = { kind, body, response }
    if (reqMsgId !== undefined) e.reqMsgId = reqMsgId
    this.outbox.add(e)
    return e
  }

  /** Queues a msgs_ack for `msgId`; `mark`: also record it as acknowledged in the received window. */
  /** @internal */
  ack(msgId: bigint, mark: boolean): void {
    if (this.pendingAcks.length === 0) this.pendingAcksSinceMs = this.host.clock.now()
    this.pendingAcks.push(msgId)
    if (mark) this.received.mark(msgId, Received.acked)
  }

  /** @internal */
  badMsg(msgId: bigint, seqNo: number, code: number, reason: string): void {
    this.host.log.info({ authKeyId: this.key.record.id.toString(), sessionId: this.id.toString(), msgId: msgId.toString(), code, reason }, 'session: bad_msg_notification')
    this.reply({ _: 'bad_msg_notification', bad_msg_id: msgId, bad_msg_seqno: seqNo, error_code: code })
  }

  /** @internal */
  scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    // after the current batch of promise resolutions, so that answers ready together share a container
    setImmediate(() => {
      this.flushScheduled = false
      this.flush(false)
    })
  }

  /** Periodic work: lone acknowledgments that waited long enough. */
  tick(nowMs: number): void {
    if (this.pendingAcks.length > 0 && nowMs - this.pendingAcksSinceMs >= this.host.options.ackDelayMs) this.flush(true)
  }

  /**
   * Sends everything pending in one message (a container when several): acknowledgments, replies,
   * new content messages and resends. Acknowledgments alone wait (unless `forceAcks`) so that they
   * ride along with the next answer.
   */
  flush(forceAcks: boolean): void {
    flushSession(this, forceAcks)
  }

  /** Forget everything (destroy_session, idle expiry, key destroyed). */
  destroy(): void {
    this.destroyed = true
    this.queue = []
    this.pendingAcks = []
  }
}
