/**
 * Outgoing packing of a session: what one flush sends (content, acknowledgments, service
 * replies, resends), msg_ids and seqnos, and containers bounded by count and size.
 */
import { encode, MT_ID } from '../tl/index.js'
import type { ClientConnection } from './api.js'
import { buildContainer, CONTAINER_MAX_BYTES, ID_MSG_CONTAINER, ID_RPC_RESULT, type Message } from './envelope.js'
import type { OutEntry } from './outbox.js'
import type { Session } from './session.js'

const NONE: readonly OutEntry[] = []

/**
 * Sends everything pending in one message (a container when several): acknowledgments, replies,
 * new content messages and resends. Acknowledgments alone wait (unless `forceAcks`) so that they
 * ride along with the next answer.
 */
export function flushSession(s: Session, forceAcks: boolean): void {
  if (s.destroyed) return
  const conn = s.conn
  if (!conn) {
    if (s.queue.length) {
      s.host.log.debug({ sessionId: s.id.toString(), dropped: s.queue.length }, 'session: no connection; replies dropped')
      s.queue = []
    }
    return
  }
  const outbox = s.outbox
  const fresh = outbox.unsent > 0 ? outbox.entries().filter((e) => e.msgId === undefined) : NONE
  let resend: readonly OutEntry[] = NONE
  if (s.resendAll) {
    resend = outbox.entries().filter((e) => e.msgId !== undefined)
    s.resendAll = false
  } else if (s.resendSome.length) {
    resend = s.resendSome.filter((e) => outbox.entries().includes(e))
  }
  if (s.resendSome.length) s.resendSome = []
  const queue = s.queue
  const hasOther = queue.length > 0 || fresh.length > 0 || resend.length > 0
  const sendAcks = s.pendingAcks.length > 0 && (hasOther || forceAcks || s.pendingAcks.length >= 16)
  if (!hasOther && !sendAcks) return

  // Content first (resends, answers, pushes), then acks and service replies: clients handle a
  // container in order, and mtcute treats a msgs_state_info saying "answer generated" before it
  // sees the answer as a lost answer and re-sends its query (executed twice).
  const msgIds = s.host.msgIds
  // the usual turn of a pinging client: service replies only (pongs), no content, no acks
  if (!sendAcks && fresh.length === 0 && resend.length === 0) {
    s.queue = []
    if (queue.length === 1) sendOne(s, conn, msgIds.next(true), seqNo(s, false), queue[0]!)
    else sendReplies(s, conn, queue)
    return
  }
  const items: Message[] = []
  let anyResponse = false
  for (const e of resend) items.push({ msgId: e.msgId!, seqNo: e.seqNo!, body: e.body })
  outbox.unsent = 0
  for (const e of fresh) {
    e.msgId = msgIds.next(e.response)
    e.seqNo = seqNo(s, true)
    items.push({ msgId: e.msgId, seqNo: e.seqNo, body: e.body })
    anyResponse ||= e.response
  }
  if (sendAcks) {
    for (let i = 0; i < s.pendingAcks.length; i += 8192) {
      const body = encode({ _: 'msgs_ack', msg_ids: s.pendingAcks.slice(i, i + 8192) })
      items.push({ msgId: msgIds.next(true), seqNo: seqNo(s, false), body })
    }
    s.pendingAcks = []
    anyResponse = true
  }
  // service replies are all responses (≡ 1 mod 4)
  for (const body of queue) items.push({ msgId: msgIds.next(true), seqNo: seqNo(s, false), body })
  if (queue.length) {
    s.queue = []
    anyResponse = true
  }
  send(s, conn, items, anyResponse, resend.length > 0)
}

/**
 * Service replies only (msg_ids ≡ 1 mod 4, even seqnos): one container, ids written straight into
 * it; more than a container holds goes through send().
 */
function sendReplies(s: Session, conn: ClientConnection, bodies: Buffer[]): void {
  let size = 8
  for (const b of bodies) size += 16 + b.length
  const msgIds = s.host.msgIds
  if (bodies.length > 1024 || size - 8 > CONTAINER_MAX_BYTES) {
    send(s, conn, bodies.map((body) => ({ msgId: msgIds.next(true), seqNo: seqNo(s, false), body })), true, false)
    return
  }
  const seq = seqNo(s, false)
  const out = Buffer.allocUnsafe(size)
  out.writeUInt32LE(ID_MSG_CONTAINER, 0)
  out.writeInt32LE(bodies.length, 4)
  let o = 8
  for (const b of bodies) {
    msgIds.nextInto(out, o, true)
    out.writeInt32LE(seq, o + 8)
    out.writeInt32LE(b.length, o + 12)
    out.set(b, o + 16)
    o += 16 + b.length
  }
  sendOne(s, conn, msgIds.next(true), seq, out)
}

function sendOne(s: Session, conn: ClientConnection, msgId: bigint, seq: number, body: Buffer): void {
  const key = s.key
  s.host.link.send(conn.connId, { authKeyId: key.record.id, salt: s.host.currentSalt(key), sessionId: s.id, msgId, seqNo: seq, body })
}

const ID_RPC_ERROR = MT_ID.rpc_error

/** An rpc_result carrying an rpc_error. */
function isRpcError(body: Buffer): boolean {
  return body.length >= 16 && body.readUInt32LE(0) === ID_RPC_RESULT && body.readUInt32LE(12) === ID_RPC_ERROR
}

/**
 * `resending`: items include old msg_ids, which may only go out inside a new container (spec).
 * An rpc_error ends its container: GramJS's MTProtoSender rejects the call and then throws out of
 * its container loop, so it never reads the messages after an rpc_error in the same container.
 */
function send(s: Session, conn: ClientConnection, items: Message[], anyResponse: boolean, resending: boolean): void {
  if (items.length === 1 && !resending) {
    const m = items[0]!
    sendOne(s, conn, m.msgId, m.seqNo, m.body)
    return
  }
  let start = 0
  while (start < items.length) {
    let end = start
    let bytes = 0
    while (end < items.length && end - start < 1024 && (end === start || bytes + items[end]!.body.length <= CONTAINER_MAX_BYTES)) {
      bytes += items[end]!.body.length + 16
      end++
      if (isRpcError(items[end - 1]!.body)) break
    }
    if (end - start === 1 && !resending) {
      const m = items[start]!
      sendOne(s, conn, m.msgId, m.seqNo, m.body)
    } else {
      const body = buildContainer(start === 0 && end === items.length ? items : items.slice(start, end))
      sendOne(s, conn, s.host.msgIds.next(anyResponse), seqNo(s, false), body)
    }
    start = end
  }
}

/** The seqno of the next message: content-related ones odd and counted, others even. */
export function seqNo(s: Session, content: boolean): number {
  if (content) return s.outSeq++ * 2 + 1
  return s.outSeq * 2
}
