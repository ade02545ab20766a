/**
 * Read-through Redis cache in front of a durable AuthKeyStore (Teamgram caches auth keys in Redis too).
 *
 * - Keys never change once stored, so a cache fill is `SET NX`: it can never overwrite a newer value.
 * - destroy() writes a tombstone (overwriting SET) for the key and its bindings, so a fill racing
 *   with the destroy cannot resurrect it; tombstones live as long as entries (cacheTtlSeconds).
 * - bind() overwrites the binding entry after the database write (re-bind invalidation) and records
 *   the temp id in a per-perm-key set, so destroying the perm key tombstones its bindings too.
 * - Redis is optional: any Redis error or timeout logs a warning (once per outage) and the call falls
 *   back to the database; ioredis reconnects by itself. With enableOfflineQueue off and a command
 *   timeout, a dead Redis costs a fast rejection, never a queue; after a failure Redis is skipped for
 *   RETRY_AFTER_MS, so a hung Redis costs one timeout per half second, not one per lookup.
 * - Invalidations that could not reach Redis (destroy, re-bind) are kept in memory and replayed when
 *   it answers again, so a Redis that was unreachable but kept its data does not serve a destroyed key.
 * - Writes (put, bind, destroy, salts) always go to the database first; the cache never holds the only
 *   copy of anything. Salts and per-key state (saveState/loadState) are not cached: they pass through,
 *   as does expireTemp (cached temp keys and bindings carry their expiry and are filtered on read).
 */
import { Redis, type RedisOptions } from 'ioredis'
import type { Logger } from '../util/log.js'
import { systemClock, type Clock } from '../util/clock.js'
import { decodeBinding, decodeRecord, encodeBinding, encodeRecord, isLive, TOMBSTONE } from './codec.js'
import { AuthKeyStoreDecorator } from './decorator.js'
import { StoreError, type AuthKeyBinding, type AuthKeyRecord, type AuthKeyStore, type RedisCacheOptions } from './types.js'

/** The options store.redis takes (camelCase, as RedisCacheOptions names them). */
export const REDIS_OPTION_KEYS = ['host', 'port', 'username', 'password', 'db', 'keyPrefix', 'commandTimeoutMs', 'tls'] as const

export function parseRedisOptions(raw: Record<string, unknown> | RedisCacheOptions | undefined): RedisCacheOptions {
  const r = (raw ?? {}) as Record<string, unknown>
  const out: Record<string, unknown> = {}
  const known: Record<(typeof REDIS_OPTION_KEYS)[number], 'string' | 'port' | 'int' | 'ms' | 'tls'> = {
    host: 'string',
    port: 'port',
    username: 'string',
    password: 'string',
    db: 'int',
    keyPrefix: 'string',
    commandTimeoutMs: 'ms',
    tls: 'tls',
  }
  for (const [k, v] of Object.entries(r)) {
    const kind = known[k as keyof typeof known]
    if (!kind) throw new StoreError('invalid', `redis.${k}: unknown option`)
    if (v === undefined) continue
    const int = typeof v === 'number' && Number.isInteger(v)
    const ok =
      kind === 'string'
        ? typeof v === 'string'
        : kind === 'port'
          ? int && v >= 1 && v <= 65535
          : kind === 'int'
            ? int && v >= 0 && v <= 1000
            : kind === 'ms'
              ? int && v >= 10 && v <= 60_000
              : typeof v === 'boolean' || (typeof v === 'object' && v !== null)
    if (!ok) throw new StoreError('invalid', `redis.${k}: bad value`)
    out[k] = v
  }
  return out as RedisCacheOptions
}

/** An ioredis client that fails fast instead of queueing while Redis is down, and reconnects by itself. */
export function createRedisClient(o: RedisCacheOptions, log?: Logger): Redis {
  const opts: RedisOptions = {
    host: o.host ?? '127.0.0.1',
    port: o.port ?? 6379,
    db: o.db ?? 0,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: o.commandTimeoutMs ?? 250,
    connectTimeout: 1000,
    // Reconnect forever, backing off to one attempt per second.
    retryStrategy: (times) => Math.min(50 * times, 1000),
    lazyConnect: false,
  }
  if (o.username !== undefined) opts.username = o.username
  if (o.password !== undefined) opts.password = o.password
  if (o.tls) opts.tls = o.tls === true ? {} : o.tls
  const client = new Redis(opts)
  // Without a listener an 'error' event would crash the process; the cache layer logs the outage.
  client.on('error', (e: Error) => log?.debug({ reason: e.message }, 'redis client error'))
  return client
}

