/**
 * Message identifiers (mtproto-description.md, "Message Identifier"): client ids are divisible by 4
 * and must lie within −300 s / +30 s of server time; server ids are time-based, ≡ 1 (mod 4) for
 * responses to a client message and ≡ 3 otherwise, strictly increasing.
 */
import type { Clock } from '../util/clock.js'
import { BadMsgCode } from './codes.js'

/** A client msg_id older than this (seconds) is rejected with code 16. */
export const MSG_ID_MAX_AGE_SECONDS = 300
/** A client msg_id further in the future than this (seconds) is rejected with code 17. */
export const MSG_ID_MAX_AHEAD_SECONDS = 30

const TWO_32 = 1n << 32n

// The two 32-bit halves of a 64-bit id without allocating intermediate bigints (`id >> 32n`,
// `id & 3n` each allocate one; these run for every message).
const split64 = new BigInt64Array(1)
const split32 = new Int32Array(split64.buffer)
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
const LO_WORD = LITTLE_ENDIAN ? 0 : 1
const HI_WORD = LITTLE_ENDIAN ? 1 : 0

/** Low 32 bits of a 64-bit id, unsigned. */
export function msgIdLow32(id: bigint): number {
  split64[0] = id
  return split32[LO_WORD]! >>> 0
}

/** High 32 bits of a 64-bit id, signed (for a msg_id: the unix time in seconds). */
export function msgIdHigh32(id: bigint): number {
  split64[0] = id
  return split32[HI_WORD]!
}

/** The (fractional) unix time a msg_id encodes, in milliseconds. */
export function msgIdToMs(msgId: bigint): number {
  split64[0] = msgId
  const secs = split32[HI_WORD]!
  const frac = split32[LO_WORD]! >>> 0
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
  if ((msgIdLow32(msgId) & 3) !== 0) return BadMsgCode.msgIdParity
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
  private last = 0n
  private lastMs = -1

  constructor(private readonly clock: Clock) {}

  /** `response`: ≡ 1 mod 4 (answers to a client message); otherwise ≡ 3 mod 4. */
  next(response: boolean): bigint {
    const want = response ? 1n : 3n
    const now = this.clock.now()
    let id: bigint
    if (now === this.lastMs) {
      id = this.last + 1n
    } else {
      id = msToMsgId(now)
      if (id <= this.last && msgIdToMs(this.last) - now <= MAX_CLOCK_STEP_BACK_MS) id = this.last + 1n
      this.lastMs = now
    }
    id += (want - (id & 3n) + 4n) & 3n
    this.last = id
    return id
  }
}
