/**
 * One MTProto session (auth_key_id, session_id): its state (received window, outbox, acks,
 * replies, result cache, calls in flight), RPC dispatch and rpc_result framing. The pipeline
 * stages work on it as plain functions: incoming checks (incoming.ts), service messages
 * (service-messages.ts), unwrapping of invoke* wrappers (unwrap.ts), the outgoing flush
 * (outgoing.ts, one container per flush).
 */
import type { RandomSource } from '../crypto/random.js'
import type { Clock } from '../util/clock.js'
import type { Logger } from '../util/log.js'
import type { LogLimiter } from '../util/log-limiter.js'
import type { ServerMsgIdGenerator } from '../util/server-msg-id.js'
import { AuthKeyType } from '../store/types.js'
import { encode, defaultRegistry, TlError, type TlObject } from '../tl/index.js'
import type {
  ClientConnection,
  GatewayLink,
  InboundMessage,
  RpcCall,
  RpcContext,
  RpcDispatcher,
  RpcOutcome,
} from './api.js'
import { buildRpcResult, constructorOf, ID_MSG_CONTAINER, maybeGzip } from './envelope.js'
import { PacketBudget } from './expansion.js'
import { encodeOutcome, readQuery, refusedLayer, type PushBody } from './layered.js'
import type { KeyState as KeyStateOf } from './key-state.js'
import { Outbox, type OutEntry } from './outbox.js'
import { flushSession } from './outgoing.js'
import { Received, ReceivedWindow } from './received.js'
import { handleContainer, handleOne } from './incoming.js'
import { unwrapQuery } from './unwrap.js'

export { MAX_WRAPPER_DEPTH } from './unwrap.js'
export { DETAILED_INFO_MIN_BYTES } from './incoming.js'
export { jsonValue } from './client-info.js'

/** The per-key state the sessions of a key share. */
export type KeyState = KeyStateOf<Session>

/** Cached rpc_result bodies per session (answers to duplicate queries). */
export const RESULT_CACHE_MAX = 32
/** Failed queries remembered per session for invokeAfterMsg. */
export const FAILED_REMEMBERED = 32
/** Methods an unbound temp key may call (api-pfs.md). */
export const UNBOUND_TEMP_KEY_METHODS: ReadonlySet<string> = new Set([
  'auth.bindTempAuthKey',
  'help.getConfig',
  'help.getNearestDc',
])

