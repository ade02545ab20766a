/**
 * The `store` section of the YAML config: `store: mysql` (a string) is `{ backend: mysql }`;
 * store.mysql and store.redis take a `url:` (mysql://user:pass@host:port/db,
 * redis://[user][:pass@]host:port[/db], rediss:// for TLS) beside or instead of their fields (a
 * field wins over the URL), and are validated here so a typo names its key before the server starts.
 *
 * store.teamgram_cache (same fields and url as store.redis) is the Redis whose Teamgram cache entries
 * mysql writes invalidate.
 *
 * Env: MTGATE_STORE, MTGATE_CACHE, MTGATE_SQLITE_PATH, MTGATE_MYSQL_URL, MTGATE_REDIS_URL,
 * MTGATE_TEAMGRAM_CACHE_URL.
 */
import { join, resolve } from 'node:path'
import { DEFAULTS } from './defaults.js'
import { ConfigError, type Collector, type Env, checkKeys, int, mapping, oneOf, str } from './load.js'
import type { CacheBackend, StoreBackend, StoreSettings } from './types.js'
import { MYSQL_OPTION_KEYS, parseMysqlOptions } from '../store/mysql-options.js'
import { REDIS_OPTION_KEYS, parseRedisOptions } from '../store/redis-cache.js'
import { StoreError } from '../store/types.js'

type Raw = Record<string, unknown>

const STORE_KEYS = ['backend', 'cache', 'sqlite_path', 'mysql', 'redis', 'teamgram_cache', 'lru_size', 'cache_ttl_seconds']

/** The store sections that name a database server, and the kind of URL each takes. */
type DriverKey = 'mysql' | 'redis' | 'teamgram_cache'
const KIND: Record<DriverKey, 'mysql' | 'redis'> = { mysql: 'mysql', redis: 'redis', teamgram_cache: 'redis' }

/** `store: <backend>` as the mapping it stands for; anything else unchanged. */
export function normalizeStore(v: unknown): unknown {
  return typeof v === 'string' ? { backend: v } : v
}

/**
 * Applies the store env forms to raw.store; `note(name, path)` records which raw path each set.
 * A URL from the env replaces the file's url and the fields a URL carries.
 */
export function applyStoreEnv(raw: Raw, env: Env, errors: Collector, note: (name: string, path: string) => void): void {
  const section = (): Raw => {
    const cur = normalizeStore(raw.store)
    const out: Raw = cur !== null && typeof cur === 'object' && !Array.isArray(cur) ? { ...(cur as Raw) } : {}
    raw.store = out
    return out
  }
  const plain: [string, string][] = [['MTGATE_STORE', 'backend'], ['MTGATE_CACHE', 'cache'], ['MTGATE_SQLITE_PATH', 'sqlite_path']]
  for (const [name, key] of plain) {
    const v = env[name]?.trim()
    if (v === undefined) continue
    section()[key] = v
    note(name, `store.${key}`)
  }
  const urls: [string, DriverKey][] = [['MTGATE_MYSQL_URL', 'mysql'], ['MTGATE_REDIS_URL', 'redis'], ['MTGATE_TEAMGRAM_CACHE_URL', 'teamgram_cache']]
  for (const [name, key] of urls) {
    const v = env[name]?.trim()
    if (v === undefined) continue
    const kind = KIND[key]
    errors.take(() => {
      const fields = kind === 'mysql' ? mysqlUrl(v, name) : redisUrl(v, name)
      const store = section()
      const cur = store[key]
      const keep: Raw = cur !== null && typeof cur === 'object' && !Array.isArray(cur) ? { ...(cur as Raw) } : {}
      for (const k of [...Object.keys(fields), 'url', ...URL_FIELDS[kind]]) delete keep[k]
      store[key] = { ...keep, ...fields }
      note(name, `store.${key}`)
    }, undefined)
  }
}

/** Fields a URL of each kind may set (all of them are cleared when the env gives a URL). */
const URL_FIELDS = { mysql: ['host', 'port', 'user', 'password', 'database'], redis: ['host', 'port', 'username', 'password', 'db', 'tls'] }