const RETRY_AFTER_MS = 500
const MAX_MISSED_INVALIDATIONS = 10_000

export interface RedisCacheLayerOptions {
  ttlSeconds?: number
  keyPrefix?: string
  clock?: Clock
  log?: Logger
  /** Closed by close() (default true). */
  ownsClient?: boolean
}

export class RedisCachedAuthKeyStore extends AuthKeyStoreDecorator {
  readonly ttlSeconds: number
  private readonly prefix: string
  private readonly clock: Clock
  private readonly log: Logger | undefined
  private readonly ownsClient: boolean
  private down = false
  /** While Redis is failing, calls skip it until this time (performance.now() ms): a hung Redis costs one timeout, not one per lookup. */
  private skipUntil = 0
  /** Invalidations (destroy tombstones, re-bind overwrites) that failed: replayed when Redis is back. */
  private readonly missedInvalidations: (() => Promise<unknown>)[] = []
  private lostInvalidations = false
  /** Counters for tests and metrics. */
  readonly stats = { hits: 0, misses: 0, errors: 0 }

  constructor(
    inner: AuthKeyStore,
    readonly redis: Redis,
    opts: RedisCacheLayerOptions = {},
  ) {
    super(inner)
    this.ttlSeconds = opts.ttlSeconds ?? 3600
    if (!Number.isInteger(this.ttlSeconds) || this.ttlSeconds < 1)
      throw new StoreError('invalid', 'cacheTtlSeconds must be an integer >= 1')
    this.prefix = opts.keyPrefix ?? 'mtgate:'
    this.clock = opts.clock ?? systemClock
    this.log = opts.log
    this.ownsClient = opts.ownsClient ?? true
  }

  private now(): number {
    return Math.floor(this.clock.now() / 1000)
  }

  private kKey(id: bigint): string {
    return `${this.prefix}ak:${id}`
  }
  private kBinding(tempId: bigint): string {
    return `${this.prefix}akb:${tempId}`
  }
  private kBound(permId: bigint): string {
    return `${this.prefix}akbr:${permId}`
  }

  /** Entry TTL: the cache TTL, never past a temp key's or binding's own expiry. */
  private ttlFor(expiresAt: number | undefined): number {
    if (expiresAt === undefined) return this.ttlSeconds
    return Math.max(1, Math.min(this.ttlSeconds, expiresAt - this.now() + 1))
  }

  private ok(): void {
    if (!this.down) return
    this.down = false
    this.log?.warn({ replaying: this.missedInvalidations.length }, 'redis cache: reachable again, caching resumed')
    void this.replay()
  }

  private failed(op: string, e: unknown): void {
    this.stats.errors++
    this.skipUntil = performance.now() + RETRY_AFTER_MS
    if (!this.down) {
      this.down = true
      this.log?.warn({ op, reason: e instanceof Error ? e.message : String(e) }, 'redis cache: unavailable, falling back to the database')
    }
  }

  private remember(fn: () => Promise<unknown>): void {
    if (this.missedInvalidations.length >= MAX_MISSED_INVALIDATIONS) {
      this.missedInvalidations.shift()
      if (!this.lostInvalidations) {
        this.lostInvalidations = true
        this.log?.error('redis cache: too many invalidations missed during the outage; stale entries expire by TTL')
      }
    }
    this.missedInvalidations.push(fn)
  }

  private async replay(): Promise<void> {
    while (this.missedInvalidations.length > 0 && !this.down) {
      const fn = this.missedInvalidations[0] as () => Promise<unknown>
      try {
        await fn()
        this.missedInvalidations.shift()
      } catch (e) {
        this.failed('replay', e)
        return
      }
    }
    if (this.missedInvalidations.length === 0) this.lostInvalidations = false
  }

  /**
   * Runs a cache command; undefined (and a warning) when Redis fails or is being skipped after a
   * failure. When it cannot run, `invalidation` (an idempotent command making the cache forget what
   * fn would have changed) is kept and replayed when Redis answers again.
   */
  private async attempt<T>(op: string, fn: () => Promise<T>, invalidation?: () => Promise<unknown>): Promise<T | undefined> {
    if (this.down && performance.now() < this.skipUntil) {
      if (invalidation) this.remember(invalidation)
      return undefined
    }
    try {
      const v = await fn()
      this.ok()
      return v
    } catch (e) {
      this.failed(op, e)
      if (invalidation) this.remember(invalidation)
      return undefined
    }
  }

