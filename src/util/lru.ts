/**
 * A small synchronous LRU with a time-to-live per entry (from insertion, not refreshed by reads:
 * the TTL bounds how stale an entry can be when its source changed meanwhile, e.g. a store another
 * process writes to, or a key destroyed elsewhere).
 * A Map keeps insertion order and eviction takes the oldest. A hit re-inserts the entry (marks it most
 * recently used) only when it has drifted into the older half of the map: hits on recent entries cost
 * one Map lookup, and an entry in use is still never the next one evicted.
 */
import type { Clock } from './clock.js'

interface Entry<V> {
  value: V
  /** clock ms after which the entry is stale. */
  until: number
  /** this.tick when the entry was (re)inserted. */
  stamp: number
}

export class LruCache<K, V> {
  private readonly map = new Map<K, Entry<V>>()
  private tick = 0

  constructor(
    readonly maxSize: number,
    readonly ttlMs: number,
    private readonly clock: Clock,
  ) {
    if (!Number.isInteger(maxSize) || maxSize < 0) throw new RangeError('LruCache: maxSize must be an integer >= 0')
    if (!(ttlMs > 0)) throw new RangeError('LruCache: ttlMs must be > 0')
  }

  get size(): number {
    return this.map.size
  }

  /** The live value; `now` (clock ms) may be passed by a caller that already read the clock. */
  get(key: K, now: number = this.clock.now()): V | undefined {
    const e = this.map.get(key)
    if (e === undefined) return undefined
    if (e.until < now) {
      this.map.delete(key)
      return undefined
    }
    if (this.tick - e.stamp >= this.maxSize >>> 1) {
      // Drifted into the older half: move to the most-recently-used end.
      this.map.delete(key)
      e.stamp = ++this.tick
      this.map.set(key, e)
    }
    return e.value
  }

  set(key: K, value: V): void {
    if (this.maxSize === 0) return
    this.map.delete(key)
    this.map.set(key, { value, until: this.clock.now() + this.ttlMs, stamp: ++this.tick })
    if (this.map.size > this.maxSize) {
      const oldest = this.map.keys().next()
      if (!oldest.done) this.map.delete(oldest.value)
    }
  }

  delete(key: K): boolean {
    return this.map.delete(key)
  }

  /** Deletes every entry whose value matches. O(size): for rare operations only. */
  deleteWhere(pred: (value: V, key: K) => boolean): number {
    let n = 0
    for (const [k, e] of this.map) {
      if (pred(e.value, k)) {
        this.map.delete(k)
        n++
      }
    }
    return n
  }

  clear(): void {
    this.map.clear()
  }
}
