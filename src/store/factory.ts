/**
 * Builds the configured auth-key store: backend (memory | sqlite | mysql), optionally behind the
 * Redis cache, always behind the in-process LRU. `describe()` is the line `mtgate serve` prints.
 */
import type { Logger } from '../util/log.js'
import { systemClock, type Clock } from '../util/clock.js'
import { LruAuthKeyStore } from './lru-store.js'
import { MemoryAuthKeyStore } from './memory.js'
import { MysqlAuthKeyStore } from './mysql.js'
import { createRedisClient, parseRedisOptions, RedisCachedAuthKeyStore } from './redis-cache.js'
import { TeamgramCacheInvalidation } from './teamgram-cache.js'
import { SqliteAuthKeyStore } from './sqlite.js'
import { StoreError, type AuthKeyStore, type AuthKeyStoreConfig, type CachingAuthKeyStore } from './types.js'

export interface ConfiguredAuthKeyStore extends CachingAuthKeyStore {
  /** e.g. "auth keys: sqlite /data/mtgate.sqlite (WAL, synchronous=FULL) + lru 100000 x 5000 ms". */
  describe(): string
}

class ComposedAuthKeyStore extends LruAuthKeyStore implements ConfiguredAuthKeyStore {
  constructor(
    inner: AuthKeyStore,
    opts: { size: number; ttlMs: number; clock: Clock },
    private readonly description: string,
  ) {
    super(inner, opts)
  }

  describe(): string {
    return this.description
  }
}

const DEFAULT_LRU_SIZE = 100_000
const DEFAULT_LRU_TTL_MS = 5000
const DEFAULT_CACHE_TTL_S = 3600

export async function createAuthKeyStore(
  config: AuthKeyStoreConfig,
  log: Logger,
  opts: { clock?: Clock } = {},
): Promise<ConfiguredAuthKeyStore> {
  const clock = opts.clock ?? systemClock
  const lruSize = config.lruSize ?? DEFAULT_LRU_SIZE
  const lruTtlMs = config.lruTtlMs ?? DEFAULT_LRU_TTL_MS
  const cacheTtl = config.cacheTtlSeconds ?? DEFAULT_CACHE_TTL_S
  if (!Number.isInteger(lruSize) || lruSize < 0) throw new StoreError('invalid', 'lruSize must be an integer >= 0')
  if (!Number.isInteger(lruTtlMs) || lruTtlMs < 1) throw new StoreError('invalid', 'lruTtlMs must be an integer >= 1')
  if (!Number.isInteger(cacheTtl) || cacheTtl < 1) throw new StoreError('invalid', 'cacheTtlSeconds must be an integer >= 1')
  if (config.cache !== 'none' && config.cache !== 'redis') throw new StoreError('invalid', `unknown cache '${String(config.cache)}'`)

  let backend: AuthKeyStore
  let what: string
  switch (config.store) {
    case 'memory':
      backend = new MemoryAuthKeyStore(clock)
      what = 'memory (not durable)'
      break
    case 'sqlite': {
      if (!config.sqlite?.path) throw new StoreError('invalid', 'store sqlite needs sqlite.path')
      const s = new SqliteAuthKeyStore({ ...config.sqlite, clock, log })
      backend = s
      what = s.describe()
      break
    }
    case 'mysql': {
      if (!config.mysql) throw new StoreError('invalid', 'store mysql needs mysql settings')
      const m = await MysqlAuthKeyStore.open(config.mysql, { clock, log })
      backend = m
      what = m.describe()
      break
    }
    default:
      throw new StoreError('invalid', `unknown store '${String(config.store)}'`)
  }

  if (config.teamgramCache !== undefined) {
    if (config.store !== 'mysql') {
      await backend.close()
      throw new StoreError('invalid', 'teamgram_cache needs store mysql (Teamgram keeps its keys in MySQL)')
    }
    let to
    try {
      to = parseRedisOptions(config.teamgramCache)
    } catch (e) {
      await backend.close()
      throw e
    }
    backend = new TeamgramCacheInvalidation(backend, createRedisClient(to, log), log)
    what += ` (invalidating Teamgram's cache at redis ${to.host ?? '127.0.0.1'}:${to.port ?? 6379})`
  }

  if (config.cache === 'redis') {
    let ro
    try {
      ro = parseRedisOptions(config.redis)
    } catch (e) {
      await backend.close()
      throw e
    }
    const client = createRedisClient(ro, log)
    // Give Redis a moment so the first lookups hit it; without it the store still works (database).
    let timer: NodeJS.Timeout | undefined
    const ready = await new Promise<boolean>((resolve) => {
      if (client.status === 'ready') return resolve(true)
      client.once('ready', () => resolve(true))
      timer = setTimeout(() => resolve(false), 1000)
    })
    clearTimeout(timer)
    if (!ready)
      log.warn({ host: ro.host ?? '127.0.0.1', port: ro.port ?? 6379 }, 'redis cache: not reachable at start, serving from the database')
    backend = new RedisCachedAuthKeyStore(backend, client, {
      ttlSeconds: cacheTtl,
      keyPrefix: ro.keyPrefix ?? 'mtgate:',
      clock,
      log,
    })
    what += ` + redis ${ro.host ?? '127.0.0.1'}:${ro.port ?? 6379}${ro.tls ? ' (TLS)' : ''} (ttl ${cacheTtl} s)`
  }
  what += lruSize > 0 ? ` + lru ${lruSize} x ${lruTtlMs} ms` : ' (no lru)'
  return new ComposedAuthKeyStore(backend, { size: lruSize, ttlMs: lruTtlMs, clock }, `auth keys: ${what}`)
}
