/**
 * RSA_PAD (mtproto/auth_key 4.1): the OAEP+-like wrapping of p_q_inner_data, and the legacy
 * "SHA1(data) + data + padding" form older clients still send (mtcute for keys marked old).
 * The raw RSA operation is done elsewhere (RsaPrivateKey.decryptRaw, in the worker pool); these
 * functions work on the 256-byte RSA plaintext.
 */
import { sha1, sha256, constantTimeEqual } from '../crypto/hash.js'
import { igeDecrypt, igeEncrypt } from '../crypto/ige.js'
import type { RandomSource } from '../crypto/random.js'
import type { RsaPublicKey } from './rsa-key.js'
import { RsaError } from './errors.js'

const ZERO_IV = Buffer.alloc(32)

function xor(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(a.length)
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!
  return out
}

/**
 * Unwraps RSA_PAD: returns data_with_padding (192 bytes: the TL inner data followed by random
 * padding), or undefined when the SHA-256 check fails (not RSA_PAD, or tampered).
 */
export function rsaPadUnwrap(plain: Buffer): Buffer | undefined {
  if (plain.length !== 256) return undefined
  const tempKeyXor = plain.subarray(0, 32)
  const aesEncrypted = plain.subarray(32)
  const tempKey = xor(tempKeyXor, sha256(aesEncrypted))
  const dataWithHash = igeDecrypt(aesEncrypted, tempKey, ZERO_IV)
  const dataWithPadding = Buffer.from(dataWithHash.subarray(0, 192)).reverse()
  const hash = dataWithHash.subarray(192, 224)
  if (!constantTimeEqual(sha256(tempKey, dataWithPadding), hash)) return undefined
  return dataWithPadding
}

/**
 * The legacy form: plain = 0x00 + SHA1(data) + data + random padding (255 bytes after the zero).
 * Returns the region that starts with the inner data; the caller parses one TL object from it and
 * confirms with legacyHashMatches(plain, consumedLength).
 */
export function legacyCandidate(plain: Buffer): Buffer | undefined {
  if (plain.length !== 256 || plain[0] !== 0) return undefined
  return plain.subarray(21)
}

export function legacyHashMatches(plain: Buffer, dataLength: number): boolean {
  if (dataLength <= 0 || 21 + dataLength > plain.length) return false
  return constantTimeEqual(sha1(plain.subarray(21, 21 + dataLength)), plain.subarray(1, 21))
}

/**
 * Client side of RSA_PAD: wraps `data` (≤ 144 bytes) and RSA-encrypts it with `key`.
 * `random` supplies the padding and temp_key (injectable for vectors).
 */
export function rsaPadEncrypt(data: Uint8Array, key: RsaPublicKey, random: RandomSource): Buffer {
  if (data.length > 144) throw new RsaError('too_long', 'RSA_PAD data longer than 144 bytes')
  const dataWithPadding = Buffer.concat([data, random(192 - data.length)])
  const reversed = Buffer.from(dataWithPadding).reverse()
  for (let attempt = 0; attempt < 64; attempt++) {
    const tempKey = random(32)
    const dataWithHash = Buffer.concat([reversed, sha256(tempKey, dataWithPadding)])
    const aesEncrypted = igeEncrypt(dataWithHash, tempKey, ZERO_IV)
    const keyAesEncrypted = Buffer.concat([xor(tempKey, sha256(aesEncrypted)), aesEncrypted])
    if (keyAesEncrypted.compare(key.n) >= 0) continue
    return key.encryptRaw(keyAesEncrypted)
  }
  throw new RsaError('out_of_range', 'RSA_PAD: no temp_key gave a value below the modulus')
}

/** Client side of the legacy form (for tests of the server's legacy path). */
export function legacyEncrypt(data: Uint8Array, key: RsaPublicKey, random: RandomSource): Buffer {
  if (data.length > 235) throw new RsaError('too_long', 'legacy RSA data longer than 235 bytes')
  const plain = Buffer.concat([Buffer.from([0]), sha1(data), data, random(235 - data.length)])
  return key.encryptRaw(plain)
}
