/**
 * RSA keys of the handshake: the server's private keys and the public form clients embed.
 * The fingerprint is the lower 64 bits of SHA-1 of the bare TL `rsa_public_key n:bytes e:bytes`,
 * i.e. the final 8 bytes of the digest read as a little-endian signed int64 (the TL `long`).
 */
import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  type KeyObject,
} from 'node:crypto'
import { sha1 } from '../crypto/hash.js'
import { RsaError } from './errors.js'

/** TL `bytes` serialisation (length prefix + data + zero padding to 4). */
export function tlBytes(data: Uint8Array): Buffer {
  const head = data.length < 254 ? Buffer.from([data.length]) : Buffer.from([254, data.length & 0xff, (data.length >> 8) & 0xff, (data.length >> 16) & 0xff])
  const total = head.length + data.length
  const pad = (4 - (total % 4)) % 4
  return Buffer.concat([head, data, Buffer.alloc(pad)])
}

function stripLeadingZeros(b: Buffer): Buffer {
  let i = 0
  while (i < b.length - 1 && b[i] === 0) i++
  return b.subarray(i)
}

/** Fingerprint of (n, e) given as big-endian magnitudes. */
export function rsaFingerprint(n: Uint8Array, e: Uint8Array): bigint {
  const digest = sha1(tlBytes(stripLeadingZeros(Buffer.from(n))), tlBytes(stripLeadingZeros(Buffer.from(e))))
  return digest.readBigInt64LE(12)
}

/** Unsigned 16-digit hex form of a fingerprint (how mtcute and humans print it). */
export function fingerprintHex(fp: bigint): string {
  return BigInt.asUintN(64, fp).toString(16).padStart(16, '0')
}

/**
 * Whether every client can find a key with this fingerprint. The spec allows any 64-bit value, but
 * mtcute (@mtcute/core utils/crypto/keys.js) indexes its keys by the zero-padded hex form and looks
 * resPQ's fingerprints up by `toUnsigned().toString(16)`, which drops a leading 0 digit: such a key
 * (1 in 16) is never found and mtcute cannot connect. The client wins over the spec: we never
 * create one (existing keys still load).
 */
export function fingerprintClientSafe(fp: bigint): boolean {
  return !fingerprintHex(fp).startsWith('0')
}

/** Makes one RSA private key of `bits` bits (injectable so tests can feed chosen keys). */
export type RsaKeySource = (bits: number) => KeyObject

export const nodeRsaKeySource: RsaKeySource = (bits) => generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 65537 }).privateKey

function jwkComponents(key: KeyObject): { n: Buffer; e: Buffer } {
  const jwk = key.export({ format: 'jwk' })
  if (typeof jwk.n !== 'string' || typeof jwk.e !== 'string') throw new RsaError('not_rsa', 'not an RSA key')
  return { n: Buffer.from(jwk.n, 'base64url'), e: Buffer.from(jwk.e, 'base64url') }
}

/** A public key as a client holds it (PKCS#1 "RSA PUBLIC KEY" PEM or SPKI PEM). */
export class RsaPublicKey {
  readonly n: Buffer
  readonly e: Buffer
  readonly fingerprint: bigint
  readonly modulus: bigint
  private readonly key: KeyObject

  constructor(key: KeyObject) {
    if (key.asymmetricKeyType !== 'rsa') throw new RsaError('not_rsa', 'not an RSA key')
    this.key = key
    const { n, e } = jwkComponents(key)
    this.n = n
    this.e = e
    this.modulus = BigInt('0x' + n.toString('hex'))
    this.fingerprint = rsaFingerprint(n, e)
  }

  static fromPem(pem: string): RsaPublicKey {
    try {
      return new RsaPublicKey(createPublicKey(pem))
    } catch (err) {
      if (err instanceof RsaError) throw err
      throw new RsaError('bad_pem', `cannot parse RSA public key: ${(err as Error).message}`)
    }
  }

  /** PKCS#1 PEM ("-----BEGIN RSA PUBLIC KEY-----"), the form Telegram clients embed. */
  toPem(): string {
    return this.key.export({ type: 'pkcs1', format: 'pem' }).toString()
  }

  /** Raw RSA (no padding): data^e mod n, as exactly 256 bytes. data must be < n. */
  encryptRaw(data: Uint8Array): Buffer {
    const size = this.n.length
    if (data.length > size) throw new RsaError('too_long', 'RSA input longer than the modulus')
    const input = Buffer.alloc(size)
    input.set(data, size - data.length)
    try {
      return publicEncrypt({ key: this.key, padding: constants.RSA_NO_PADDING }, input)
    } catch (err) {
      throw new RsaError('out_of_range', `RSA input not below the modulus: ${(err as Error).message}`)
    }
  }
}

/** A server private key. `retired` keys still decrypt but are no longer offered in resPQ. */
export class RsaPrivateKey {
  readonly publicKey: RsaPublicKey
  private readonly key: KeyObject

  constructor(
    key: KeyObject,
    public retired = false,
  ) {
    if (key.type !== 'private' || key.asymmetricKeyType !== 'rsa') throw new RsaError('not_rsa', 'not an RSA private key')
    this.key = key
    this.publicKey = new RsaPublicKey(createPublicKey(key))
  }

  get fingerprint(): bigint {
    return this.publicKey.fingerprint
  }

  static fromPem(pem: string, retired = false): RsaPrivateKey {
    try {
      return new RsaPrivateKey(createPrivateKey(pem), retired)
    } catch (err) {
      if (err instanceof RsaError) throw err
      throw new RsaError('bad_pem', `cannot parse RSA private key: ${(err as Error).message}`)
    }
  }

  /**
   * A new key whose fingerprint every client can look up: keys from `source` whose hex
   * fingerprint starts with 0 are thrown away (see fingerprintClientSafe; 1 in 16 tries).
   */
  static generate(bits = 2048, source: RsaKeySource = nodeRsaKeySource): RsaPrivateKey {
    for (;;) {
      const key = new RsaPrivateKey(source(bits))
      if (fingerprintClientSafe(key.fingerprint)) return key
    }
  }

  /** PKCS#8 private PEM (secret: write with mode 0600, never log). */
  toPem(): string {
    return this.key.export({ type: 'pkcs8', format: 'pem' }).toString()
  }

  /**
   * Raw RSA private operation: data^d mod n as exactly modulus-size bytes. Shorter input is
   * left-padded (clients may strip a leading zero byte). Throws RsaError('out_of_range') when the
   * number is ≥ the modulus, RsaError('too_long') when longer than the modulus.
   */
  decryptRaw(data: Uint8Array): Buffer {
    const size = this.publicKey.n.length
    if (data.length > size) throw new RsaError('too_long', 'RSA ciphertext longer than the modulus')
    const input = Buffer.alloc(size)
    input.set(data, size - data.length)
    if (input.compare(this.publicKey.n) >= 0) throw new RsaError('out_of_range', 'RSA ciphertext ≥ modulus')
    try {
      return privateDecrypt({ key: this.key, padding: constants.RSA_NO_PADDING }, input)
    } catch (err) {
      throw new RsaError('decrypt_failed', `RSA private operation failed: ${(err as Error).message}`)
    }
  }
}
