/**
 * The window of client msg_ids a session has accepted recently: duplicate detection, the seqno
 * order rules (codes 32/33), "too old to tell" (code 20) and msgs_state_info answers.
 *
 * Kept in one array of small integers (no object or bigint per message: a busy session receives
 * hundreds of thousands of messages, and per-message objects living for a window's worth of
 * messages survive scavenges and get promoted). Each entry is 4 int32s — msg_id high (signed),
 * msg_id low (its bits as a signed int32), seqno, flags — in a ring ordered by msg_id, grown ×2 from
 * one entry up to `max`, so an idle session stays small. A plain array of int32s holds only Smis
 * (no objects for the GC to trace) and, for an idle session's single entry, is smaller than an
 * Int32Array with its ArrayBuffer.
 */
import { high32, low32 } from '../util/int64.js'
import { BadMsgCode, MsgState } from './codes.js'

/** Accepted client msg_ids remembered per session. */
export const RECEIVED_WINDOW_MAX = 256

/** What we know of one received client message: bits of the flags word. */
export const Received = {
  /** Odd seqno: the message needs an acknowledgment. */
  content: 1,
  /** It carried an RPC query. */
  rpc: 2,
  /** The RPC answer has been generated. */
  answered: 4,
  /** We acknowledged it (msgs_ack or an answer sent). */
  acked: 8,
} as const

const STRIDE = 4
const HI = 0
const LO = 1
const SEQ = 2
const FLAGS = 3

/** -1 if a < b, 0 if equal, 1 if a > b; high words signed, low words unsigned. */
function cmp(aHi: number, aLo: number, bHi: number, bLo: number): number {
  if (aHi !== bHi) return aHi < bHi ? -1 : 1
  const a = aLo >>> 0
  const b = bLo >>> 0
  return a === b ? 0 : a < b ? -1 : 1
}

export class ReceivedWindow {
  /** Ring of entries, ascending by msg_id from `head`; capacity = data.length / STRIDE. */
  private data: number[]
  private head = 0
  private n = 0
  /** Ids at or below (forgotHi, forgotLo) may have been forgotten (initially -1). */
  private forgotHi = -1
  private forgotLo = -1

