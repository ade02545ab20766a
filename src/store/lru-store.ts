/**
 * The in-process LRU in front of every store: the hot path. `peek(id)` answers synchronously from
 * memory (no I/O, no promise); `get(id)` falls through to the next layer on a miss, coalescing
 * concurrent misses for the same id into one lookup.
 *
 * Entries live `ttlMs` from insertion, which bounds how long this process can serve a key another
 * gateway destroyed. Destroys through this process evict at once. Misses are not cached (a key put
 * by another gateway becomes visible on its first lookup here). A key's state is not cached: the
 * session layer reads it once when it first sees the key.
 */
import { systemClock, type Clock } from '../util/clock.js'
import { copyRecord, isLive } from './codec.js'
import { LruCache } from '../util/lru.js'
import { AuthKeyStoreDecorator } from './decorator.js'
import type { AuthKeyBinding, AuthKeyRecord, AuthKeyStore, CachingAuthKeyStore } from './types.js'

export interface LruLayerOptions {
  /** Entries per map (keys; bindings get the same bound). 0 disables caching. */
  size?: number
  ttlMs?: number
  clock?: Clock
}

export class LruAuthKeyStore extends AuthKeyStoreDecorator implements CachingAuthKeyStore {
  private readonly keys: LruCache<bigint, AuthKeyRecord>
  private readonly bindings: LruCache<bigint, AuthKeyBinding>
  private readonly inflight = new Map<bigint, Promise<AuthKeyRecord | undefined>>()
  private readonly clock: Clock
  /** Counters for tests and metrics. */
  readonly stats = { hits: 0, misses: 0 }

  constructor(
    inner: AuthKeyStore,
    opts: LruLayerOptions = {},
  ) {
    super(inner)
    this.clock = opts.clock ?? systemClock
    const size = opts.size ?? 100_000
    const ttl = opts.ttlMs ?? 5000
    this.keys = new LruCache(size, ttl, this.clock)
    this.bindings = new LruCache(size, ttl, this.clock)
  }

  get size(): number {
    return this.keys.size
  }

  /** The cached record itself (not a copy, for speed): callers must not modify it. */
  peek(id: bigint): AuthKeyRecord | undefined {
    const now = this.clock.now()
    const r = this.keys.get(id, now)
    if (r === undefined) return undefined
    if (r.expiresAt !== undefined && r.expiresAt * 1000 < now) {
      this.keys.delete(id)
      return undefined
    }
    return r
  }

  override get(id: bigint): Promise<AuthKeyRecord | undefined> {
    const hit = this.peek(id)
    if (hit !== undefined) {
      this.stats.hits++
      return Promise.resolve(hit)
    }
    this.stats.misses++
    const pending = this.inflight.get(id)
    if (pending) return pending
    const p = this.inner.get(id).then(
      (r) => {
        // A destroy that ran meanwhile removed the inflight entry: do not cache its stale answer.
        if (this.inflight.get(id) === p) {
          this.inflight.delete(id)
          if (r) this.keys.set(id, r)
        }
        return r
      },
      (e: unknown) => {
        if (this.inflight.get(id) === p) this.inflight.delete(id)
        throw e
      },
    )
    this.inflight.set(id, p)
    return p
  }

  override async put(record: AuthKeyRecord): Promise<'created' | 'exists'> {
    const r = await this.inner.put(record)
    // The new key is about to be used by the client that made it.
    // (A copy: the caller may wipe or reuse its buffer.)
    if (r === 'created' && isLive(record, Math.floor(this.clock.now() / 1000))) this.keys.set(record.id, copyRecord(record))
    return r
  }

  override async bind(binding: AuthKeyBinding): Promise<void> {
    this.bindings.delete(binding.tempId)
    await this.inner.bind(binding)
    this.bindings.set(binding.tempId, { ...binding })
  }

  override async getBinding(tempId: bigint): Promise<AuthKeyBinding | undefined> {
    const hit = this.bindings.get(tempId)
    const now = Math.floor(this.clock.now() / 1000)
    if (hit !== undefined && isLive(hit, now)) return { ...hit }
    const b = await this.inner.getBinding(tempId)
    if (b) this.bindings.set(tempId, { ...b })
    return b
  }

  private evict(id: bigint): void {
    this.keys.delete(id)
    this.inflight.delete(id)
    this.bindings.delete(id)
    this.bindings.deleteWhere((b) => b.permId === id)
  }

  override async destroy(id: bigint): Promise<boolean> {
    this.evict(id)
    try {
      return await this.inner.destroy(id)
    } finally {
      // Again: a lookup that raced with the destroy may have refilled the entries.
      this.evict(id)
    }
  }

  override async close(): Promise<void> {
    this.keys.clear()
    this.bindings.clear()
    await this.inner.close()
  }
}
