/**
 * Service messages from a client, one handler per kind: pings, acknowledgments, salts, message
 * status requests and resends, rpc_drop_answer, destroy_session / destroy_auth_key, http_wait.
 * Each handler works on the session it arrived in; answers are queued for its next flush.
 */
import { writeInt64LE } from '../util/int64.js'
import { decode, encode, MT_ID, TlError, type TlObject } from '../tl/index.js'
import type { InboundMessage } from './api.js'
import { enqueueResult } from './calls.js'
import type { OutEntry } from './outbox.js'
import { Received } from './received.js'
import type { Session } from './session.js'

type Obj<K extends TlObject['_']> = Extract<TlObject, { _: K }>

/** Service messages a client may send that are handled here (not RPC queries for the dispatcher). */
export const SERVICE_IDS: ReadonlySet<number> = new Set([
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

/** One service message (`ctor` one of SERVICE_IDS) of session `s`. */
export function handleService(s: Session, msgId: bigint, ctor: number, body: Buffer, outer: InboundMessage): void {
  if (ctor === MT_ID.ping && body.length === 12) {
    onPlainPing(s, msgId, body)
    return
  }
  let obj: TlObject
  try {
    obj = decode(body)
  } catch (e) {
    if (!(e instanceof TlError)) throw e
    s.host.log.warn({ msgId: msgId.toString(), ctor: ctor.toString(16), err: e.message }, 'session: malformed service message; ignored')
    return
  }
  switch (obj._) {
    case 'msgs_ack':
      return onMsgsAck(s, obj)
    case 'ping':
      return onPing(s, msgId, obj)
    case 'ping_delay_disconnect':
      return onPingDelayDisconnect(s, msgId, obj, outer)
    case 'get_future_salts':
      return onGetFutureSalts(s, msgId, obj)
    case 'msgs_state_req':
      return onMsgsStateReq(s, msgId, obj)
    case 'msg_resend_req':
      return onMsgResendReq(s, msgId, obj)
    case 'msgs_state_info':
    case 'msgs_all_info':
    case 'msg_detailed_info':
    case 'msg_new_detailed_info':
      s.host.log.debug({ msgId: msgId.toString(), kind: obj._ }, 'session: client status information noted')
      return
    case 'rpc_drop_answer':
      return onRpcDropAnswer(s, msgId, obj)
    case 'destroy_session':
      return onDestroySession(s, obj)
    case 'destroy_auth_key':
      return onDestroyAuthKey(s)
    case 'http_wait':
      // accepted; long polling belongs to the HTTP transport (not implemented)
      return
    default:
      s.host.log.info({ msgId: msgId.toString(), kind: obj._ }, 'session: server-side message received from a client; ignored')
  }
}

/** ping#7abe77ec of the usual size, answered without decoding (keep-alives, benchmarks). */
export function onPlainPing(s: Session, msgId: bigint, body: Buffer): void {
  // pong#347773c5 msg_id:long ping_id:long
  const pong = Buffer.allocUnsafe(20)
  pong.writeUInt32LE(MT_ID.pong, 0)
  writeInt64LE(pong, msgId, 4)
  for (let i = 4; i < 12; i++) pong[i + 8] = body[i]! // ping_id (no view made, unlike a partial Buffer.copy)
  s.queue.push(pong)
}

export function onMsgsAck(s: Session, obj: Obj<'msgs_ack'>): void {
  for (const id of obj.msg_ids) {
    const e = s.outbox.ack(id)
    if (e?.kind === 'result') s.results?.acknowledged(e)
  }
}

export function onPing(s: Session, msgId: bigint, obj: Obj<'ping'>): void {
  s.reply({ _: 'pong', msg_id: msgId, ping_id: obj.ping_id })
}

export function onPingDelayDisconnect(s: Session, msgId: bigint, obj: Obj<'ping_delay_disconnect'>, outer: InboundMessage): void {
  s.reply({ _: 'pong', msg_id: msgId, ping_id: obj.ping_id })
  const delay = Math.max(0, obj.disconnect_delay)
  s.disconnectAt = { connId: outer.connId, atMs: s.host.clock.now() + delay * 1000 }
}

export function onGetFutureSalts(s: Session, msgId: bigint, obj: Obj<'get_future_salts'>): void {
  const nowSec = Math.floor(s.host.clock.now() / 1000)
  const salts = s.host.futureSalts(s.key, obj.num)
  s.reply({
    _: 'future_salts',
    req_msg_id: msgId,
    now: nowSec,
    salts: salts.map((x) => ({ _: 'future_salt', valid_since: x.validSince, valid_until: x.validUntil, salt: x.salt })),
  })
}

export function onMsgsStateReq(s: Session, msgId: bigint, obj: Obj<'msgs_state_req'>): void {
  s.reply({ _: 'msgs_state_info', req_msg_id: msgId, info: states(s, obj.msg_ids) })
}

/**
 * Unacknowledged messages, and answers the client acknowledged but asks for again (after a
 * msg_detailed_info): those go back into the outbox with their msg_id. Any unknown id → the
 * states of all of them instead.
 */
export function onMsgResendReq(s: Session, msgId: bigint, obj: Obj<'msg_resend_req'>): void {
  const ids = new Set(obj.msg_ids)
  const reqByAnswerId = s.results?.requestsByAnswerMsgId()
  const found = new Set<OutEntry>()
  for (const id of ids) {
    const req = reqByAnswerId?.get(id)
    const e = s.outbox.byMsgId(id) ?? (req === undefined ? undefined : s.results!.get(req))
    if (e) found.add(e)
  }
  if (found.size === ids.size) {
    const queued = new Set(s.outbox.entries())
    const resending = new Set(s.resendSome)
    for (const e of found) {
      if (!queued.has(e)) s.outbox.add(e)
      if (resending.has(e)) continue
      s.resendSome.push(e)
      // re-sends are expansion the client asked for: they spend its connection's budget
      s.budget.resent += e.body.length
    }
  } else {
    s.reply({ _: 'msgs_state_info', req_msg_id: msgId, info: states(s, obj.msg_ids) })
  }
}

export function onRpcDropAnswer(s: Session, msgId: bigint, obj: Obj<'rpc_drop_answer'>): void {
  const reqMsgId = obj.req_msg_id
  const f = s.received.flags(reqMsgId)
  let answer: TlObject
  if (f >= 0 && (f & (Received.rpc | Received.answered)) === Received.rpc) {
    ;(s.dropped ??= new Set()).add(reqMsgId)
    answer = { _: 'rpc_answer_dropped_running' }
  } else {
    const out = s.outbox.byReqMsgId(reqMsgId)
    if (out) {
      s.outbox.remove(out)
      answer = { _: 'rpc_answer_dropped', msg_id: out.msgId ?? 0n, seq_no: out.seqNo ?? 0, bytes: out.body.length }
    } else {
      answer = { _: 'rpc_answer_unknown' }
    }
  }
  s.results?.delete(reqMsgId)
  enqueueResult(s, msgId, encode(answer))
  s.received.mark(msgId, Received.rpc | Received.answered)
}

export function onDestroySession(s: Session, obj: Obj<'destroy_session'>): void {
  const ok = s.host.destroySession(s.key, obj.session_id, s)
  s.reply(ok ? { _: 'destroy_session_ok', session_id: obj.session_id } : { _: 'destroy_session_none', session_id: obj.session_id })
}

export function onDestroyAuthKey(s: Session): void {
  void s.host.destroyAuthKey(s.key).then(
    (r) => {
      s.reply(r === 'ok' ? { _: 'destroy_auth_key_ok' } : r === 'none' ? { _: 'destroy_auth_key_none' } : { _: 'destroy_auth_key_fail' })
      s.flush(true)
      if (r === 'ok') s.host.keyDestroyed(s.key)
    },
    (e: unknown) => {
      s.host.log.error({ err: (e as Error).message }, 'session: destroy_auth_key failed')
      s.reply({ _: 'destroy_auth_key_fail' })
      s.scheduleFlush()
    },
  )
}

/** msgs_state_info bytes: one status byte per id. */
function states(s: Session, ids: readonly bigint[]): Buffer {
  const out = Buffer.allocUnsafe(ids.length)
  for (let i = 0; i < ids.length; i++) out[i] = s.received.state(ids[i]!)
  return out
}
