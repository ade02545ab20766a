/**
 * Unencrypted MTProto messages (auth_key_id = 0): auth_key_id:long message_id:long
 * message_data_length:int message_data:bytes. Only the handshake uses them.
 */
import type { Clock } from '../util/clock.js'

export interface UnencryptedMessage {
  msgId: bigint
  body: Buffer
}

export interface UnencryptedLimits {
  /** Largest message_data accepted (handshake bodies are < 400 bytes). */
  maxBody: number
}

/**
 * Parses and sanity-checks one unencrypted message. `lastMsgId` is the previous client msg_id on
 * this connection (ids must grow). Returns the message or a reason string for the log.
 *
 * No server-time window is applied: before the handshake the client cannot know server time
 * (it learns it from server_DH_inner_data), so a skewed clock is legitimate here.
 */
export function parseUnencrypted(payload: Buffer, lastMsgId: bigint, limits: UnencryptedLimits): UnencryptedMessage | string {
  if (payload.length < 20) return 'too_short'
  if (payload.readBigInt64LE(0) !== 0n) return 'auth_key_id_not_zero'
  const msgId = payload.readBigInt64LE(8)
  const len = payload.readUInt32LE(16)
  if (len > limits.maxBody) return 'oversized'
  // Padded-intermediate framing may append 0..15 random bytes after the message.
  if (len > payload.length - 20 || payload.length - 20 - len >= 16) return 'length_mismatch'
  if (msgId <= 0n) return 'msg_id_not_positive'
  if (msgId % 4n !== 0n) return 'msg_id_not_client'
  if (msgId <= lastMsgId) return 'msg_id_not_increasing'
  return { msgId, body: payload.subarray(20, 20 + len) }
}

export function buildUnencrypted(msgId: bigint, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(20 + body.length)
  out.writeBigInt64LE(0n, 0)
  out.writeBigInt64LE(msgId, 8)
  out.writeUInt32LE(body.length, 16)
  out.set(body, 20)
  return out
}

/** Server msg_ids for unencrypted answers: unixtime·2^32 + fraction, ≡ 1 mod 4, strictly increasing. */
export class ServerMsgIds {
  private last = 0n

  constructor(private readonly clock: Clock) {}

  next(): bigint {
    const ms = this.clock.now()
    const sec = BigInt(Math.floor(ms / 1000))
    const frac = BigInt(Math.floor(((ms % 1000) / 1000) * 2 ** 32))
    let id = (sec << 32n) | (frac & ~3n) | 1n
    if (id <= this.last) id = this.last + 4n
    this.last = id
    return id
  }
}
