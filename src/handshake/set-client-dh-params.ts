/**
 * set_client_DH_params on an exchange in state dh_sent: client_DH_inner_data is decrypted and
 * checked, auth_key = g_b^a mod p is stored, and the answer is dh_gen_ok (state: done),
 * dh_gen_retry on an auth_key_id collision (state stays dh_sent), dh_gen_fail, or -404.
 */
import { constantTimeEqual, sha1 } from '../crypto/hash.js'
import { igeDecrypt } from '../crypto/ige.js'
import { StoreError, type AuthKeyRecord, AuthKeyType } from '../store/types.js'
import { bigFromBytes, checkDhPublic } from './dh.js'
import { HandshakeError } from './errors.js'
import type { Exchange, HandshakeStep, StepContext } from './exchange.js'
import { authKeyAuxHash, authKeyId, firstServerSalt, newNonceHash } from './kdf.js'
import { decodeWithLength, type ClientDhInnerData, type SetClientDhParams } from './messages.js'

export async function answerSetClientDhParams(ctx: StepContext, ex: Exchange, req: SetClientDhParams, raw: Buffer): Promise<HandshakeStep> {
  const o = ctx.opts
  const enc = req.encrypted_data
  if (enc.length % 16 !== 0 || enc.length < 32 || enc.length > 1024) throw new HandshakeError('close404', 'bad_encrypted_length')
  const plain = igeDecrypt(enc, ex.tmpKey!, ex.tmpIv!)
  let inner: ClientDhInnerData
  try {
    const { obj, length } = decodeWithLength(plain.subarray(20))
    if (obj._ !== 'client_DH_inner_data') throw new HandshakeError('close404', 'inner_wrong_type', `inner data is ${obj._}`)
    if (!constantTimeEqual(sha1(plain.subarray(20, 20 + length)), plain.subarray(0, 20))) throw new HandshakeError('close404', 'inner_sha1_mismatch')
    if (plain.length - 20 - length >= 16) throw new HandshakeError('close404', 'inner_padding_too_long')
    inner = obj as ClientDhInnerData
  } catch (err) {
    if (err instanceof HandshakeError) throw err
    throw new HandshakeError('close404', 'inner_not_tl')
  }
  if (!constantTimeEqual(inner.nonce, ex.nonce) || !constantTimeEqual(inner.server_nonce, ex.serverNonce)) throw new HandshakeError('close404', 'inner_nonce_mismatch')

  const newNonce = ex.newNonce!
  const base = { nonce: ex.nonce, server_nonce: ex.serverNonce }
  const genFail = (reason: string, authKey?: Buffer): HandshakeStep => {
    ctx.note(`dh_gen_fail_${reason}`, {}, 'dh_gen_fail')
    ctx.finish(ex, 'failed')
    ctx.markFailed()
    const hash = authKey ? newNonceHash(newNonce, 3, authKey) : sha1(newNonce, Buffer.from([3]), Buffer.alloc(8)).subarray(4, 20)
    return ctx.reply({ _: 'dh_gen_fail', ...base, new_nonce_hash3: hash })
  }
  const expectedRetry = ex.lastAuxHash ? ex.lastAuxHash.readBigInt64LE(0) : 0n
  if (inner.retry_id !== expectedRetry) return genFail('wrong_retry_id')
  const gB = bigFromBytes(inner.g_b)
  const range = checkDhPublic(gB)
  if (range === 'not_in_1_p-1' || inner.g_b.length > 256) return genFail(`g_b_${range ?? 'too_long'}`)
  const gBBytes = Buffer.alloc(256)
  inner.g_b.copy(gBBytes, 256 - inner.g_b.length)
  const authKey = await o.crypto.dhFinish(ex.a!, gBBytes)
  // Closed while the modexp ran: nobody would receive dh_gen_ok, so do not store an orphan key.
  if (ctx.closed) throw new HandshakeError('close404', 'connection_closed')
  if (range) return genFail(`g_b_${range}`, authKey)
  // auth_key is g_ab as 256 big-endian bytes, a leading zero byte included (1 key in 256), and
  // gets dh_gen_ok with new_nonce_hash1 over those 256 bytes, as Telegram answers. Clients that
  // keep the zero (TDLib, tgnet, gotd, Pyrogram) use the key; clients that drop it (GramJS
  // Helpers.getByteArray, mtcute bigint.toBytes, Telethon get_byte_array) fail their own
  // new_nonce_hash1 check and start a new exchange, as they do against Telegram.

  const id = authKeyId(authKey)
  const nowSec = Math.floor(ctx.now() / 1000)
  const record: AuthKeyRecord = { id, key: authKey, type: ex.type!, createdAt: nowSec }
  if (ex.type !== AuthKeyType.perm) record.expiresAt = nowSec + ex.expiresIn!
  let put: 'created' | 'exists'
  try {
    put = await o.store.put(record)
  } catch (err) {
    if (err instanceof StoreError) {
      ctx.finish(ex, 'failed')
      throw new HandshakeError('unavailable', `store_${err.code}`, err.message)
    }
    throw err
  }
  if (put === 'exists') {
    ex.retries++
    if (ex.retries > o.maxRetries) return genFail('too_many_retries', authKey)
    ex.lastAuxHash = authKeyAuxHash(authKey)
    ctx.log.info({ retries: ex.retries }, 'auth_key_id collision: dh_gen_retry')
    return ctx.reply({ _: 'dh_gen_retry', ...base, new_nonce_hash2: newNonceHash(newNonce, 2, authKey) }, ex, raw)
  }
  const serverSalt = firstServerSalt(newNonce, ex.serverNonce)
  try {
    await o.store.saveSalts(id, [{ salt: serverSalt, validSince: nowSec, validUntil: nowSec + o.firstSaltSeconds }])
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message }, 'first server salt not saved')
  }
  ctx.finish(ex, 'done')
  ctx.log.debug({ type: ex.type }, 'auth key created')
  return ctx.reply({ _: 'dh_gen_ok', ...base, new_nonce_hash1: newNonceHash(newNonce, 1, authKey) }, ex, raw, ex.dcId === undefined ? { record, serverSalt } : { record, serverSalt, dcId: ex.dcId })
}
