/**
 * Unencrypted MTProto messages (auth_key_id = 0): auth_key_id:long message_id:long
 * message_data_length:int message_data:bytes. Only the handshake uses them.
 */
import type { CodecName } from '../transport/codec.js'

export interface UnencryptedMessage {
  msgId: bigint
  body: Buffer
}

export interface UnencryptedLimits {
  /** Largest message_data accepted (handshake bodies are < 400 bytes). */
  maxBody: number
  /** Most bytes accepted after the message in the frame (see maxTrailingBytes). */
  maxTrailing: number
}

/**
 * Bytes a frame may carry after an unencrypted message. tgnet (Connection.cpp, sendData) appends
 * 0..256 random bytes to every unencrypted message on padded intermediate (`dd` secrets, fake-TLS)
 * and on plain intermediate (rounded up to 4); Telegram iOS (MtProtoKit MTProto.m,
 * _dataForPlainMessage) appends 0..236 on padded intermediate, whose framing adds 0..15 more
 * (tdesktop's 0..15 too). Other framings carry no padding (0..15 tolerated).
 */
export function maxTrailingBytes(codec: CodecName | 'http'): number {
  return codec === 'padded' || codec === 'intermediate' ? 256 : 15
}

/** What the log says about a refused unencrypted packet (no secrets: nothing here is encrypted). */
export function describeUnencrypted(payload: Buffer): { packetLength: number; bodyLength?: number; constructorId?: string } {
  const d: { packetLength: number; bodyLength?: number; constructorId?: string } = { packetLength: payload.length }
  if (payload.length >= 20) d.bodyLength = payload.readUInt32LE(16)
  if (payload.length >= 24) d.constructorId = payload.readUInt32LE(20).toString(16).padStart(8, '0')
  return d
}

/**
 * Parses and sanity-checks one unencrypted message. Returns the message or a reason string for the log.
 *
 * No server-time window is applied: before the handshake the client cannot know server time
 * (it learns it from server_DH_inner_data), so a skewed clock is legitimate here. Nor must msg_ids
 * grow: Telegram Desktop rebases its msg_ids on server_time between req_DH_params and
 * set_client_DH_params (lib_base unixtime.cpp, update: a difference of 3 s or more), so a client
 * whose clock runs fast sends a smaller one; Telegram iOS does when its clock steps back. The
 * exchange's own state machine orders the requests.
 */
export function parseUnencrypted(payload: Buffer, limits: UnencryptedLimits): UnencryptedMessage | string {
  if (payload.length < 20) return 'too_short'
  if (payload.readBigInt64LE(0) !== 0n) return 'auth_key_id_not_zero'
  const msgId = payload.readBigInt64LE(8)
  const len = payload.readUInt32LE(16)
  if (len > limits.maxBody) return 'oversized'
  if (len > payload.length - 20 || payload.length - 20 - len > limits.maxTrailing) return 'length_mismatch'
  // TDLib sends its connection ping (req_pq_multi) with msg_id 1 and its key exchange with msg_id 0
  // (td/mtproto/PingConnection.h, HandshakeConnection.h: NoCryptoImpl), on the same connection;
  // Telegram answers both.
  if (msgId === 0n || msgId === 1n) return { msgId, body: payload.subarray(20, 20 + len) }
  if (msgId < 0n) return 'msg_id_not_positive'
  if (msgId % 4n !== 0n) return 'msg_id_not_client'
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
