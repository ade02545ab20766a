/**
 * The expensive operations of the server side of the exchange, behind one interface so the
 * handshake state machine does not care whether they run inline (tests) or in the worker pool.
 */
import type { RandomSource } from '../crypto/random.js'
import { secureRandom } from '../crypto/random.js'
import { dhPublic, modPowDh } from './dh-engine.js'
import { RsaError } from './errors.js'
import type { RsaKeySet } from './rsa-keyset.js'

export interface HandshakeCrypto {
  /** Raw RSA private operation with the key of `fingerprint` (256 bytes). Rejects with RsaError. */
  rsaDecrypt(fingerprint: bigint, data: Buffer): Promise<Buffer>
  /** A fresh 2048-bit secret a and g_a = g^a mod dh_prime. */
  dhStart(): Promise<{ a: Buffer; gA: Buffer }>
  /** auth_key = g_b^a mod dh_prime (256 bytes); g_b must already be range-checked. */
  dhFinish(a: Buffer, gB: Buffer): Promise<Buffer>
  close(): Promise<void>
}

/** Runs on the calling thread (tests, tiny deployments). Randomness is injectable. */
export class InlineCrypto implements HandshakeCrypto {
  constructor(
    private readonly keys: RsaKeySet,
    private readonly random: RandomSource = secureRandom,
  ) {}

  async rsaDecrypt(fingerprint: bigint, data: Buffer): Promise<Buffer> {
    const key = this.keys.get(fingerprint)
    if (!key) throw new RsaError('unknown_fingerprint')
    return key.decryptRaw(data)
  }

  async dhStart(): Promise<{ a: Buffer; gA: Buffer }> {
    const a = this.random(256)
    return { a, gA: dhPublic(a) }
  }

  async dhFinish(a: Buffer, gB: Buffer): Promise<Buffer> {
    return modPowDh(gB, a)
  }

  async close(): Promise<void> {}
}
