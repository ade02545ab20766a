/**
 * Token buckets: `rate` tokens per second refill up to `burst`; a take of n succeeds when n tokens
 * are there. KeyedBuckets holds one per key (an address, a prefix, a connection) in a bounded map.
 */

export class TokenBucket {
  private tokens: number
  private last: number

  constructor(
    readonly rate: number,
    readonly burst: number,
    now: number,
  ) {
    this.tokens = burst
    this.last = now
  }

  /** Tokens available at `now` (ms). */
  available(now: number): number {
    this.refill(now)
    return this.tokens
  }

  /** Takes n tokens if there are that many. */
  take(n: number, now: number): boolean {
    this.refill(now)
    if (this.tokens < n) return false
    this.tokens -= n
    return true
  }

  /** Takes n tokens whether or not there are that many (the balance may go negative: a debt). */
  spend(n: number, now: number): void {
    this.refill(now)
    this.tokens -= n
  }

  /** True when refilled to the burst (nothing to remember about this key). */
  full(now: number): boolean {
    this.refill(now)
    return this.tokens >= this.burst
  }

  private refill(now: number): void {
    const dt = now - this.last
    if (dt <= 0) return
    this.last = now
    this.tokens = Math.min(this.burst, this.tokens + (dt * this.rate) / 1000)
  }
}

/**
 * Token buckets by key, at most `maxKeys` of them: when full, refilled buckets (which remember
 * nothing) are dropped first, then the oldest. A dropped bucket starts again at the burst.
 */
export class KeyedBuckets {
  private readonly buckets = new Map<string, TokenBucket>()

  constructor(
    readonly rate: number,
    readonly burst: number,
    private readonly maxKeys = 100_000,
  ) {}

  take(key: string, n: number, now: number): boolean {
    let b = this.buckets.get(key)
    if (b === undefined) {
      if (this.buckets.size >= this.maxKeys) this.prune(now)
      b = new TokenBucket(this.rate, this.burst, now)
      this.buckets.set(key, b)
    }
    return b.take(n, now)
  }

  get size(): number {
    return this.buckets.size
  }

  private prune(now: number): void {
    for (const [k, b] of this.buckets) if (b.full(now)) this.buckets.delete(k)
    // still full: drop the oldest tenth (insertion order)
    if (this.buckets.size >= this.maxKeys) {
      let n = Math.ceil(this.maxKeys / 10)
      for (const k of this.buckets.keys()) {
        if (n-- <= 0) break
        this.buckets.delete(k)
      }
    }
  }
}
