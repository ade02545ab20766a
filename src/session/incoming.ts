/**
 * Incoming checks of a session: containers, msg_id parity and order, seqno parity, duplicates,
 * gzip_packed bodies; then each message goes to its service handler or becomes an RPC call.
 */
import { low32 } from '../util/int64.js'
import { MT_ID } from '../tl/index.js'
import type { InboundMessage } from './api.js'
import { startCall } from './calls.js'
import { BadMsgCode } from './codes.js'
import { constructorOf, ContainerError, ID_GZIP_PACKED, ID_MSG_CONTAINER, ID_MSG_COPY, parseContainer, unpackGzip, type Message } from './envelope.js'
import { MESSAGE_COST, SERVICE_BYTE_COST } from './expansion.js'
import type { OutEntry } from './outbox.js'
import { Received } from './received.js'
import { handleService, SERVICE_IDS } from './service-messages.js'
import type { Session } from './session.js'

/**
 * A duplicate query whose answer (rpc_result) is at least this large and was already sent gets
 * msg_detailed_info instead of the answer (mtproto-service_messages_about_messages.md); the client
 * asks for the answer itself with msg_resend_req if it still needs it.
 */
export const DETAILED_INFO_MIN_BYTES = 4096
/**
 * Never content-related (code 34 when marked so). msgs_ack is deliberately not here: mtcute marks
 * its acks content-related and Telegram accepts that, so a 34 would only make mtcute reset its
 * session. Containers arriving at the top level are checked separately.
 */
const NEVER_CONTENT: ReadonlySet<number> = new Set([ID_MSG_CONTAINER, ID_MSG_COPY])

export function handleContainer(s: Session, msg: InboundMessage): void {
  if (s.received.has(msg.msgId)) {
    s.badMsg(msg.msgId, msg.seqNo, BadMsgCode.containerMsgIdReused, 'container msg_id reused')
    return
  }
  if ((msg.seqNo & 1) === 1) {
    s.badMsg(msg.msgId, msg.seqNo, BadMsgCode.seqNoEvenExpected, 'container marked content-related')
    return
  }
  const order = s.received.check(msg.msgId, msg.seqNo)
  if (order !== 0) {
    s.badMsg(msg.msgId, msg.seqNo, order, 'container msg_id/seqno out of order')
    return
  }
  let inner: Message[]
  try {
    inner = parseContainer(msg.body, msg.msgId)
  } catch (e) {
    if (!(e instanceof ContainerError)) throw e
    s.badMsg(msg.msgId, msg.seqNo, BadMsgCode.invalidContainer, e.reason)
    return
  }
  s.received.add(msg.msgId, msg.seqNo, Received.acked)
  // over its budget the packet is not worked through: the connection is being closed
  if (!s.budget.spend(inner.length * MESSAGE_COST)) return
  for (const m of inner) {
    if (s.budget.exceeded) return
    handleOne(s, m.msgId, m.seqNo, m.body, msg)
  }
}

export function handleOne(s: Session, msgId: bigint, seqNo: number, body: Buffer, outer: InboundMessage): void {
  if ((low32(msgId) & 3) !== 0) {
    s.badMsg(msgId, seqNo, BadMsgCode.msgIdParity, 'inner msg_id not divisible by 4')
    return
  }
  const seen = s.received.flags(msgId)
  if (seen >= 0) {
    duplicate(s, msgId, seen)
    return
  }
  const order = s.received.check(msgId, seqNo)
  if (order !== 0) {
    s.badMsg(msgId, seqNo, order, order === BadMsgCode.msgTooOld ? 'msg_id below the remembered window' : 'seqno out of order')
    return
  }
  const content = (seqNo & 1) === 1
  let ctor = constructorOf(body)
  if (ctor === undefined) {
    s.host.limitedLog.warn('short_body', { msgId: msgId.toString(), bytes: body.length }, 'session: message body shorter than a constructor id; ignored')
    return
  }
  if (ctor === ID_GZIP_PACKED) {
    try {
      body = unpackGzip(body, s.budget)
    } catch (e) {
      s.host.limitedLog.warn('gzip_failed', { msgId: msgId.toString(), err: (e as Error).message }, 'session: gzip_packed body does not inflate; ignored')
      s.received.add(msgId, seqNo, content ? Received.content : 0)
      return
    }
    ctor = constructorOf(body)
    if (ctor === undefined || ctor === ID_MSG_CONTAINER || ctor === ID_GZIP_PACKED) {
      s.badMsg(msgId, seqNo, BadMsgCode.invalidContainer, 'gzip_packed wraps a container or nothing')
      return
    }
  }
  const service = SERVICE_IDS.has(ctor)
  if (content && NEVER_CONTENT.has(ctor)) {
    s.badMsg(msgId, seqNo, BadMsgCode.seqNoEvenExpected, 'service message marked content-related')
    return
  }
  if (!content && !service && !NEVER_CONTENT.has(ctor) && ctor !== MT_ID.msgs_ack) {
    s.badMsg(msgId, seqNo, BadMsgCode.seqNoOddExpected, 'RPC query not marked content-related')
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
  s.received.add(msgId, seqNo, flags)
  if (acked) s.ack(msgId, false)
  if (ctor === ID_MSG_COPY) {
    s.host.limitedLog.info('msg_copy', { msgId: msgId.toString() }, 'session: msg_copy is not used by the protocol; ignored')
    return
  }
  if (!service) startCall(s, msgId, body, outer)
  else if (s.budget.spend(body.length * SERVICE_BYTE_COST)) handleService(s, msgId, ctor, body, outer)
}

/** A msg_id already in the received window, with its Received.* flags. */
function duplicate(s: Session, msgId: bigint, seen: number): void {
  const rpc = (seen & Received.rpc) !== 0
  const answered = (seen & Received.answered) !== 0
  s.host.log.debug({ msgId: msgId.toString(), rpc, answered }, 'session: duplicate msg_id')
  if (!rpc) return
  if (!answered) {
    if ((seen & Received.content) !== 0) s.ack(msgId, true)
    return
  }
  const pending = s.outbox.byReqMsgId(msgId)
  if (pending) {
    if (pending.msgId === undefined) return // not sent yet: it goes out with the next flush
    if (announceLarge(s, msgId, pending)) return
    if (!s.resendSome.includes(pending)) s.resendSome.push(pending)
    return
  }
  const cached = s.results?.get(msgId)
  if (cached === undefined) {
    s.host.log.info({ msgId: msgId.toString() }, 'session: duplicate query whose answer is forgotten; ignored')
    return
  }
  if (announceLarge(s, msgId, cached)) return
  s.results!.set(msgId, s.enqueue(cached.body, true, 'result', msgId))
}

/**
 * spec: the answer to a duplicate query, when large and already sent, is announced with
 * msg_detailed_info (status 0) rather than re-sent; the client sends msg_resend_req for it if it
 * did not get it. False when the answer is small enough to be sent again.
 */
function announceLarge(s: Session, reqMsgId: bigint, answer: OutEntry): boolean {
  const min = s.host.options.detailedInfoMinBytes ?? DETAILED_INFO_MIN_BYTES
  if (answer.msgId === undefined || answer.body.length < min) return false
  s.host.log.debug({ msgId: reqMsgId.toString(), answerMsgId: answer.msgId.toString(), bytes: answer.body.length }, 'session: duplicate query with a large answer: msg_detailed_info')
  s.reply({ _: 'msg_detailed_info', msg_id: reqMsgId, answer_msg_id: answer.msgId, bytes: answer.body.length, status: 0 })
  return true
}
