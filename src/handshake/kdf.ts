/** Key derivations of the exchange (mtproto/auth_key steps 6, 9). All inputs are raw bytes. */
import { sha1 } from '../crypto/hash.js'

/** tmp_aes_key and tmp_aes_iv from new_nonce (32 bytes) and server_nonce (16 bytes). */
export function tmpAesKeyIv(newNonce: Uint8Array, serverNonce: Uint8Array): { key: Buffer; iv: Buffer } {
  const ns = sha1(newNonce, serverNonce)
  const sn = sha1(serverNonce, newNonce)
  const nn = sha1(newNonce, newNonce)
  return {
    key: Buffer.concat([ns, sn.subarray(0, 12)]),
    iv: Buffer.concat([sn.subarray(12, 20), nn, newNonce.subarray(0, 4)]),
  }
}

/** auth_key_aux_hash: the 64 higher-order bits of SHA1(auth_key) (first 8 bytes of the digest). */
export function authKeyAuxHash(authKey: Uint8Array): Buffer {
  return sha1(authKey).subarray(0, 8)
}

/** auth_key_id: the 64 lower-order bits of SHA1(auth_key), as the signed LE int64 on the wire. */
export function authKeyId(authKey: Uint8Array): bigint {
  return sha1(authKey).readBigInt64LE(12)
}

/** new_nonce_hash{1,2,3}: lower 128 bits of SHA1(new_nonce + byte(n) + auth_key_aux_hash). */
export function newNonceHash(newNonce: Uint8Array, n: 1 | 2 | 3, authKey: Uint8Array): Buffer {
  return sha1(newNonce, Buffer.from([n]), authKeyAuxHash(authKey)).subarray(4, 20)
}

/** new_nonce_hash of server_DH_params_fail: lower 128 bits of SHA1(new_nonce). */
export function newNonceHashPlain(newNonce: Uint8Array): Buffer {
  return sha1(newNonce).subarray(4, 20)
}

/** First server_salt = new_nonce[0:8] XOR server_nonce[0:8], as the LE int64 on the wire. */
export function firstServerSalt(newNonce: Uint8Array, serverNonce: Uint8Array): bigint {
  const b = Buffer.allocUnsafe(8)
  for (let i = 0; i < 8; i++) b[i] = newNonce[i]! ^ serverNonce[i]!
  return b.readBigInt64LE(0)
}
