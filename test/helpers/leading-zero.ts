/**
 * A forced leading-zero auth key: fixed DH secrets a (the server's) and b (the client's) whose key
 * (g^b)^a mod dh_prime starts with a 0 byte, as 1 key in 256 really does. A test gives the server
 * `firstSecret(a)` as its random source and the client library b through its own random source
 * (GramJS Helpers.generateRandomBytes, mtcute's crypto provider, os.urandom, gotd's Options.Random).
 */
import { createHash } from 'node:crypto'
import { secureRandom, type RandomSource } from '../../src/crypto/random.js'
import { dhPublic, modPowDh } from '../../src/handshake/dh-engine.js'

export interface LeadingZeroPair {
  /** The server's secret a (256 bytes, big-endian). */
  a: Buffer
  /** The client's secret b (256 bytes, big-endian). */
  b: Buffer
  /** The 256-byte auth key; key[0] === 0. */
  key: Buffer
}

let found: LeadingZeroPair | undefined

/** Deterministic: b from a fixed hash, a searched (about 256 modexps, once per process). */
export function leadingZeroPair(): LeadingZeroPair {
  if (found) return found
  const h = createHash('sha512').update('mtgate client b').digest()
  const b = Buffer.concat([h, h, h, h])
  const gB = dhPublic(b)
  for (let i = 0; ; i++) {
    const d = createHash('sha512').update(`mtgate server a ${i}`).digest()
    const a = Buffer.concat([d, d, d, d])
    const key = modPowDh(gB, a)
    if (key[0] === 0) return (found = { a, b, key })
  }
}

/** `fallback`, except that the first request for 256 bytes (the DH secret) gets `secret`. */
export function firstSecret(secret: Buffer, fallback: RandomSource = secureRandom): RandomSource {
  let used = false
  return (n) => {
    if (n === 256 && !used) {
      used = true
      return Buffer.from(secret)
    }
    return fallback(n)
  }
}