  constructor(private readonly max = RECEIVED_WINDOW_MAX) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`received window size must be a positive integer, got ${max}`)
    this.data = [0, 0, 0, 0]
  }

  get size(): number {
    return this.n
  }

  /** Whether msg_id `msgId` is in the window. */
  has(msgId: bigint): boolean {
    return this.find(msgId) >= 0
  }

  /** Whether `msgId` is new: neither in the window nor below what it remembers. */
  isNew(msgId: bigint): boolean {
    return cmp(high32(msgId), low32(msgId) | 0, this.forgotHi, this.forgotLo) > 0 && !this.has(msgId)
  }

  /** The Received.* flags of `msgId`, or -1 when it is not in the window. */
  flags(msgId: bigint): number {
    const p = this.find(msgId)
    return p < 0 ? -1 : this.data[p + FLAGS]!
  }

  /** Sets Received.* `bits` on `msgId` if it is in the window; returns its flags after, or -1. */
  mark(msgId: bigint, bits: number): number {
    const p = this.find(msgId)
    if (p < 0) return -1
    const f = this.data[p + FLAGS]! | bits
    this.data[p + FLAGS] = f
    return f
  }

  /**
   * For a message not yet in the window: 0 when acceptable, 20 when it is below what we remember,
   * 32/33 when its seqno contradicts a neighbour's (a higher msg_id must not carry a lower seqno,
   * equal seqnos are only allowed when even).
   */
  check(msgId: bigint, seqNo: number): 0 | 20 | 32 | 33 {
    const hi = high32(msgId)
    const lo = low32(msgId) | 0
    if (cmp(hi, lo, this.forgotHi, this.forgotLo) <= 0) return BadMsgCode.msgTooOld
    const i = this.upperBound(hi, lo)
    const d = this.data
    if (i > 0) {
      const prev = d[this.at(i - 1) + SEQ]!
      if (prev > seqNo || (prev === seqNo && (seqNo & 1) === 1)) return BadMsgCode.seqNoTooLow
    }
    if (i < this.n) {
      const next = d[this.at(i) + SEQ]!
      if (next < seqNo || (next === seqNo && (seqNo & 1) === 1)) return BadMsgCode.seqNoTooHigh
    }
    return 0
  }

  /** Remembers `msgId` with `seqNo` and Received.* `flags` (no-op when already there). */
  add(msgId: bigint, seqNo: number, flags: number): void {
    const hi = high32(msgId)
    const lo = low32(msgId) | 0
    let i = this.upperBound(hi, lo)
    if (i > 0) {
      const p = this.at(i - 1)
      if (this.data[p + HI] === hi && this.data[p + LO] === lo) return
    }
    if (this.n === this.max) {
      // full: the oldest id goes (or the new one, when it would be the oldest)
      if (i === 0) {
        this.forget(hi, lo)
        return
      }
      const p = this.head * STRIDE
      this.forget(this.data[p + HI]!, this.data[p + LO]!)
      this.head = this.head + 1 === this.capacity ? 0 : this.head + 1
      this.n--
      i--
    } else if (this.n === this.capacity) {
      this.grow()
    }
    const d = this.data
    // shift entries i..n-1 one slot up (usually none: new ids are the highest)
    for (let k = this.n; k > i; k--) {
      const to = this.at(k)
      const from = this.at(k - 1)
      d[to + HI] = d[from + HI]!
      d[to + LO] = d[from + LO]!
      d[to + SEQ] = d[from + SEQ]!
      d[to + FLAGS] = d[from + FLAGS]!
    }
    const p = this.at(i)
    d[p + HI] = hi
    d[p + LO] = lo
    d[p + SEQ] = seqNo
    d[p + FLAGS] = flags
    this.n++
  }

  /** The msgs_state_info byte for client msg_id `msgId`. */
  state(msgId: bigint): number {
    const hi = high32(msgId)
    const lo = low32(msgId) | 0
    const p = this.findSplit(hi, lo)
    if (p >= 0) {
      const f = this.data[p + FLAGS]!
      let s: number = MsgState.received
      if ((f & (Received.acked | Received.answered)) !== 0) s |= MsgState.flagAcked
      if ((f & Received.content) === 0) s |= MsgState.flagNoAckNeeded
      if ((f & Received.rpc) !== 0) s |= MsgState.flagRpcProcessing
      if ((f & Received.answered) !== 0) s |= MsgState.flagAnswerGenerated
      return s
    }
    if (this.n === 0 || cmp(hi, lo, this.forgotHi, this.forgotLo) <= 0) return MsgState.unknown
    const last = this.at(this.n - 1)
    if (cmp(hi, lo, this.data[last + HI]!, this.data[last + LO]!) > 0) return MsgState.notReceivedTooHigh
    const first = this.head * STRIDE
    if (cmp(hi, lo, this.data[first + HI]!, this.data[first + LO]!) < 0) return MsgState.unknown
    return MsgState.notReceived
  }

  private get capacity(): number {
    return this.data.length / STRIDE
  }

  /** Offset into data of logical entry i. */
  private at(i: number): number {
    let s = this.head + i
    const cap = this.data.length / STRIDE
    if (s >= cap) s -= cap
    return s * STRIDE
  }

  private forget(hi: number, lo: number): void {
    if (cmp(hi, lo, this.forgotHi, this.forgotLo) > 0) {
      this.forgotHi = hi
      this.forgotLo = lo
    }
  }

  private grow(): void {
    const cap = Math.min(this.capacity * 2, this.max)
    const next = new Array<number>(cap * STRIDE).fill(0)
    const d = this.data
    for (let i = 0; i < this.n; i++) {
      const from = this.at(i)
      const to = i * STRIDE
      next[to + HI] = d[from + HI]!
      next[to + LO] = d[from + LO]!
      next[to + SEQ] = d[from + SEQ]!
      next[to + FLAGS] = d[from + FLAGS]!
    }
    this.data = next
    this.head = 0
  }

  /** Offset into data of msgId's entry, or -1. */
  private find(msgId: bigint): number {
    return this.findSplit(high32(msgId), low32(msgId) | 0)
  }

  private findSplit(hi: number, lo: number): number {
    const i = this.upperBound(hi, lo)
    if (i === 0) return -1
    const p = this.at(i - 1)
    return this.data[p + HI] === hi && this.data[p + LO] === lo ? p : -1
  }

  /** First logical index whose id is greater than (hi, lo). */
  private upperBound(hi: number, lo: number): number {
    const n = this.n
    if (n === 0) return 0
    const d = this.data
    let p = this.at(n - 1)
    if (cmp(d[p + HI]!, d[p + LO]!, hi, lo) < 0) return n
    let a = 0
    let b = n
    while (a < b) {
      const mid = (a + b) >>> 1
      p = this.at(mid)
      if (cmp(d[p + HI]!, d[p + LO]!, hi, lo) <= 0) a = mid + 1
      else b = mid
    }
    return a
  }
}
