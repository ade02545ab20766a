/**
 * The answers a session remembers for duplicate queries and msg_resend_req: its last
 * RESULT_CACHE_MAX rpc_results, by the msg_id of the query they answer.
 *
 * An answer the client has not acknowledged is the outbox's own entry. Once acknowledged it is
 * kept as a latin1 string: a string lives in V8's heap, whereas a Buffer's bytes are an ArrayBuffer
 * that V8 counts as external memory. A remembered answer outlives the young generation (32 per
 * session are about a second of answers under load), and ArrayBuffers that die old add up until V8
 * forces a full collection at a fixed 64 MB of them, every few seconds under load; strings are
 * collected with the rest of the old generation, at the pace its growth limit sets.
 */
import type { OutEntry } from './outbox.js'

/** Cached rpc_result bodies per session (answers to duplicate queries). */
export const RESULT_CACHE_MAX = 32

/** An acknowledged answer: its msg_id and seq_no as sent, the boxed rpc_result as latin1. */
interface Acknowledged {
  msgId: bigint
  seqNo: number
  latin1: string
}

export class ResultCache {
  private readonly byReq = new Map<bigint, OutEntry | Acknowledged>()

  constructor(private readonly max = RESULT_CACHE_MAX) {}

  get size(): number {
    return this.byReq.size
  }

  /** Remembers `entry` as the answer to the query `reqMsgId`, forgetting the oldest beyond the limit. */
  set(reqMsgId: bigint, entry: OutEntry): void {
    this.byReq.set(reqMsgId, entry)
    if (this.byReq.size > this.max) this.byReq.delete(this.byReq.keys().next().value!)
  }

  /** The answer to the query `reqMsgId`, as an outbox entry (made again if it was acknowledged). */
  get(reqMsgId: bigint): OutEntry | undefined {
    const r = this.byReq.get(reqMsgId)
    if (r === undefined || !('latin1' in r)) return r
    const entry: OutEntry = { kind: 'result', body: Buffer.from(r.latin1, 'latin1'), msgId: r.msgId, seqNo: r.seqNo, reqMsgId, response: true }
    this.byReq.set(reqMsgId, entry)
    return entry
  }

  delete(reqMsgId: bigint): void {
    this.byReq.delete(reqMsgId)
  }

  /** The client acknowledged this sent answer: from now on it is kept as a string. */
  acknowledged(entry: OutEntry): void {
    const req = entry.reqMsgId
    if (req === undefined || entry.msgId === undefined || this.byReq.get(req) !== entry) return
    this.byReq.set(req, { msgId: entry.msgId, seqNo: entry.seqNo ?? 0, latin1: entry.body.toString('latin1') })
  }

  /** The query msg_ids whose answers went out with these msg_ids (unsent answers have none). */
  requestsByAnswerMsgId(): Map<bigint, bigint> {
    const m = new Map<bigint, bigint>()
    for (const [req, r] of this.byReq) if (r.msgId !== undefined) m.set(r.msgId, req)
    return m
  }
}
