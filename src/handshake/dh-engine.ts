/**
 * Fast modexp for the fixed dh_prime: one node:crypto DiffieHellman object per thread (OpenSSL
 * checks the prime once, at construction — never per handshake), then setPrivateKey(x) +
 * computeSecret(base) = base^x mod dh_prime.
 */
import { createDiffieHellman, type DiffieHellman } from 'node:crypto'
import { DH_G, DH_PRIME } from './dh.js'

let shared: DiffieHellman | undefined

function engine(): DiffieHellman {
  shared ??= createDiffieHellman(DH_PRIME, Buffer.from([DH_G]))
  return shared
}

function pad256(b: Buffer): Buffer {
  if (b.length === 256) return b
  const out = Buffer.alloc(256)
  b.copy(out, 256 - b.length)
  return out
}

/** base^exp mod dh_prime as 256 bytes. base must satisfy 1 < base < dh_prime − 1. */
export function modPowDh(base: Uint8Array, exp: Uint8Array): Buffer {
  const dh = engine()
  dh.setPrivateKey(Buffer.from(exp))
  return pad256(dh.computeSecret(Buffer.from(base)))
}

/** g_a = g^a mod dh_prime. */
export function dhPublic(secret: Uint8Array): Buffer {
  return modPowDh(Buffer.from([DH_G]), secret)
}
