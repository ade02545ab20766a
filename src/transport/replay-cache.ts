/**
 * Values seen recently (fake-TLS ClientHello randoms, secret-keyed obfuscated2 inits), each
 * remembered for `ttlMs` and at most `maxEntries` at once: a value seen again while remembered is
 * a replay. Entries are kept in arrival order (a Map), so expiry and eviction take from the front.
 */
export class ReplayCache {
  private readonly seen = new Map<string, number>()
  /** Entries dropped before their time because the cache was full. */
  evicted = 0
  /** Replays refused. */
  refused = 0

  constructor(
    readonly maxEntries: number,
    readonly ttlMs: number,
  ) {
    if (!(maxEntries >= 1)) throw new RangeError('ReplayCache: maxEntries must be at least 1')
  }

  /** True when `key` was seen within the TTL (a replay); otherwise remembers it and returns false. */
  check(key: string, nowMs: number): boolean {
    this.expire(nowMs)
    const until = this.seen.get(key)
    if (until !== undefined && until > nowMs) {
      this.refused++
      return true
    }
    this.seen.set(key, nowMs + this.ttlMs)
    while (this.seen.size > this.maxEntries) {
      const oldest = this.seen.keys().next().value as string
      this.seen.delete(oldest)
      this.evicted++
    }
    return false
  }

  get size(): number {
    return this.seen.size
  }

  private expire(nowMs: number): void {
    for (const [k, until] of this.seen) {
      if (until > nowMs) break
      this.seen.delete(k)
    }
  }
}

/** The two replay caches of MTProxy clients, shared by every listener of a process. */
export interface MtproxyReplay {
  /** ClientHello randoms of fake-TLS clients (remembered for twice the accepted clock skew). */
  hellos: ReplayCache
  /** Secret-keyed obfuscated2 inits (bytes 8..56: the keys and IVs). */
  inits: ReplayCache
}

export const DEFAULT_REPLAY_ENTRIES = 100_000
/** How long a secret-keyed init is remembered (it carries no timestamp). */
export const INIT_REPLAY_TTL_MS = 3_600_000

export function createMtproxyReplay(maxEntries: number, tlsSkewMs: number): MtproxyReplay {
  return { hellos: new ReplayCache(maxEntries, 2 * tlsSkewMs), inits: new ReplayCache(maxEntries, INIT_REPLAY_TTL_MS) }
}
