/**
 * auth.bindTempAuthKey (api-pfs.md and the method's page): the client proves it owns the permanent
 * key by sending `encrypted_message`, an MTProto 1.0 message encrypted with the PERMANENT key:
 *   auth_key_id(perm) | msg_key = SHA1(plaintext without padding)[4:20] | AES-IGE(key/iv from the
 *   v1 KDF, x = 0) of: random(16: salt + session) | msg_id (= the request's) | seqno = 0 | length = 40
 *   | bind_auth_key_inner | 0..15 bytes of padding.
 * The inner object must match the request and the temp key/session it arrives on.
 */
import { constantTimeEqual, sha1 } from '../crypto/hash.js'
import { igeDecrypt } from '../crypto/ige.js'
import { AuthKeyType, type AuthKeyRecord } from '../store/types.js'
import { decode, TlError } from '../tl/index.js'

/** Serialized size of bind_auth_key_inner (constructor + 4 longs + int). */
export const BIND_INNER_SIZE = 40

export class BindTempKeyError extends Error {
  constructor(
    /** rpc_error answered to the client. */
    readonly rpcCode: number,
    readonly rpcMessage: string,
    /** Why (for the log line; never contains key material). */
    readonly reason: string,
  ) {
    super(`${rpcMessage}: ${reason}`)
    this.name = 'BindTempKeyError'
  }
}

/** MTProto 1.0 KDF (mtproto-description.md, old version), x = 0 for client → server. */
export function deriveAesKeyIvV1(authKey: Buffer, msgKey: Buffer, x: 0 | 8): { key: Buffer; iv: Buffer } {
  const a = sha1(msgKey, authKey.subarray(x, x + 32))
  const b = sha1(authKey.subarray(32 + x, 48 + x), msgKey, authKey.subarray(48 + x, 64 + x))
  const c = sha1(authKey.subarray(64 + x, 96 + x), msgKey)
  const d = sha1(msgKey, authKey.subarray(96 + x, 128 + x))
  const key = Buffer.concat([a.subarray(0, 8), b.subarray(8, 20), c.subarray(4, 16)])
  const iv = Buffer.concat([a.subarray(8, 20), b.subarray(0, 8), c.subarray(16, 20), d.subarray(0, 8)])
  return { key, iv }
}

export interface BindRequest {
  perm_auth_key_id: bigint
  nonce: bigint
  expires_at: number
  encrypted_message: Buffer
}

export interface BindContext {
  /** The temp key the request arrived on. */
  tempKey: AuthKeyRecord
  sessionId: bigint
  /** msg_id of the message carrying the request. */
  msgId: bigint
  /** The permanent key named by the request (from the store), undefined when unknown. */
  permKey: AuthKeyRecord | undefined
}

/** Validates the request; returns the binding expiry (unix seconds) or throws BindTempKeyError. */
export function validateBindTempAuthKey(req: BindRequest, ctx: BindContext): number {
  const invalid = (reason: string): BindTempKeyError => new BindTempKeyError(400, 'ENCRYPTED_MESSAGE_INVALID', reason)
  if (ctx.tempKey.type === AuthKeyType.perm) {
    throw new BindTempKeyError(400, 'TEMP_AUTH_KEY_EMPTY', 'request sent on a permanent key')
  }
  const perm = ctx.permKey
  if (!perm) throw invalid('unknown permanent key')
  if (perm.type !== AuthKeyType.perm) throw invalid('the named key is not a permanent key')
  const em = req.encrypted_message
  if (em.length < 24 + 32 + BIND_INNER_SIZE || (em.length - 24) % 16 !== 0) {
    throw invalid(`encrypted_message of ${em.length} bytes`)
  }
  if (em.readBigInt64LE(0) !== perm.id || perm.id !== req.perm_auth_key_id) {
    throw invalid('auth_key_id of encrypted_message differs from perm_auth_key_id')
  }
  const msgKey = em.subarray(8, 24)
  const { key, iv } = deriveAesKeyIvV1(perm.key, msgKey, 0)
  const plain = igeDecrypt(em.subarray(24), key, iv)
  const len = plain.readInt32LE(28)
  if (len !== BIND_INNER_SIZE) throw invalid(`message_data_length ${len}`)
  const pad = plain.length - 32 - len
  if (pad < 0 || pad > 15) throw invalid(`padding of ${pad} bytes`)
  const expected = sha1(plain.subarray(0, 32 + len)).subarray(4, 20)
  if (!constantTimeEqual(expected, msgKey)) throw invalid('msg_key mismatch')
  const msgId = plain.readBigInt64LE(16)
  const seqNo = plain.readInt32LE(24)
  if (msgId !== ctx.msgId) throw invalid('msg_id differs from the request message')
  if (seqNo !== 0) throw invalid(`seqno ${seqNo}`)
  let inner
  try {
    inner = decode(plain.subarray(32, 32 + len))
  } catch (e) {
    if (e instanceof TlError) throw invalid(`inner object: ${e.message}`)
    throw e
  }
  if (inner._ !== 'bind_auth_key_inner') throw invalid(`inner object is ${inner._}`)
  if (inner.nonce !== req.nonce) throw invalid('nonce mismatch')
  if (inner.temp_auth_key_id !== ctx.tempKey.id) throw invalid('temp_auth_key_id is not the key of the request')
  if (inner.perm_auth_key_id !== req.perm_auth_key_id) throw invalid('perm_auth_key_id mismatch')
  if (inner.temp_session_id !== ctx.sessionId) throw invalid('temp_session_id is not the session of the request')
  if (inner.expires_at !== req.expires_at) throw invalid('expires_at mismatch')
  // expires_at itself is not checked against the server clock: tgnet (Handshake.cpp, the
  // auth.bindTempAuthKey request) adds its clock offset twice, so a phone a day ahead sends a time
  // in the past, and Telegram binds it. The temp key's own lifetime (expires_in) governs.
  return ctx.tempKey.expiresAt ?? req.expires_at
}
