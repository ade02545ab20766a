/**
 * The window of client msg_ids a session has accepted recently: duplicate detection, the seqno
 * order rules (codes 32/33), "too old to tell" (code 20) and msgs_state_info answers.
 */
import { BadMsgCode, MsgState } from './codes.js'

/** Accepted client msg_ids remembered per session. */
export const RECEIVED_WINDOW_MAX = 256

/** What we know of one received client message. */
export interface ReceivedEntry {
  seqNo: number
  /** Odd seqno: the message needs an acknowledgment. */
  content: boolean
  /** It carried an RPC query. */
  rpc: boolean
  /** The RPC answer has been generated. */
  answered: boolean
  /** We acknowledged it (msgs_ack or an answer sent). */
  acked: boolean
}

export class ReceivedWindow {
  /** Ascending msg_ids and, in parallel, their entries (binary search; new ids usually append). */
  private ids: bigint[] = []
  private entries: ReceivedEntry[] = []
  /** Ids at or below this may have been forgotten. */
  private forgottenBelow = -1n

  constructor(private readonly max = RECEIVED_WINDOW_MAX) {}

  get size(): number {
    return this.ids.length
  }

  get(msgId: bigint): ReceivedEntry | undefined {
    const n = this.ids.length
    if (n === 0 || msgId > this.ids[n - 1]!) return undefined
    const i = this.upperBound(msgId) - 1
    return i >= 0 && this.ids[i] === msgId ? this.entries[i] : undefined
  }

  /**
   * For a message not yet in the window: 0 when acceptable, 20 when it is below what we remember,
   * 32/33 when its seqno contradicts a neighbour's (a higher msg_id must not carry a lower seqno,
   * equal seqnos are only allowed when even).
   */
  check(msgId: bigint, seqNo: number): 0 | 20 | 32 | 33 {
    if (msgId <= this.forgottenBelow) return BadMsgCode.msgTooOld
    const i = this.upperBound(msgId)
    if (i > 0) {
      const prev = this.entries[i - 1]!
      if (prev.seqNo > seqNo || (prev.seqNo === seqNo && (seqNo & 1) === 1)) return BadMsgCode.seqNoTooLow
    }
    if (i < this.ids.length) {
      const next = this.entries[i]!
      if (next.seqNo < seqNo || (next.seqNo === seqNo && (seqNo & 1) === 1)) return BadMsgCode.seqNoTooHigh
    }
    return 0
  }

  add(msgId: bigint, entry: ReceivedEntry): void {
    const i = this.upperBound(msgId)
    if (i > 0 && this.ids[i - 1] === msgId) return
    if (this.ids.length === 0) {
      // array literals of one element: an idle session keeps 1-element arrays, not 17-slot ones
      this.ids = [msgId]
      this.entries = [entry]
    } else if (i === this.ids.length) {
      this.ids.push(msgId)
      this.entries.push(entry)
    } else {
      this.ids.splice(i, 0, msgId)
      this.entries.splice(i, 0, entry)
    }
    if (this.ids.length > this.max) {
      const old = this.ids.shift()!
      this.entries.shift()
      if (old > this.forgottenBelow) this.forgottenBelow = old
    }
  }

  /** The msgs_state_info byte for client msg_id `msgId`. */
  state(msgId: bigint): number {
    const e = this.get(msgId)
    if (e) {
      let s: number = MsgState.received
      if (e.acked || e.answered) s |= MsgState.flagAcked
      if (!e.content) s |= MsgState.flagNoAckNeeded
      if (e.rpc) s |= MsgState.flagRpcProcessing
      if (e.answered) s |= MsgState.flagAnswerGenerated
      return s
    }
    if (msgId <= this.forgottenBelow || this.ids.length === 0) return MsgState.unknown
    if (msgId > this.ids[this.ids.length - 1]!) return MsgState.notReceivedTooHigh
    if (msgId < this.ids[0]!) return MsgState.unknown
    return MsgState.notReceived
  }

  /** First index whose id is greater than msgId. */
  private upperBound(msgId: bigint): number {
    const ids = this.ids
    const n = ids.length
    if (n === 0 || ids[n - 1]! < msgId) return n
    let lo = 0
    let hi = n
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (ids[mid]! <= msgId) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}
