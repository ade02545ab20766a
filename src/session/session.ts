/**
 * One MTProto session (auth_key_id, session_id): incoming message checks, service messages,
 * unwrapping of invoke* wrappers, RPC dispatch, rpc_result framing, acks, the outbox of
 * unacknowledged content messages and the outgoing flush (one container per flush).
 */
import type { RandomSource } from '../crypto/random.js'
import type { Clock } from '../util/clock.js'
import type { Logger } from '../util/log.js'
import { low32, writeInt64LE } from '../util/int64.js'
import { AuthKeyType } from '../store/types.js'
import {
  decode,
  encode,
  registryForLayer,
  defaultRegistry,
  SUPPORTED_LAYERS,
  TlError,
  TlReader,
  API_ID,
  MT_ID,
  type TlObject,
} from '../tl/index.js'
import type {
  ClientInfo,
  ClientConnection,
  GatewayLink,
  InboundMessage,
  JsonValue,
  RpcCall,
  RpcContext,
  RpcDispatcher,
  RpcOutcome,
} from './api.js'
import { BadMsgCode } from './codes.js'
import {
  buildContainer,
  buildRpcResult,
  constructorOf,
  ContainerError,
  CONTAINER_MAX_BYTES,
  ID_GZIP_PACKED,
  ID_MSG_CONTAINER,
  ID_MSG_COPY,
  maybeGzip,
  parseContainer,
  unpackGzip,
  type Message,
} from './envelope.js'
import type { KeyState } from './key-state.js'
import type { ServerMsgIdGenerator } from '../util/server-msg-id.js'
import { Outbox, type OutEntry } from './outbox.js'
import { Received, ReceivedWindow } from './received.js'

/** Cached rpc_result bodies per session (answers to duplicate queries). */
export const RESULT_CACHE_MAX = 32
/**
 * A duplicate query whose answer (rpc_result) is at least this large and was already sent gets
 * msg_detailed_info instead of the answer (mtproto-service_messages_about_messages.md); the client
 * asks for the answer itself with msg_resend_req if it still needs it.
 */
export const DETAILED_INFO_MIN_BYTES = 4096
/** Failed queries remembered per session for invokeAfterMsg. */
export const FAILED_REMEMBERED = 32
/** Most wrappers unwrapped around one query. */
export const MAX_WRAPPER_DEPTH = 8
/** Methods an unbound temp key may call (api-pfs.md). */
export const UNBOUND_TEMP_KEY_METHODS: ReadonlySet<string> = new Set([
  'auth.bindTempAuthKey',
  'help.getConfig',
  'help.getNearestDc',
])

const reg = defaultRegistry
const NONE: readonly OutEntry[] = []

/** Service messages a client may send that are handled here (not RPC queries for the dispatcher). */
const SERVICE_IDS: ReadonlySet<number> = new Set([
  MT_ID.msgs_ack,
  MT_ID.ping,
  MT_ID.ping_delay_disconnect,
  MT_ID.get_future_salts,
  MT_ID.msgs_state_req,
  MT_ID.msgs_state_info,
  MT_ID.msgs_all_info,
  MT_ID.msg_resend_req,
  MT_ID.msg_detailed_info,
  MT_ID.msg_new_detailed_info,
  MT_ID.rpc_drop_answer,
  MT_ID.destroy_session,
  MT_ID.destroy_auth_key,
  MT_ID.http_wait,
  MT_ID.pong,
  MT_ID.bad_msg_notification,
  MT_ID.bad_server_salt,
  MT_ID.new_session_created,
  MT_ID.future_salts,
  MT_ID.rpc_result,
])

/**
 * Never content-related (code 34 when marked so). msgs_ack is deliberately not here: mtcute marks
 * its acks content-related and Telegram accepts that, so a 34 would only make mtcute reset its
 * session. Containers arriving at the top level are checked separately.
 */
