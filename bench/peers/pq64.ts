/**
 * pq factoring for the load generator, as fast as a client in C does it rather than in BigInt:
 * Pollard–Brent over Montgomery multiplication in three 21-bit limbs held in doubles (every
 * partial product below 2^53, so exact), for odd pq below 2^63; anything else goes to the
 * spec-following src/handshake/pq.ts factorPq. BigInt only for the gcds, once per 128 steps.
 */
import { factorPq } from '../../src/handshake/pq.js'

const B = 2097152 // 2^21
/** 2^-21: multiplying by it is exact, and faster than dividing by B. */
const INV_B = 1 / B
const LIMB = 21n
const MASK = (1n << LIMB) - 1n

/** Result limbs of mont() and step(). */
let r0 = 0
let r1 = 0
let r2 = 0
/** The modulus of the factoring in progress, its limbs, -n^-1 mod 2^21, and the step's constant. */
let N0 = 0
let N1 = 0
let N2 = 0
let NINV = 0
let C = 0

/** a·b·2^-63 mod n into r0..r2 (a, b < n). */
function mont(a0: number, a1: number, a2: number, b0: number, b1: number, b2: number): void {
  let t0 = 0
  let t1 = 0
  let t2 = 0
  let t3 = 0
  for (let i = 0; i < 3; i++) {
    const ai = i === 0 ? a0 : i === 1 ? a1 : a2
    let x = t0 + ai * b0
    let carry = Math.floor(x * INV_B)
    t0 = x - carry * B
    x = t1 + ai * b1 + carry
    carry = Math.floor(x * INV_B)
    t1 = x - carry * B
    x = t2 + ai * b2 + carry
    carry = Math.floor(x * INV_B)
    t2 = x - carry * B
    t3 += carry
    let m = t0 * NINV
    m -= Math.floor(m * INV_B) * B
    x = t0 + m * N0
    carry = Math.floor(x * INV_B)
    x = t1 + m * N1 + carry
    carry = Math.floor(x * INV_B)
    t0 = x - carry * B
    x = t2 + m * N2 + carry
    carry = Math.floor(x * INV_B)
    t1 = x - carry * B
    x = t3 + carry
    carry = Math.floor(x * INV_B)
    t2 = x - carry * B
    t3 = carry
  }
  // t < 2n: subtract n once when t ≥ n
  if (t3 > 0 || t2 > N2 || (t2 === N2 && (t1 > N1 || (t1 === N1 && t0 >= N0)))) {
    t0 -= N0
    t1 -= N1
    t2 -= N2
    if (t0 < 0) {
      t0 += B
      t1--
    }
    if (t1 < 0) {
      t1 += B
      t2--
    }
    t2 += t3 * B
  }
  r0 = t0
  r1 = t1
  r2 = t2
}
/** f(y) = mont(y, y) + c mod n, into r0..r2 (a quadratic map mod n, so mod p too). */
function step(y0: number, y1: number, y2: number): void {
  mont(y0, y1, y2, y0, y1, y2)
  let s0 = r0 + C
  let s1 = r1
  let s2 = r2
  if (s0 >= B) {
    s0 -= B
    s1++
    if (s1 >= B) {
      s1 -= B
      s2++
    }
  }
  if (s2 > N2 || (s2 === N2 && (s1 > N1 || (s1 === N1 && s0 >= N0)))) {
    s0 -= N0
    s1 -= N1
    s2 -= N2
    if (s0 < 0) {
      s0 += B
      s1--
    }
    if (s1 < 0) {
      s1 += B
      s2--
    }
  }
  r0 = s0
  r1 = s1
  r2 = s2
}


function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b]
  return a
}

function toBig(x0: number, x1: number, x2: number): bigint {
  return BigInt(x0) | (BigInt(x1) << LIMB) | (BigInt(x2) << (2n * LIMB))
}

/** An odd factor of pq > 1 and < pq, or undefined when Pollard–Brent with this `c` finds none. */
function rho(n: bigint, c: number, maxSteps: number): bigint | undefined {
  N0 = Number(n & MASK)
  N1 = Number((n >> LIMB) & MASK)
  N2 = Number(n >> (2n * LIMB))
  C = c
  // nInv = -n^-1 mod 2^21 (Newton: each step doubles the correct low bits)
  let inv = 1n
  for (let i = 0; i < 5; i++) inv = (inv * (2n - BigInt(N0) * inv)) & MASK
  NINV = Number(-inv & MASK)

  let y0 = 2
  let y1 = 0
  let y2 = 0
  let q0 = 1
  let q1 = 0
  let q2 = 0
  let x0 = 0
  let x1 = 0
  let x2 = 0
  let g = 1n
  let r = 1
  let steps = 0
  const m = 128
  while (g === 1n) {
    x0 = y0
    x1 = y1
    x2 = y2
    for (let i = 0; i < r; i++) {
      step(y0, y1, y2)
      y0 = r0
      y1 = r1
      y2 = r2
    }
    for (let k = 0; k < r && g === 1n; k += m) {
      const lim = Math.min(m, r - k)
      for (let i = 0; i < lim; i++) {
        step(y0, y1, y2)
        y0 = r0
        y1 = r1
        y2 = r2
        // |x - y|
        let d0: number
        let d1: number
        let d2: number
        if (x2 > y2 || (x2 === y2 && (x1 > y1 || (x1 === y1 && x0 >= y0)))) {
          d0 = x0 - y0
          d1 = x1 - y1
          d2 = x2 - y2
        } else {
          d0 = y0 - x0
          d1 = y1 - x1
          d2 = y2 - x2
        }
        if (d0 < 0) {
          d0 += B
          d1--
        }
        if (d1 < 0) {
          d1 += B
          d2--
        }
        // q·|x - y|·2^-63: the extra unit factor leaves gcd(q, n) as it is
        mont(q0, q1, q2, d0, d1, d2)
        q0 = r0
        q1 = r1
        q2 = r2
      }
      g = gcd(toBig(q0, q1, q2), n)
    }
    steps += r
    r *= 2
    if (steps > maxSteps) return undefined
  }
  return g === n || g === 0n ? undefined : g
}

/** p < q with p·q = pq, for pq a product of two primes (what resPQ carries). */
export function factorPq64(pq: bigint): { p: bigint; q: bigint } {
  if (pq % 2n === 0n || pq >= 1n << 63n || pq < 1n << 22n) return factorPq(pq)
  for (let c = 1; c < 16; c++) {
    const f = rho(pq, c, 1 << 22)
    if (f !== undefined) {
      const other = pq / f
      return f < other ? { p: f, q: other } : { p: other, q: f }
    }
  }
  return factorPq(pq)
}
