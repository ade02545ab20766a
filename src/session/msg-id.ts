/**
 * Message identifiers (mtproto-description.md, "Message Identifier"): client ids are divisible by 4
 * and must lie within −300 s / +30 s of server time; server ids are time-based, ≡ 1 (mod 4) for
 * responses to a client message and ≡ 3 otherwise, strictly increasing.
 */
import type { Clock } from '../util/clock.js'
import { fromHalves, high32, low32 } from '../util/int64.js'
import { BadMsgCode } from './codes.js'

/** A client msg_id older than this (seconds) is rejected with code 16. */
export const MSG_ID_MAX_AGE_SECONDS = 300
/** A client msg_id further in the future than this (seconds) is rejected with code 17. */
export const MSG_ID_MAX_AHEAD_SECONDS = 30

const TWO_32 = 1n << 32n

/** The (fractional) unix time a msg_id encodes, in milliseconds. */
export function msgIdToMs(msgId: bigint): number {
  const secs = high32(msgId)
  const frac = low32(msgId)
  return secs * 1000 + (frac * 1000) / 4294967296
}

/** A msg_id for unix time `ms` (milliseconds), low bits as time fraction, not yet parity-adjusted. */
export function msToMsgId(ms: number): bigint {
  const secs = Math.floor(ms / 1000)
  const frac = Math.floor(((ms - secs * 1000) * 4294967296) / 1000)
  return BigInt(secs) * TWO_32 + BigInt(frac)
}

/**
 * Checks parity and time window of a client msg_id (the outer one; ids inside a container are only
 * checked for parity and ordering, since wrapping an old message into a new container is allowed).
 * Returns 0 when acceptable, else the bad_msg_notification code (18, 16 or 17).
 */
export function checkClientMsgId(msgId: bigint, nowMs: number): 0 | 16 | 17 | 18 {
  if ((low32(msgId) & 3) !== 0) return BadMsgCode.msgIdParity
  const t = msgIdToMs(msgId)
  if (t < nowMs - MSG_ID_MAX_AGE_SECONDS * 1000) return BadMsgCode.msgIdTooLow
  if (t > nowMs + MSG_ID_MAX_AHEAD_SECONDS * 1000) return BadMsgCode.msgIdTooHigh
  return 0
}

/**
 * When the server clock steps back by more than this, msg_ids follow the clock again instead of
 * staying ahead of it: clients synchronise their clocks from our msg_ids (codes 16/17), so ids
 * stuck in the future would make every client's messages "too high" (an endless 17 loop).
 */
export const MAX_CLOCK_STEP_BACK_MS = 30_000

/** Generates server msg_ids: time-based, strictly increasing, with the requested residue mod 4. */
export class ServerMsgIdGenerator {
  /** The last id as two numbers (seconds, 32-bit fraction): no bigint arithmetic per id. */
  private lastHi = 0
  private lastLo = 0
  private lastMs = -1

  constructor(private readonly clock: Clock) {}

  /** `response`: ≡ 1 mod 4 (answers to a client message); otherwise ≡ 3 mod 4. */
  next(response: boolean): bigint {
    this.advance(response)
    return fromHalves(this.lastHi, this.lastLo)
  }

  /** next(), written as a little-endian long into buf[offset..offset+8) (no bigint made). */
  nextInto(buf: Buffer, offset: number, response: boolean): void {
    this.advance(response)
    buf.writeUInt32LE(this.lastLo, offset)
    buf.writeInt32LE(this.lastHi, offset + 4)
  }

  private advance(response: boolean): void {
    const want = response ? 1 : 3
    const now = this.clock.now()
    let hi: number
    let lo: number
    if (now === this.lastMs) {
      hi = this.lastHi
      lo = this.lastLo + 1
    } else {
      // msToMsgId(now), in numbers
      hi = Math.floor(now / 1000)
      lo = Math.floor(((now - hi * 1000) * 4294967296) / 1000)
      const notAhead = hi < this.lastHi || (hi === this.lastHi && lo <= this.lastLo)
      if (notAhead && this.lastHi * 1000 + (this.lastLo * 1000) / 4294967296 - now <= MAX_CLOCK_STEP_BACK_MS) {
        hi = this.lastHi
        lo = this.lastLo + 1
      }
      this.lastMs = now
    }
    lo += (want - (lo & 3) + 4) & 3
    if (lo >= 4294967296) {
      lo -= 4294967296
      hi++
    }
    this.lastHi = hi
    this.lastLo = lo
  }
}