const NEVER_CONTENT: ReadonlySet<number> = new Set([ID_MSG_CONTAINER, ID_MSG_COPY])

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

  private readonly uniqueId: bigint
  private firstMsgId: bigint
  private readonly received = new ReceivedWindow()
  private readonly outbox: Outbox
  private outSeq = 0
  /** Service replies for the next flush (responses, not content-related: pong, bad_msg_notification, ...). */
  private queue: Buffer[] = []
  private pendingAcks: bigint[] = []
  private pendingAcksSinceMs = 0
  private resendAll = false
  private resendSome: OutEntry[] = []
  /** Recent answers by query msg_id (the outbox entry: body and, once sent, its msg_id), acknowledged or not. */
  private results: Map<bigint, OutEntry> | undefined
  private inflight: Map<bigint, Promise<boolean>> | undefined
  private dropped: Set<bigint> | undefined
  private failed: Set<bigint> | undefined
  private flushScheduled = false
  private flushTicked = false
  private destroyed = false

  constructor(
    private readonly host: SessionHost,
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

  /** One message that passed the key-level checks (msg_id parity/time and salt). */
  handle(msg: InboundMessage): void {
    if (this.destroyed) return
    this.lastActiveMs = this.host.clock.now()
    const cur = this.conn
    if (cur === undefined || cur.connId !== msg.connId || cur.gatewayId !== msg.gatewayId) {
      this.attach({ gatewayId: msg.gatewayId, connId: msg.connId, clientAddr: msg.clientAddr })
    }
    if (msg.msgId < this.firstMsgId && !this.received.has(msg.msgId)) {
      // spec: a similar notification for a msg_id lower than the session's first one
      this.firstMsgId = msg.msgId
      this.queueNewSessionCreated(msg.msgId)
    }
    const ctor = constructorOf(msg.body)
    if (ctor === ID_MSG_CONTAINER) this.handleContainer(msg)
    else this.handleOne(msg.msgId, msg.seqNo, msg.body, msg)
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

  private handleContainer(msg: InboundMessage): void {
    if (this.received.has(msg.msgId)) {
      this.badMsg(msg.msgId, msg.seqNo, BadMsgCode.containerMsgIdReused, 'container msg_id reused')
      return
    }
    if ((msg.seqNo & 1) === 1) {
      this.badMsg(msg.msgId, msg.seqNo, BadMsgCode.seqNoEvenExpected, 'container marked content-related')
      return
    }
    const order = this.received.check(msg.msgId, msg.seqNo)
    if (order !== 0) {
      this.badMsg(msg.msgId, msg.seqNo, order, 'container msg_id/seqno out of order')
      return
    }
    let inner: Message[]
    try {
      inner = parseContainer(msg.body, msg.msgId)
    } catch (e) {
      if (!(e instanceof ContainerError)) throw e
      this.badMsg(msg.msgId, msg.seqNo, BadMsgCode.invalidContainer, e.reason)
      return
    }
    this.received.add(msg.msgId, msg.seqNo, Received.acked)
    for (const m of inner) this.handleOne(m.msgId, m.seqNo, m.body, msg)
  }

  private handleOne(msgId: bigint, seqNo: number, body: Buffer, outer: InboundMessage): void {
    if ((low32(msgId) & 3) !== 0) {
      this.badMsg(msgId, seqNo, BadMsgCode.msgIdParity, 'inner msg_id not divisible by 4')
      return
    }
    const seen = this.received.flags(msgId)
    if (seen >= 0) {
      this.duplicate(msgId, seen)
      return
    }
    const order = this.received.check(msgId, seqNo)
    if (order !== 0) {
      this.badMsg(msgId, seqNo, order, order === BadMsgCode.msgTooOld ? 'msg_id below the remembered window' : 'seqno out of order')
      return
    }
    const content = (seqNo & 1) === 1
    let ctor = constructorOf(body)
    if (ctor === undefined) {
      this.host.log.warn({ msgId: msgId.toString(), bytes: body.length }, 'session: message body shorter than a constructor id; ignored')
      return
    }
    if (ctor === ID_GZIP_PACKED) {
      try {
        body = unpackGzip(body)
      } catch (e) {
        this.host.log.warn({ msgId: msgId.toString(), err: (e as Error).message }, 'session: gzip_packed body does not inflate; ignored')
        this.received.add(msgId, seqNo, content ? Received.content : 0)
        return
      }
      ctor = constructorOf(body)
      if (ctor === undefined || ctor === ID_MSG_CONTAINER || ctor === ID_GZIP_PACKED) {
        this.badMsg(msgId, seqNo, BadMsgCode.invalidContainer, 'gzip_packed wraps a container or nothing')
        return
      }
    }
    const service = SERVICE_IDS.has(ctor)
    if (content && NEVER_CONTENT.has(ctor)) {
      this.badMsg(msgId, seqNo, BadMsgCode.seqNoEvenExpected, 'service message marked content-related')
      return
    }
    if (!content && !service && !NEVER_CONTENT.has(ctor) && ctor !== MT_ID.msgs_ack) {
      this.badMsg(msgId, seqNo, BadMsgCode.seqNoOddExpected, 'RPC query not marked content-related')
      return
    }
    const call = !service && ctor !== ID_MSG_COPY
    // Only RPC queries are acknowledged with msgs_ack (when their answer is not ready in the same
    // flush): service messages get their answer (pong, future_salts, msgs_state_info, ...) as the
    // acknowledgment, and clients warn about acks of them ("unexpected ack for ping query").
    const acked = content && !service
    let flags = 0
    if (content) flags |= Received.content
    if (acked) flags |= Received.acked
    if (call) flags |= Received.rpc
    this.received.add(msgId, seqNo, flags)
    if (acked) this.ack(msgId, false)
    if (ctor === ID_MSG_COPY) {
      this.host.log.info({ msgId: msgId.toString() }, 'session: msg_copy is not used by the protocol; ignored')
      return
    }
    if (service) this.service(msgId, ctor, body, outer)
    else this.startCall(msgId, body, outer)
  }

  /** A msg_id already in the received window, with its Received.* flags. */
  private duplicate(msgId: bigint, seen: number): void {
    const rpc = (seen & Received.rpc) !== 0
    const answered = (seen & Received.answered) !== 0
    this.host.log.debug({ msgId: msgId.toString(), rpc, answered }, 'session: duplicate msg_id')
    if (!rpc) return
    if (!answered) {
      if ((seen & Received.content) !== 0) this.ack(msgId, true)
      return
    }
    const pending = this.outbox.byReqMsgId(msgId)
    if (pending) {
      if (pending.msgId === undefined) return // not sent yet: it goes out with the next flush
      if (this.announceLarge(msgId, pending)) return
      if (!this.resendSome.includes(pending)) this.resendSome.push(pending)
      return
    }
    const cached = this.results?.get(msgId)
    if (cached === undefined) {
      this.host.log.info({ msgId: msgId.toString() }, 'session: duplicate query whose answer is forgotten; ignored')
      return
    }
    if (this.announceLarge(msgId, cached)) return
    this.results!.set(msgId, this.enqueue(cached.body, true, 'result', msgId))
  }

  /**
   * spec: the answer to a duplicate query, when large and already sent, is announced with
   * msg_detailed_info (status 0) rather than re-sent; the client sends msg_resend_req for it if it
   * did not get it. False when the answer is small enough to be sent again.
   */
  private announceLarge(reqMsgId: bigint, answer: OutEntry): boolean {
    const min = this.host.options.detailedInfoMinBytes ?? DETAILED_INFO_MIN_BYTES
    if (answer.msgId === undefined || answer.body.length < min) return false
    this.host.log.debug({ msgId: reqMsgId.toString(), answerMsgId: answer.msgId.toString(), bytes: answer.body.length }, 'session: duplicate query with a large answer: msg_detailed_info')
    this.reply({ _: 'msg_detailed_info', msg_id: reqMsgId, answer_msg_id: answer.msgId, bytes: answer.body.length, status: 0 })
    return true
  }

  // -------------------------------------------------------------------------------------------
  // service messages
  // -------------------------------------------------------------------------------------------

  private service(msgId: bigint, ctor: number, body: Buffer, outer: InboundMessage): void {
    if (ctor === MT_ID.ping && body.length === 12) {
      // the hot path (keep-alives, benchmarks): pong#347773c5 msg_id:long ping_id:long
      const pong = Buffer.allocUnsafe(20)
      pong.writeUInt32LE(MT_ID.pong, 0)
      writeInt64LE(pong, msgId, 4)
      for (let i = 4; i < 12; i++) pong[i + 8] = body[i]! // ping_id (no view made, unlike a partial Buffer.copy)
      this.queue.push(pong)
      return
    }
    let obj: TlObject
    try {
      obj = decode(body)
    } catch (e) {
      if (!(e instanceof TlError)) throw e
      this.host.log.warn({ msgId: msgId.toString(), ctor: ctor.toString(16), err: e.message }, 'session: malformed service message; ignored')
      return
    }
    const nowSec = Math.floor(this.host.clock.now() / 1000)
    switch (obj._) {
      case 'msgs_ack':
        for (const id of obj.msg_ids) this.outbox.ack(id)
        return
      case 'ping':
        this.reply({ _: 'pong', msg_id: msgId, ping_id: obj.ping_id })
        return
      case 'ping_delay_disconnect': {
        this.reply({ _: 'pong', msg_id: msgId, ping_id: obj.ping_id })
        const delay = Math.max(0, obj.disconnect_delay)
        this.disconnectAt = { connId: outer.connId, atMs: this.host.clock.now() + delay * 1000 }
        return
      }
      case 'get_future_salts': {
        const salts = this.host.futureSalts(this.key, obj.num)
        this.reply({
          _: 'future_salts',
          req_msg_id: msgId,
          now: nowSec,
          salts: salts.map((s) => ({ _: 'future_salt', valid_since: s.validSince, valid_until: s.validUntil, salt: s.salt })),
        })
        return
      }
      case 'msgs_state_req':
        this.reply({ _: 'msgs_state_info', req_msg_id: msgId, info: this.states(obj.msg_ids) })
        return
      case 'msg_resend_req': {
        // unacknowledged messages, and answers the client acknowledged but asks for again (after a
        // msg_detailed_info): those go back into the outbox with their msg_id
        const found: OutEntry[] = []
        for (const id of obj.msg_ids) {
          const e = this.outbox.byMsgId(id) ?? this.resultByAnswerId(id)
          if (e) found.push(e)
        }
        if (found.length === obj.msg_ids.length) {
          const queued = this.outbox.entries()
          for (const e of found) {
            if (!queued.includes(e)) this.outbox.add(e)
            if (!this.resendSome.includes(e)) this.resendSome.push(e)
          }
        } else {
          this.reply({ _: 'msgs_state_info', req_msg_id: msgId, info: this.states(obj.msg_ids) })
        }
        return
      }
      case 'msgs_state_info':
      case 'msgs_all_info':
      case 'msg_detailed_info':
      case 'msg_new_detailed_info':
        this.host.log.debug({ msgId: msgId.toString(), kind: obj._ }, 'session: client status information noted')
        return
      case 'rpc_drop_answer':
        this.dropAnswer(msgId, obj.req_msg_id)
        return
      case 'destroy_session': {
        const ok = this.host.destroySession(this.key, obj.session_id, this)
        this.reply(ok ? { _: 'destroy_session_ok', session_id: obj.session_id } : { _: 'destroy_session_none', session_id: obj.session_id })
        return
      }
      case 'destroy_auth_key':
        void this.host.destroyAuthKey(this.key).then(
          (r) => {
            this.reply(r === 'ok' ? { _: 'destroy_auth_key_ok' } : r === 'none' ? { _: 'destroy_auth_key_none' } : { _: 'destroy_auth_key_fail' })
            this.flush(true)
            if (r === 'ok') this.host.keyDestroyed(this.key)
          },
          (e: unknown) => {
            this.host.log.error({ err: (e as Error).message }, 'session: destroy_auth_key failed')
            this.reply({ _: 'destroy_auth_key_fail' })
            this.scheduleFlush()
          },
        )
        return
      case 'http_wait':
        // accepted; long polling belongs to the HTTP transport (not implemented)
        return
      default:
        this.host.log.info({ msgId: msgId.toString(), kind: obj._ }, 'session: server-side message received from a client; ignored')
    }
  }

  private resultByAnswerId(answerMsgId: bigint): OutEntry | undefined {
    if (this.results === undefined) return undefined
    for (const e of this.results.values()) if (e.msgId === answerMsgId) return e
    return undefined
  }

  private states(ids: readonly bigint[]): Buffer {
    const out = Buffer.allocUnsafe(ids.length)
    for (let i = 0; i < ids.length; i++) out[i] = this.received.state(ids[i]!)
    return out
  }

  private dropAnswer(msgId: bigint, reqMsgId: bigint): void {
    const f = this.received.flags(reqMsgId)
    let answer: TlObject
    if (f >= 0 && (f & (Received.rpc | Received.answered)) === Received.rpc) {
      ;(this.dropped ??= new Set()).add(reqMsgId)
      answer = { _: 'rpc_answer_dropped_running' }
    } else {
      const out = this.outbox.byReqMsgId(reqMsgId)
      if (out) {
        this.outbox.remove(out)
        answer = { _: 'rpc_answer_dropped', msg_id: out.msgId ?? 0n, seq_no: out.seqNo ?? 0, bytes: out.body.length }
      } else {
        answer = { _: 'rpc_answer_unknown' }
      }
    }
    this.results?.delete(reqMsgId)
    this.enqueueResult(msgId, encode(answer))
    this.received.mark(msgId, Received.rpc | Received.answered)
  }

  // -------------------------------------------------------------------------------------------
  // RPC queries
  // -------------------------------------------------------------------------------------------

  private startCall(msgId: bigint, body: Buffer, outer: InboundMessage): void {
    const conn: ClientConnection = { gatewayId: outer.gatewayId, connId: outer.connId, clientAddr: outer.clientAddr }
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
    let raw = body
    let withoutUpdates = false
    let client: ClientInfo | undefined
    const waitFor: bigint[] = []
    for (let depth = 0; ; depth++) {
      if (depth > MAX_WRAPPER_DEPTH) return this.fail(msgId, 400, 'INPUT_REQUEST_INVALID', 'too many nested wrappers')
      const ctor = constructorOf(raw)
      if (ctor === undefined) return this.fail(msgId, 400, 'INPUT_REQUEST_INVALID', 'empty query')
      if (ctor === ID_GZIP_PACKED) {
        try {
          raw = unpackGzip(raw)
        } catch (e) {
          return this.fail(msgId, 400, 'INPUT_REQUEST_INVALID', `gzip_packed query: ${(e as Error).message}`)
        }
        continue
      }
      try {
        if (ctor === API_ID.invokeWithLayer) {
          const r = new TlReader(raw, 4)
          const layer = r.int()
          raw = raw.subarray(r.offset)
          this.layer = layer
          this.key.info.layer = layer
          continue
        }
        if (ctor === API_ID.initConnection) {
          const o = decode(raw, { rawObjects: true })
          if (o._ !== 'initConnection' || !Buffer.isBuffer(o.query)) throw new TlError('BAD_VALUE', 'initConnection without a query', 0, 'query')
          if (!this.host.options.allowApiId(o.api_id)) {
            return this.fail(msgId, 400, 'API_ID_INVALID', `api_id ${o.api_id} not allowed by configuration`)
          }
          client = {
            apiId: o.api_id,
            deviceModel: o.device_model,
            systemVersion: o.system_version,
            appVersion: o.app_version,
            systemLangCode: o.system_lang_code,
            langPack: o.lang_pack,
            langCode: o.lang_code,
          }
          if (o.proxy && o.proxy._ === 'inputClientProxy') client.proxy = { address: o.proxy.address, port: o.proxy.port }
          if (o.params) client.params = jsonValue(o.params)
          this.key.info.client = client
          raw = o.query
          continue
        }
        if (ctor === API_ID.invokeAfterMsg) {
          const r = new TlReader(raw, 4)
          waitFor.push(r.long())
          raw = raw.subarray(r.offset)
          continue
        }
        if (ctor === API_ID.invokeAfterMsgs) {
          const r = new TlReader(raw, 4)
          waitFor.push(...r.vectorLong())
          raw = raw.subarray(r.offset)
          continue
        }
        if (ctor === API_ID.invokeWithoutUpdates) {
          withoutUpdates = true
          raw = raw.subarray(4)
          continue
        }
        if (ctor === API_ID.invokeWithMessagesRange) {
          return this.fail(msgId, 400, 'RANGES_INVALID', 'invokeWithMessagesRange: message ranges are not served by this server')
        }
        if (ctor === API_ID.invokeWithTakeout) {
          return this.fail(msgId, 400, 'TAKEOUT_INVALID', 'invokeWithTakeout: no takeout sessions exist on this server')
        }
      } catch (e) {
        if (!(e instanceof TlError)) throw e
        return this.fail(msgId, 400, 'INPUT_REQUEST_INVALID', `malformed wrapper: ${e.message}`)
      }
      break
    }
    // own copy: decoded bytes fields are views, and the call outlives the gateway's buffer
    raw = Buffer.from(raw)
    if (withoutUpdates) {
      if (this.updates === 'unknown') this.updates = 'off'
    } else {
      this.updates = 'on'
    }
    for (const id of waitFor) {
      const p = this.inflight?.get(id)
      const ok = p ? await p : !this.failed?.has(id)
      if (!ok) return this.fail(msgId, 400, 'MSG_WAIT_FAILED', `awaited message ${id} failed`)
    }

    const ctor = constructorOf(raw)!
    let query: TlObject | undefined
    try {
      query = decode(raw)
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
        bytes = this.encodeForLayer(outcome.result)
      } catch (e) {
        this.host.log.error({ msgId: reqMsgId.toString(), kind: outcome.result._, err: (e as Error).message }, 'session: result does not encode; answering INTERNAL')
        bytes = encode({ _: 'rpc_error', error_code: 500, error_message: 'INTERNAL' })
      }
      result = maybeGzip(bytes, this.host.options.gzipMinBytes)
    }
    this.enqueueResult(reqMsgId, result)
    this.scheduleFlush()
  }

  private encodeForLayer(obj: TlObject): Buffer {
    const layer = this.layer ?? this.key.info.layer
    if (layer !== undefined && layer !== reg.layer && SUPPORTED_LAYERS.includes(layer)) return encode(obj, registryForLayer(layer))
    return encode(obj)
  }

  private enqueueResult(reqMsgId: bigint, result: Buffer): void {
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

  /** A pushed content-related message (updates etc.): kept until acknowledged. */
  push(body: Buffer): void {
    if (this.destroyed) return
    this.enqueue(body, false, 'push')
    this.scheduleFlush()
  }

  private reply(obj: TlObject): void {
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
  private enqueue(body: Buffer, response: boolean, kind: 'result' | 'push' | 'service', reqMsgId?: bigint): OutEntry {
    const e: OutEntry = { kind, body, response }
    if (reqMsgId !== undefined) e.reqMsgId = reqMsgId
    this.outbox.add(e)
    return e
  }

  /** Queues a msgs_ack for `msgId`; `mark`: also record it as acknowledged in the received window. */
  private ack(msgId: bigint, mark: boolean): void {
    if (this.pendingAcks.length === 0) this.pendingAcksSinceMs = this.host.clock.now()
    this.pendingAcks.push(msgId)
    if (mark) this.received.mark(msgId, Received.acked)
  }

  private badMsg(msgId: bigint, seqNo: number, code: number, reason: string): void {
    this.host.log.info({ authKeyId: this.key.record.id.toString(), sessionId: this.id.toString(), msgId: msgId.toString(), code, reason }, 'session: bad_msg_notification')
    this.reply({ _: 'bad_msg_notification', bad_msg_id: msgId, bad_msg_seqno: seqNo, error_code: code })
  }

  private scheduleFlush(): void {
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
    if (this.destroyed) return
    const conn = this.conn
    if (!conn) {
      if (this.queue.length) {
        this.host.log.debug({ sessionId: this.id.toString(), dropped: this.queue.length }, 'session: no connection; replies dropped')
        this.queue = []
      }
      return
    }
    const fresh = this.outbox.unsent > 0 ? this.outbox.entries().filter((e) => e.msgId === undefined) : NONE
    let resend: readonly OutEntry[] = NONE
    if (this.resendAll) {
      resend = this.outbox.entries().filter((e) => e.msgId !== undefined)
      this.resendAll = false
    } else if (this.resendSome.length) {
      resend = this.resendSome.filter((e) => this.outbox.entries().includes(e))
    }
    if (this.resendSome.length) this.resendSome = []
    const queue = this.queue
    const hasOther = queue.length > 0 || fresh.length > 0 || resend.length > 0
    const sendAcks = this.pendingAcks.length > 0 && (hasOther || forceAcks || this.pendingAcks.length >= 16)
    if (!hasOther && !sendAcks) return

    // Content first (resends, answers, pushes), then acks and service replies: clients handle a
    // container in order, and mtcute treats a msgs_state_info saying "answer generated" before it
    // sees the answer as a lost answer and re-sends its query (executed twice).
    const msgIds = this.host.msgIds
    // the usual turn of a pinging client: service replies only (pongs), no content, no acks
    if (!sendAcks && fresh.length === 0 && resend.length === 0) {
      this.queue = []
      if (queue.length === 1) this.sendOne(conn, msgIds.next(true), this.seqNo(false), queue[0]!)
      else this.sendReplies(conn, queue)
      return
    }
    const items: Message[] = []
    let anyResponse = false
    for (const e of resend) items.push({ msgId: e.msgId!, seqNo: e.seqNo!, body: e.body })
    this.outbox.unsent = 0
    for (const e of fresh) {
      e.msgId = msgIds.next(e.response)
      e.seqNo = this.seqNo(true)
      items.push({ msgId: e.msgId, seqNo: e.seqNo, body: e.body })
      anyResponse ||= e.response
    }
    if (sendAcks) {
      for (let i = 0; i < this.pendingAcks.length; i += 8192) {
        const body = encode({ _: 'msgs_ack', msg_ids: this.pendingAcks.slice(i, i + 8192) })
        items.push({ msgId: msgIds.next(true), seqNo: this.seqNo(false), body })
      }
      this.pendingAcks = []
      anyResponse = true
    }
    // service replies are all responses (≡ 1 mod 4)
    for (const body of queue) items.push({ msgId: msgIds.next(true), seqNo: this.seqNo(false), body })
    if (queue.length) {
      this.queue = []
      anyResponse = true
    }
    this.send(conn, items, anyResponse, resend.length > 0)
  }

  /**
   * Service replies only (msg_ids ≡ 1 mod 4, even seqnos): one container, ids written straight into
   * it; more than a container holds goes through send().
   */
  private sendReplies(conn: ClientConnection, bodies: Buffer[]): void {
    let size = 8
    for (const b of bodies) size += 16 + b.length
    const msgIds = this.host.msgIds
    if (bodies.length > 1024 || size - 8 > CONTAINER_MAX_BYTES) {
      this.send(conn, bodies.map((body) => ({ msgId: msgIds.next(true), seqNo: this.seqNo(false), body })), true, false)
      return
    }
    const seqNo = this.seqNo(false)
    const out = Buffer.allocUnsafe(size)
    out.writeUInt32LE(ID_MSG_CONTAINER, 0)
    out.writeInt32LE(bodies.length, 4)
    let o = 8
    for (const b of bodies) {
      msgIds.nextInto(out, o, true)
      out.writeInt32LE(seqNo, o + 8)
      out.writeInt32LE(b.length, o + 12)
      out.set(b, o + 16)
      o += 16 + b.length
    }
    this.sendOne(conn, msgIds.next(true), seqNo, out)
  }

  private sendOne(conn: ClientConnection, msgId: bigint, seqNo: number, body: Buffer): void {
    this.host.link.send(conn.connId, { authKeyId: this.key.record.id, salt: this.host.currentSalt(this.key), sessionId: this.id, msgId, seqNo, body })
  }

  /** `resending`: items include old msg_ids, which may only go out inside a new container (spec). */
  private send(conn: ClientConnection, items: Message[], anyResponse: boolean, resending: boolean): void {
    if (items.length === 1 && !resending) {
      const m = items[0]!
      this.sendOne(conn, m.msgId, m.seqNo, m.body)
      return
    }
    let start = 0
    while (start < items.length) {
      let end = start
      let bytes = 0
      while (end < items.length && end - start < 1024 && (end === start || bytes + items[end]!.body.length <= CONTAINER_MAX_BYTES)) {
        bytes += items[end]!.body.length + 16
        end++
      }
      if (end - start === 1 && !resending) {
        const m = items[start]!
        this.sendOne(conn, m.msgId, m.seqNo, m.body)
      } else {
        const body = buildContainer(start === 0 && end === items.length ? items : items.slice(start, end))
        this.sendOne(conn, this.host.msgIds.next(anyResponse), this.seqNo(false), body)
      }
      start = end
    }
  }

  private seqNo(content: boolean): number {
    if (content) return this.outSeq++ * 2 + 1
    return this.outSeq * 2
  }

  /** Forget everything (destroy_session, idle expiry, key destroyed). */
  destroy(): void {
    this.destroyed = true
    this.queue = []
    this.pendingAcks = []
  }
}

/** TL JSONValue → plain JSON. */
export function jsonValue(v: TlObject): JsonValue {
  switch (v._) {
    case 'jsonNull':
      return null
    case 'jsonBool':
      return v.value
    case 'jsonNumber':
      return v.value
    case 'jsonString':
      return v.value
    case 'jsonArray':
      return v.value.map((x) => jsonValue(x))
    case 'jsonObject': {
      const o: { [key: string]: JsonValue } = {}
      for (const kv of v.value) o[kv.key] = jsonValue(kv.value)
      return o
    }
    default:
      return null
  }
}