  /** Invalidations still waiting for Redis (for tests and metrics). */
  get pendingInvalidations(): number {
    return this.missedInvalidations.length
  }

  override async put(record: AuthKeyRecord): Promise<'created' | 'exists'> {
    const r = await this.inner.put(record)
    if (r === 'created' && isLive(record, this.now()))
      await this.attempt('put', () =>
        this.redis.set(this.kKey(record.id), encodeRecord(record), 'EX', this.ttlFor(record.expiresAt), 'NX'),
      )
    return r
  }

  override async get(id: bigint): Promise<AuthKeyRecord | undefined> {
    const cached = await this.attempt('get', () => this.redis.getBuffer(this.kKey(id)))
    if (cached) {
      const d = decodeRecord(cached, id)
      if (d.kind === 'tombstone') {
        this.stats.hits++
        return undefined
      }
      if (d.kind === 'value') {
        this.stats.hits++
        return isLive(d.value, this.now()) ? d.value : undefined
      }
      this.log?.warn({ authKeyId: id.toString(16) }, 'redis cache: corrupt entry ignored')
    }
    this.stats.misses++
    const r = await this.inner.get(id)
    if (r && !this.down)
      await this.attempt('fill', () => this.redis.set(this.kKey(id), encodeRecord(r), 'EX', this.ttlFor(r.expiresAt), 'NX'))
    return r
  }

  override async bind(binding: AuthKeyBinding): Promise<void> {
    await this.inner.bind(binding)
    const ttl = this.ttlFor(binding.expiresAt)
    await this.attempt('bind', () =>
      this.redis
        .multi()
        .set(this.kBinding(binding.tempId), encodeBinding(binding), 'EX', ttl)
        .sadd(this.kBound(binding.permId), binding.tempId.toString())
        .expire(this.kBound(binding.permId), this.ttlSeconds)
        .exec(),
      // Replayed later, a DEL is safe whatever happened meanwhile (the next read refills from the DB).
      () => this.redis.del(this.kBinding(binding.tempId)),
    )
  }

  override async getBinding(tempId: bigint): Promise<AuthKeyBinding | undefined> {
    const cached = await this.attempt('getBinding', () => this.redis.getBuffer(this.kBinding(tempId)))
    if (cached) {
      const d = decodeBinding(cached, tempId)
      if (d.kind === 'tombstone') return undefined
      if (d.kind === 'value') return isLive(d.value, this.now()) ? d.value : undefined
      this.log?.warn({ tempAuthKeyId: tempId.toString(16) }, 'redis cache: corrupt binding entry ignored')
    }
    const b = await this.inner.getBinding(tempId)
    if (b && !this.down)
      await this.attempt('fillBinding', () =>
        this.redis
          .multi()
          .set(this.kBinding(tempId), encodeBinding(b), 'EX', this.ttlFor(b.expiresAt), 'NX')
          .sadd(this.kBound(b.permId), tempId.toString())
          .expire(this.kBound(b.permId), this.ttlSeconds)
          .exec(),
      )
    return b
  }

  override async destroy(id: bigint): Promise<boolean> {
    const existed = await this.inner.destroy(id)
    // Tombstone only what existed: a destroyed id is never stored again (put answers 'exists'),
    // while a tombstone for an unknown id would hide a key put later.
    const invalidate = async (): Promise<void> => {
      const bound = await this.redis.smembers(this.kBound(id))
      const m = this.redis.multi()
      if (existed) {
        m.set(this.kKey(id), TOMBSTONE, 'EX', this.ttlSeconds)
        m.set(this.kBinding(id), TOMBSTONE, 'EX', this.ttlSeconds)
      }
      for (const t of bound) m.set(`${this.prefix}akb:${t}`, TOMBSTONE, 'EX', this.ttlSeconds)
      m.del(this.kBound(id))
      await m.exec()
    }
    await this.attempt('destroy', invalidate, invalidate)
    return existed
  }

  override async close(): Promise<void> {
    if (this.ownsClient) this.redis.disconnect()
    await this.inner.close()
  }
}