/** mysql://user:pass@host:port/db → the store.mysql fields it names. */
export function mysqlUrl(url: string, path: string): Raw {
  const u = parseUrl(url, path, ['mysql:'])
  const out: Raw = {}
  if (u.hostname !== '') out.host = u.hostname.replace(/^\[|\]$/g, '')
  if (u.port !== '') out.port = Number(u.port)
  if (u.username !== '') out.user = decodeURIComponent(u.username)
  if (u.password !== '') out.password = decodeURIComponent(u.password)
  const db = decodeURIComponent(u.pathname.replace(/^\//, ''))
  if (db.includes('/')) throw new ConfigError(path, 'expected mysql://user:pass@host:port/database')
  if (db !== '') out.database = db
  return out
}

/** redis://[user][:pass@]host:port[/db] (rediss:// for TLS) → the store.redis fields it names. */
export function redisUrl(url: string, path: string): Raw {
  const u = parseUrl(url, path, ['redis:', 'rediss:'])
  const out: Raw = {}
  if (u.hostname !== '') out.host = u.hostname.replace(/^\[|\]$/g, '')
  if (u.port !== '') out.port = Number(u.port)
  if (u.username !== '') out.username = decodeURIComponent(u.username)
  if (u.password !== '') out.password = decodeURIComponent(u.password)
  const db = u.pathname.replace(/^\//, '')
  if (db !== '') {
    if (!/^\d+$/.test(db)) throw new ConfigError(path, `database must be a number, got ${JSON.stringify(db)}`)
    out.db = Number(db)
  }
  if (u.protocol === 'rediss:') out.tls = true
  return out
}

function parseUrl(url: string, path: string, protocols: string[]): URL {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new ConfigError(path, `not a URL: ${JSON.stringify(url.replace(/:[^:@/]*@/, ':***@'))}`)
  }
  if (!protocols.includes(u.protocol)) throw new ConfigError(path, `must start with ${protocols.map((p) => p + '//').join(' or ')}`)
  return u
}

export function parseStore(v: unknown, dataDir: string, cwd: string, errors: Collector): StoreSettings {
  const raw = mapping(normalizeStore(v), 'store')
  errors.take(() => checkKeys(raw, STORE_KEYS, 'store.'), undefined)
  const backend = errors.take(() => oneOf<StoreBackend>(raw.backend, 'store.backend', ['memory', 'sqlite', 'mysql'], DEFAULTS.storeBackend), DEFAULTS.storeBackend)
  const cache = errors.take(() => oneOf<CacheBackend>(raw.cache, 'store.cache', ['none', 'redis'], DEFAULTS.cacheBackend), DEFAULTS.cacheBackend)
  const sqlitePath = errors.take(
    () => (raw.sqlite_path === undefined ? join(dataDir, DEFAULTS.sqliteFile) : resolve(cwd, str(raw.sqlite_path, 'store.sqlite_path', ''))),
    '',
  )
  const out: StoreSettings = { backend, cache, sqlitePath }
  // both sections are checked whichever backend and cache are chosen: a typo is an error either way
  const mysql = errors.take(() => driverOptions(raw.mysql, 'mysql'), undefined)
  if (mysql !== undefined) out.mysql = mysql
  else if (backend === 'mysql' && raw.mysql === undefined) errors.add(new ConfigError('store.mysql', 'required when store.backend is mysql (or set MTGATE_MYSQL_URL)'))
  const redis = errors.take(() => driverOptions(raw.redis, 'redis'), undefined)
  if (redis !== undefined) out.redis = redis
  else if (cache === 'redis' && raw.redis === undefined) errors.add(new ConfigError('store.redis', 'required when store.cache is redis (or set MTGATE_REDIS_URL)'))
  const teamgramCache = errors.take(() => driverOptions(raw.teamgram_cache, 'teamgram_cache'), undefined)
  if (teamgramCache !== undefined) {
    out.teamgramCache = teamgramCache
    if (backend !== 'mysql') errors.add(new ConfigError('store.teamgram_cache', 'needs store.backend mysql (Teamgram keeps its keys in MySQL)'))
  }
  errors.take(() => {
    if (raw.lru_size !== undefined) out.lruSize = int(raw.lru_size, 'store.lru_size', 0, 0, 100_000_000)
  }, undefined)
  errors.take(() => {
    if (raw.cache_ttl_seconds !== undefined) out.cacheTtlSeconds = int(raw.cache_ttl_seconds, 'store.cache_ttl_seconds', 0, 1, 365 * 86400)
  }, undefined)
  return out
}

/** store.mysql / store.redis / store.teamgram_cache: the URL expanded, keys checked, values checked by the store's own parser. */
function driverOptions(v: unknown, key: DriverKey): Raw | undefined {
  if (v === undefined) return undefined
  const kind = KIND[key]
  const path = `store.${key}`
  const raw = { ...mapping(v, path) }
  checkKeys(raw, [...(kind === 'mysql' ? MYSQL_OPTION_KEYS : REDIS_OPTION_KEYS), 'url'], path + '.')
  let fields: Raw = {}
  if (raw.url !== undefined) {
    const url = str(raw.url, path + '.url', '')
    fields = kind === 'mysql' ? mysqlUrl(url, path + '.url') : redisUrl(url, path + '.url')
    delete raw.url
  }
  const out = { ...fields, ...raw }
  try {
    if (kind === 'mysql') parseMysqlOptions(out)
    else parseRedisOptions(out)
  } catch (e) {
    if (!(e instanceof StoreError)) throw e
    const m = /^(?:mysql|redis)\.([\w.]+)[: ]\s*(.*)$/.exec(e.message)
    throw m ? new ConfigError(`${path}.${m[1]}`, m[2]!) : new ConfigError(path, e.message)
  }
  return out
}
