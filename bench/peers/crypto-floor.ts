/**
 * The floor under any server's CPU per auth-key exchange: the big-number work the protocol itself
 * asks of the server, done with OpenSSL as mtgate does it (src/handshake/crypto-worker.ts): one
 * RSA-2048 private-key operation (the client's encrypted p_q_inner_data) and two modular
 * exponentiations with 2048-bit exponents modulo dh_prime (g_a = g^a, then auth_key = g_b^a).
 */
import { randomBytes } from 'node:crypto'
import { dhPublic, modPowDh } from '../../src/handshake/dh-engine.js'
import type { RsaPrivateKey } from '../../src/handshake/rsa-key.js'

/** Milliseconds of this thread's CPU per exchange for that work: the best of `rounds` runs of `n` exchanges. */
export function handshakeCryptoMs(key: RsaPrivateKey, n = 50, rounds = 3): number {
  // a 256-byte block below the modulus (leading zero byte), as an RSA_PAD'ed p_q_inner_data is
  const block = Buffer.concat([Buffer.from([0]), randomBytes(255)])
  const gB = dhPublic(randomBytes(256))
  let best = Infinity
  for (let r = 0; r < rounds; r++) {
    const start = process.cpuUsage()
    for (let i = 0; i < n; i++) {
      key.decryptRaw(block)
      const a = randomBytes(256)
      dhPublic(a)
      modPowDh(gB, a)
    }
    const used = process.cpuUsage(start)
    best = Math.min(best, (used.user + used.system) / 1000 / n)
  }
  return best
}
