/**
 * Message identifiers (mtproto-description.md, "Message Identifier"): unix time in the high 32 bits,
 * its fraction in the low ones. Client ids are divisible by 4 and must lie within −300 s / +30 s of
 * server time; server ids come from ServerMsgIdGenerator (src/util/server-msg-id.ts).
 */
import { high32, low32 } from '../util/int64.js'
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
