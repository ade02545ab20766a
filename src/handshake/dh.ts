/**
 * Diffie-Hellman parameters of the exchange and the range checks both sides apply.
 * dh_prime is Telegram's well-known 2048-bit safe prime (the value in mtproto/auth_key step 6;
 * TDLib and mtcute recognise it and skip re-checking), g = 3 (needs dh_prime mod 3 = 2).
 */
import { checkPrimeSync } from 'node:crypto'

export const DH_PRIME_HEX =
  'c71caeb9c6b1c9048e6c522f70f13f73980d40238e3e21c14934d037563d930f48198a0aa7c14058229493d22530f4dbfa336f6e0ac925139543aed44cce7c3720fd51f69458705ac68cd4fe6b6b13abdc974651296932845' +
  '4f18faf8c595f642477fe96bb2a941d5bcd1d4ac8cc49880708fa9b378e3c4f3a9060bee67cf9a4a4a695811051907e162753b56b0f6b410dba74d8a84b2a14b3144e0ef1284754fd17ed950d5965b4b9dd46582db1178d169c6bc465b0d6ff9ca3928fef5b9ae4e418fc15e83ebea0f87fa9ff5eed70050ded2849f47bf959d956850ce929851f0d8115f635b105ee2e4e15d04b2454bf6f4fadf034b10403119cd8e3b92fcc5b'

export const DH_PRIME: Buffer = Buffer.from(DH_PRIME_HEX, 'hex')
export const DH_PRIME_BIG: bigint = BigInt('0x' + DH_PRIME_HEX)
export const DH_G = 3

const SAFETY = 2n ** (2048n - 64n)

export function bigFromBytes(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt('0x' + Buffer.from(b).toString('hex'))
}

export function bytesFromBig(x: bigint, length: number): Buffer {
  const hex = x.toString(16)
  if (hex.length > length * 2) throw new RangeError('number does not fit')
  return Buffer.from(hex.padStart(length * 2, '0'), 'hex')
}

/**
 * The spec's checks on g_a / g_b: 1 < x < p − 1 and 2^(2048−64) ≤ x ≤ p − 2^(2048−64).
 * Returns a reason string when a check fails, undefined when the value is acceptable.
 */
export function checkDhPublic(x: bigint, p: bigint = DH_PRIME_BIG): string | undefined {
  if (x <= 1n || x >= p - 1n) return 'not_in_1_p-1'
  if (x < SAFETY || x > p - SAFETY) return 'not_in_safety_range'
  return undefined
}

/**
 * The client-side checks of (dh_prime, g) from mtproto/auth_key: 2^2047 < p < 2^2048, p and
 * (p−1)/2 prime, g a quadratic residue (condition on p mod 4g). Returns a reason or undefined.
 */
export function checkDhParams(p: bigint, g: number): string | undefined {
  if (p <= 2n ** 2047n || p >= 2n ** 2048n) return 'p_not_2048_bit'
  const bad = checkDhGenerator(p, g)
  if (bad) return bad
  if (!checkPrimeSync(p, { checks: 30 })) return 'p_not_prime'
  if (!checkPrimeSync((p - 1n) / 2n, { checks: 30 })) return 'p_not_safe_prime'
  return undefined
}

/** Only the cheap part of checkDhParams: g ∈ 2..7 is a quadratic residue mod p (for a known safe p). */
export function checkDhGenerator(p: bigint, g: number): string | undefined {
  const residue: Record<number, (p: bigint) => boolean> = {
    2: (p) => p % 8n === 7n,
    3: (p) => p % 3n === 2n,
    4: () => true,
    5: (p) => p % 5n === 1n || p % 5n === 4n,
    6: (p) => p % 24n === 19n || p % 24n === 23n,
    7: (p) => p % 7n === 3n || p % 7n === 5n || p % 7n === 6n,
  }
  const check = residue[g]
  if (!check) return 'g_not_in_2_7'
  if (!check(p)) return 'g_not_quadratic_residue'
  return undefined
}
