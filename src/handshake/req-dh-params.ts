/**
 * req_DH_params on an exchange in state pq_sent: the client's p, q and RSA-encrypted
 * p_q_inner_data are checked, and the answer is server_DH_params_ok (state: dh_sent),
 * server_DH_params_fail (once new_nonce is known), or -404 / -444 (thrown HandshakeError).
 */
import { constantTimeEqual, sha1 } from '../crypto/hash.js'
import { igeEncrypt } from '../crypto/ige.js'
import { AuthKeyType } from '../store/types.js'
import { bigFromBytes, DH_G, DH_PRIME } from './dh.js'
import { HandshakeError, RsaError } from './errors.js'
import type { Exchange, HandshakeStep, StepContext } from './exchange.js'
import { newNonceHashPlain, tmpAesKeyIv } from './kdf.js'
import { decodeWithLength, PQ_INNER_TYPES, serialize, type PQInnerData, type ReqDhParams } from './messages.js'
import { legacyCandidate, legacyHashMatches, rsaPadUnwrap } from './rsa-pad.js'

export async function answerReqDhParams(ctx: StepContext, ex: Exchange, req: ReqDhParams, raw: Buffer): Promise<HandshakeStep> {
  if (bigFromBytes(req.p) !== ex.pair.p || bigFromBytes(req.q) !== ex.pair.q) throw new HandshakeError('close404', 'wrong_p_q', 'p, q do not factor our pq')
  const o = ctx.opts
  if (!o.keys.get(req.public_key_fingerprint)) throw new HandshakeError('close404', 'unknown_fingerprint', `no key ${BigInt.asUintN(64, req.public_key_fingerprint).toString(16)}`)
  if (req.encrypted_data.length > 256 || req.encrypted_data.length < 128) throw new HandshakeError('close404', 'bad_encrypted_length')

  let plain: Buffer
  try {
    plain = await o.crypto.rsaDecrypt(req.public_key_fingerprint, req.encrypted_data)
  } catch (err) {
    if (err instanceof RsaError) throw new HandshakeError('close404', `rsa_${err.reason}`, err.message)
    throw err
  }
  const inner = unwrapInner(ctx, plain)

  // new_nonce is known from here on: mismatches are answered with server_DH_params_fail.
  if (!constantTimeEqual(inner.nonce, ex.nonce) || !constantTimeEqual(inner.server_nonce, ex.serverNonce)) throw new HandshakeError('close404', 'inner_nonce_mismatch')
  if (inner.new_nonce.length !== 32) throw new HandshakeError('close404', 'bad_new_nonce')
  const dhFail = (reason: string, detail: object = {}, msg = 'server_DH_params_fail'): HandshakeStep => {
    ctx.note(`server_DH_params_fail_${reason}`, detail, msg)
    ctx.finish(ex, 'failed')
    ctx.markFailed()
    return ctx.reply({ _: 'server_DH_params_fail', nonce: ex.nonce, server_nonce: ex.serverNonce, new_nonce_hash: newNonceHashPlain(inner.new_nonce) })
  }
  if (bigFromBytes(inner.pq) !== ex.pair.pq || bigFromBytes(inner.p) !== ex.pair.p || bigFromBytes(inner.q) !== ex.pair.q) return dhFail('inner_p_q_mismatch')
  let media = false
  if ('dc' in inner) {
    const abs = Math.abs(inner.dc)
    const dc = o.testMode ? abs - 10000 : abs
    if (!o.dcIds.includes(dc)) {
      if (o.dcIds.includes(o.testMode ? abs : abs - 10000)) throw new HandshakeError('close444', 'test_prod_mismatch')
      return dhFail('wrong_dc', { dc: inner.dc, served: o.dcIds }, `server_DH_params_fail: the client asked for dc ${inner.dc}, which is not served (dc_ids)`)
    }
    media = inner.dc < 0
    ex.dcId = dc
  }
  const temp = inner._ === 'p_q_inner_data_temp' || inner._ === 'p_q_inner_data_temp_dc'
  if (temp) {
    if (!inner.expires_in || inner.expires_in <= 0) return dhFail('bad_expires_in')
    ex.expiresIn = Math.min(inner.expires_in, o.maxTempSeconds)
    ex.type = media ? AuthKeyType.mediaTemp : AuthKeyType.temp
  } else {
    ex.type = AuthKeyType.perm
  }

  ex.newNonce = Buffer.from(inner.new_nonce)
  const { key, iv } = tmpAesKeyIv(ex.newNonce, ex.serverNonce)
  ex.tmpKey = key
  ex.tmpIv = iv
  const { a, gA } = await o.crypto.dhStart()
  ex.a = a
  const answer = serialize({
    _: 'server_DH_inner_data',
    nonce: ex.nonce,
    server_nonce: ex.serverNonce,
    g: DH_G,
    dh_prime: DH_PRIME,
    g_a: gA,
    server_time: Math.floor(ctx.now() / 1000),
  })
  const len = 20 + answer.length
  const withHash = Buffer.concat([sha1(answer), answer, o.random((16 - (len % 16)) % 16)])
  ex.state = 'dh_sent'
  return ctx.reply({ _: 'server_DH_params_ok', nonce: ex.nonce, server_nonce: ex.serverNonce, encrypted_answer: igeEncrypt(withHash, key, iv) }, ex, raw)
}

/** RSA_PAD first, then the legacy SHA-1 form; returns the inner data or throws -404. */
function unwrapInner(ctx: StepContext, plain: Buffer): PQInnerData {
  const padded = rsaPadUnwrap(plain)
  let obj: { _: string } | undefined
  if (padded) {
    try {
      obj = decodeWithLength(padded).obj
    } catch {
      throw new HandshakeError('close404', 'inner_not_tl')
    }
  } else {
    const cand = legacyCandidate(plain)
    if (!cand) throw new HandshakeError('close404', 'bad_padding', 'neither RSA_PAD nor legacy form')
    let decoded: { obj: { _: string }; length: number }
    try {
      decoded = decodeWithLength(cand)
    } catch {
      throw new HandshakeError('close404', 'bad_padding', 'neither RSA_PAD nor legacy form')
    }
    if (!legacyHashMatches(plain, decoded.length)) throw new HandshakeError('close404', 'bad_padding', 'legacy SHA-1 mismatch')
    ctx.log.debug('p_q_inner_data in the legacy SHA-1 RSA form')
    obj = decoded.obj
  }
  if (!PQ_INNER_TYPES.has(obj._)) throw new HandshakeError('close404', 'inner_wrong_type', `inner data is ${obj._}`)
  return obj as PQInnerData
}
