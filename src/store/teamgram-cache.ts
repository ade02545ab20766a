/**
 * Keeps Teamgram's own Redis caches true while mtgate writes Teamgram's tables (store mysql on a
 * Teamgram database, `store.teamgram_cache`). Teamgram's authsession reads through go-zero caches
 * that keep a row (or a "not found" placeholder) for days under these keys:
 *
 * - `auth_keys2_<id>`: the key and its auth_key_infos row (QueryAuthKeyV2);
 * - `auth_data.2#<id>`: the `auths` row and the `auth_users` binding (GetCacheAuthData);
 * - `auth_keys_<id>`: the older hash of the key (getAuthKey's fallback when the tables lack it).
 *
 * After each write reaches the database, the keys it changes are deleted, as Teamgram's own
 * CachedConn.Exec does, so a Teamgram service running beside mtgate, or after a rollback to it, reads
 * the tables again. A delete Redis refused is kept (bounded) and retried with the next one, so an
 * outage delays the invalidation instead of losing it. Reads pass through, and so does expireTemp:
 * expired temp keys are only unusable to mtgate, Teamgram keeps no expiry of its own to invalidate.
 */
import type { Redis } from 'ioredis'
import type { Logger } from '../util/log.js'
import { AuthKeyStoreDecorator } from './decorator.js'
import type { AuthKeyBinding, AuthKeyRecord, AuthKeyState, AuthKeyStore } from './types.js'

/** Failed deletes kept for retry; beyond this the oldest are dropped (and that is logged). */
const MAX_PENDING = 100_000

export const teamgramCacheKeys = {
  authKey: (id: bigint): string => `auth_keys2_${id}`,
  authKeyHash: (id: bigint): string => `auth_keys_${id}`,
  authData: (id: bigint): string => `auth_data.2#${id}`,
}

export class TeamgramCacheInvalidation extends AuthKeyStoreDecorator {
  private readonly pending = new Set<string>()
  private failing = false

  constructor(
    inner: AuthKeyStore,
    private readonly redis: Redis,
    private readonly log?: Logger,
  ) {
    super(inner)
  }

  /** Deletes the keys in Teamgram's Redis (and any left from a failed attempt); never throws. */
  private async forget(keys: string[]): Promise<void> {
    for (const k of keys) this.pending.add(k)
    if (this.pending.size > MAX_PENDING) {
      const over = this.pending.size - MAX_PENDING
      let n = 0
      for (const k of this.pending) {
        if (n++ >= over) break
        this.pending.delete(k)
      }
      this.log?.error({ dropped: over }, 'teamgram cache: too many invalidations pending; the oldest are dropped (their entries stay until Teamgram expires them)')
    }
    const batch = [...this.pending]
    try {
      await this.redis.del(...batch)
      for (const k of batch) this.pending.delete(k)
      if (this.failing) this.log?.info({ replayed: batch.length }, "teamgram cache: Redis answers again; pending invalidations done")
      this.failing = false
    } catch (e) {
      if (!this.failing) this.log?.warn({ reason: (e as Error).message, pending: this.pending.size }, "teamgram cache: cannot delete Teamgram's cache entries; kept for retry")
      this.failing = true
    }
  }

  /** Invalidations not yet done (Redis refused them). */
  get pendingInvalidations(): number {
    return this.pending.size
  }

  override async put(record: AuthKeyRecord): Promise<'created' | 'exists'> {
    const r = await this.inner.put(record)
    // Teamgram may hold a "not found" placeholder for a key id it was asked about before.
    if (r === 'created') await this.forget([teamgramCacheKeys.authKey(record.id), teamgramCacheKeys.authKeyHash(record.id)])
    return r
  }

  override async bind(binding: AuthKeyBinding): Promise<void> {
    const before = await this.inner.getBinding(binding.tempId).catch(() => undefined)
    await this.inner.bind(binding)
    const ids = [binding.tempId, binding.permId]
    if (before !== undefined && before.permId !== binding.permId) ids.push(before.permId)
    await this.forget(ids.map(teamgramCacheKeys.authKey))
  }

  override async destroy(id: bigint): Promise<boolean> {
    const bound = await this.inner.getBinding(id).catch(() => undefined)
    const existed = await this.inner.destroy(id)
    const ids = bound ? [id, bound.permId] : [id]
    await this.forget([...ids.map(teamgramCacheKeys.authKey), teamgramCacheKeys.authKeyHash(id), teamgramCacheKeys.authData(id)])
    return existed
  }

  override async saveState(authKeyId: bigint, state: AuthKeyState): Promise<void> {
    await this.inner.saveState(authKeyId, state)
    await this.forget([teamgramCacheKeys.authData(authKeyId)])
  }

  override async close(): Promise<void> {
    await this.inner.close()
    this.redis.disconnect()
  }
}