const reg = defaultRegistry

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
  /** Recent answers by query msg_id (the outbox entry: body and, once sent, its msg_id), acknowledged or not. */
  /** @internal */
  results: Map<bigint, OutEntry> | undefined
  private inflight: Map<bigint, Promise<boolean>> | undefined
  /** @internal */
  dropped: Set<bigint> | undefined
  private failed: Set<bigint> | undefined
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

  // -------------------------------------------------------------------------------------------
  // RPC queries
  // -------------------------------------------------------------------------------------------

  /** @internal */
  startCall(msgId: bigint, body: Buffer, outer: InboundMessage): void {
    const conn: ClientConnection = { gatewayId: outer.gatewayId, connId: outer.connId, clientAddr: outer.clientAddr, dcId: outer.dcId, transport: outer.transport }
    const p = this.runCall(msgId, body, conn).then(
      (outcome) => {
        this.respond(msgId, outcome)
        return outcome.kind !== 'error'
      },
      (e: unknown) => {
        this.host.log.error({ msgId: msgId.toString(), err: (e as Error)?.message }, 'session: RPC processing failed')
        this.respond(msgId, { kind: 'error', code: 500, message: 'INTERNAL' })
        return false
      },
    )
    const inflight = (this.inflight ??= new Map())
    inflight.set(msgId, p)
    void p.then((ok) => {
      inflight.delete(msgId)
      if (!ok) {
        // remembered (bounded) so that a later invokeAfterMsg on it answers MSG_WAIT_FAILED
        const failed = (this.failed ??= new Set())
        failed.add(msgId)
        if (failed.size > FAILED_REMEMBERED) failed.delete(failed.values().next().value!)
      }
    })
  }

  private async runCall(msgId: bigint, body: Buffer, conn: ClientConnection): Promise<RpcOutcome> {
    const inflate = this.budget
    const u = unwrapQuery(body, this.host.options.allowApiId, inflate)
    const refused = refusedLayer(u.layer)
    if (refused !== undefined) return this.fail(msgId, 400, 'LAYER_INVALID', refused)
    if (u.layer !== undefined) {
      this.layer = u.layer
      this.key.info.layer = u.layer
    }
    const client = u.client
    if (client !== undefined) this.key.info.client = client
    if (u.error !== undefined) return this.fail(msgId, u.error.code, u.error.message, u.error.reason)
    const withoutUpdates = u.withoutUpdates
    // own copy: decoded bytes fields are views, and the call outlives the gateway's buffer
    const raw = Buffer.from(u.raw)
    if (withoutUpdates) {
      if (this.updates === 'unknown') this.updates = 'off'
    } else {
      this.updates = 'on'
    }
    if (u.waitFor !== undefined) {
      for (const id of u.waitFor) {
        const p = this.inflight?.get(id)
        const ok = p ? await p : !this.failed?.has(id)
        if (!ok) return this.fail(msgId, 400, 'MSG_WAIT_FAILED', `awaited message ${id} failed`)
      }
    }

    const ctor = constructorOf(raw)!
    let query: TlObject | undefined
    try {
      query = readQuery(raw, this.clientLayer, inflate)
    } catch (e) {
      if (!(e instanceof TlError)) throw e
      if (reg.has(ctor)) return this.fail(msgId, 400, 'INPUT_REQUEST_INVALID', `malformed ${reg.nameOf(ctor)}: ${e.message}`)
      query = undefined
    }
    const method = query?._ ?? reg.nameOf(ctor) ?? `#${ctor.toString(16).padStart(8, '0')}`
    const key = this.key
    if (key.record.type !== AuthKeyType.perm && key.permId === undefined && !UNBOUND_TEMP_KEY_METHODS.has(method)) {
      return this.fail(msgId, 401, 'AUTH_KEY_PERM_EMPTY', `${method} on an unbound temp key`)
    }
    if (method === 'auth.bindTempAuthKey' && query) {
      return this.host.bindTempAuthKey(key, this, msgId, query)
    }
    const ctx: RpcContext = {
      authKeyId: key.record.id,
      authKeyType: key.record.type,
      permAuthKeyId: key.permId,
      sessionId: this.id,
      msgId,
      layer: this.layer ?? key.info.layer,
      client: client ?? key.info.client,
      connection: conn,
      withoutUpdates,
      userId: key.info.userId,
    }
    const before = ctx.userId
    const call: RpcCall = { method, constructorId: ctor, query, raw, ctx }
    let outcome: RpcOutcome
    try {
      outcome = await this.host.dispatcher.dispatch(call)
    } catch (e) {
      this.host.log.error({ method, msgId: msgId.toString(), err: (e as Error)?.message }, 'session: dispatcher threw; answering INTERNAL')
      return { kind: 'error', code: 500, message: 'INTERNAL' }
    }
    if (ctx.userId !== before) this.host.setUserId(key, ctx.userId)
    return outcome
  }

  private fail(msgId: bigint, code: number, message: string, reason: string): RpcOutcome {
    this.host.log.info({ msgId: msgId.toString(), authKeyId: this.key.record.id.toString(), code, message, reason }, 'session: rpc_error')
    return { kind: 'error', code, message }
  }

  private respond(reqMsgId: bigint, outcome: RpcOutcome): void {
    if (this.destroyed) return
    this.received.mark(reqMsgId, Received.answered)
    let result: Buffer
    if (this.dropped?.delete(reqMsgId)) {
      result = encode({ _: 'rpc_answer_dropped_running' })
    } else if (outcome.kind === 'error') {
      result = encode({ _: 'rpc_error', error_code: outcome.code, error_message: outcome.message })
    } else if (outcome.kind === 'raw') {
      result = maybeGzip(outcome.body, this.host.options.gzipMinBytes)
    } else {
      let bytes: Buffer
      try {
        bytes = encodeOutcome(outcome, this.clientLayer)
      } catch (e) {
        this.host.log.error({ msgId: reqMsgId.toString(), method: outcome.method, err: (e as Error).message }, 'session: result does not encode; answering INTERNAL')
        bytes = encode({ _: 'rpc_error', error_code: 500, error_message: 'INTERNAL' })
      }
      result = maybeGzip(bytes, this.host.options.gzipMinBytes)
    }
    this.enqueueResult(reqMsgId, result)
    if (outcome.after === undefined) {
      this.scheduleFlush()
      return
    }
    this.flush(true)
    if (outcome.after === 'closeConnection') {
      if (this.conn !== undefined) this.host.link.closeConnection(this.conn.connId, 'closed at the backend\'s request')
    } else {
      void this.host.destroyAuthorization(this.key, 'destroyed at the backend\'s request')
    }
  }

  /** The client's layer: the session's invokeWithLayer, else the auth key's last known. */
  get clientLayer(): number | undefined {
    return this.layer ?? this.key.info.layer
  }

  /** @internal */
  enqueueResult(reqMsgId: bigint, result: Buffer): void {
    const body = buildRpcResult(reqMsgId, result)
    // the rpc_result acknowledges the query
    const i = this.pendingAcks.indexOf(reqMsgId)
    if (i >= 0) this.pendingAcks.splice(i, 1)
    const entry = this.enqueue(body, true, 'result', reqMsgId)
    const cache = (this.results ??= new Map())
    cache.set(reqMsgId, entry)
    if (cache.size > RESULT_CACHE_MAX) cache.delete(cache.keys().next().value!)
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
    // held until acknowledged (an idle client may never ack): its own buffer, not a view pinning an 8 KB pool slab
    const own = Buffer.allocUnsafeSlow(body.length)
    body.copy(own)
    this.enqueue(own, true, 'service')
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
