/**
 * The proof-of-work numbers of resPQ: pq = p·q with p < q distinct random 31-bit primes, so
 * pq < 2^62 < 2^63. A pool is filled in the background (crypto.generatePrime runs on the libuv
 * thread pool) so resPQ never waits on a prime search; if a storm drains it, one pair is made
 * synchronously (a 31-bit prime costs microseconds) and a refill is started.
 */
import { generatePrime, generatePrimeSync } from 'node:crypto'
import { bytesFromBig } from './dh.js'

export interface PqPair {
  p: bigint
  q: bigint
  pq: bigint
}

/** Big-endian minimal bytes of a positive integer (TL `bytes` form of p, q, pq). */
export function bigToMinBytes(x: bigint): Buffer {
  const len = Math.max(1, Math.ceil(x.toString(16).length / 2))
  return bytesFromBig(x, len)
}

export function makePair(p: bigint, q: bigint): PqPair {
  if (p === q) throw new RangeError('p and q must differ')
  const [lo, hi] = p < q ? [p, q] : [q, p]
  return { p: lo, q: hi, pq: lo * hi }
}

function syncPair(): PqPair {
  for (;;) {
    const a = generatePrimeSync(31, { bigint: true })
    const b = generatePrimeSync(31, { bigint: true })
    if (a !== b) return makePair(a, b)
  }
}

function asyncPrime(): Promise<bigint> {
  return new Promise((resolve, reject) => generatePrime(31, { bigint: true }, (err, prime) => (err ? reject(err) : resolve(prime))))
}

export interface PqSource {
  take(): PqPair
}

export class PqPool implements PqSource {
  private readonly pool: PqPair[] = []
  private refilling = false
  private closed = false
  /** Pairs made synchronously because the pool was empty (for logs / tests). */
  misses = 0

  constructor(
    private readonly capacity = 256,
    private readonly lowWater = Math.floor(capacity / 2),
  ) {}

  get size(): number {
    return this.pool.length
  }

  /** Resolves when the pool is full. */
  async fill(): Promise<void> {
    while (!this.closed && this.pool.length < this.capacity) {
      const [a, b] = await Promise.all([asyncPrime(), asyncPrime()])
      if (a !== b) this.pool.push(makePair(a, b))
    }
  }

  take(): PqPair {
    const pair = this.pool.pop()
    if (this.pool.length < this.lowWater) this.refill()
    if (pair) return pair
    this.misses++
    return syncPair()
  }

  close(): void {
    this.closed = true
  }

  private refill(): void {
    if (this.refilling || this.closed) return
    this.refilling = true
    this.fill()
      .catch(() => undefined)
      .finally(() => {
        this.refilling = false
      })
  }
}

/**
 * Client side: factors pq (< 2^63) into p < q with Pollard's rho (Brent), as a client must.
 */
export function factorPq(pq: bigint): { p: bigint; q: bigint } {
  if (pq % 2n === 0n) return { p: 2n, q: pq / 2n }
  const gcd = (a: bigint, b: bigint): bigint => {
    while (b) [a, b] = [b, a % b]
    return a
  }
  for (let c = 1n; c < 100n; c++) {
    let y = 2n
    let m = 128n
    let g = 1n
    let r = 1n
    let q = 1n
    let x = 0n
    let ys = 0n
    const f = (v: bigint): bigint => (v * v + c) % pq
    while (g === 1n) {
      x = y
      for (let i = 0n; i < r; i++) y = f(y)
      let k = 0n
      while (k < r && g === 1n) {
        ys = y
        const lim = m < r - k ? m : r - k
        for (let i = 0n; i < lim; i++) {
          y = f(y)
          q = (q * (x > y ? x - y : y - x)) % pq
        }
        g = gcd(q, pq)
        k += m
      }
      r *= 2n
    }
    if (g === pq) {
      do {
        ys = f(ys)
        g = gcd(x > ys ? x - ys : ys - x, pq)
      } while (g === 1n)
    }
    if (g !== pq) {
      const other = pq / g
      return g < other ? { p: g, q: other } : { p: other, q: g }
    }
  }
  throw new RangeError('could not factor pq')
}
