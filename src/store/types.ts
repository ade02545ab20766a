/**
 * The auth-key store contract.
 * Every method is async; every failure is a StoreError.
 */

/** Numeric values are Teamgram's `auth_key_infos.auth_key_type`. */
export const AuthKeyType = { perm: 0, temp: 1, mediaTemp: 2 } as const
export type AuthKeyType = (typeof AuthKeyType)[keyof typeof AuthKeyType]

export interface AuthKeyRecord {
  /** auth_key_id: lower 64 bits of SHA-1(key), as a signed int64 (the TL `long`). */
  id: bigint
  /** The 256-byte key. */
  key: Buffer
  type: AuthKeyType
  /** Unix seconds after which a temp key is invalid; undefined for permanent keys. */
  expiresAt?: number
  /** Unix seconds. */
  createdAt: number
}

/** temp/media-temp key → permanent key (auth.bindTempAuthKey). */
export interface AuthKeyBinding {
  tempId: bigint
  permId: bigint
  type: AuthKeyType
  /** Unix seconds the binding (the temp key) expires. */
  expiresAt: number
}

/** A server salt valid from `validSince` to `validUntil` (unix seconds). */
export interface ServerSalt {
  salt: bigint
  validSince: number
  validUntil: number
}

/** What the session layer keeps per permanent auth key besides the key (survives restarts and key moves). */
export interface AuthKeyState {
  /** The authorised user a handler bound to the key; undefined when none (signed out / never). */
  userId?: bigint
  /** The last API layer the client announced (invokeWithLayer). */
  layer?: number
  /** initConnection data as JSON text (the session layer owns its shape; the store keeps it opaque, ≤ 16 KB). */
  client?: string
}

export type StoreErrorCode = 'unavailable' | 'conflict' | 'invalid' | 'internal'

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'StoreError'
  }
}

export interface AuthKeyStore {
  /**
   * Durably stores a new key. Resolves 'created', or 'exists' when a key with this id is already
   * stored (the handshake answers dh_gen_retry). Rejects with StoreError('unavailable') when the
   * backend is down: the key must not be acknowledged to the client then.
   */
  put(record: AuthKeyRecord): Promise<'created' | 'exists'>
  /** The key, or undefined when unknown, destroyed or expired. */
  get(id: bigint): Promise<AuthKeyRecord | undefined>
  /** Binds a temp/media-temp key to a permanent key (replacing an earlier binding of tempId). */
  bind(binding: AuthKeyBinding): Promise<void>
  /** The permanent key a temp key is bound to. */
  getBinding(tempId: bigint): Promise<AuthKeyBinding | undefined>
  /**
   * Soft delete (Teamgram sets `deleted = 1`); also drops bindings to or from it, its salts and its
   * state (saveState). True if it existed.
   */
  destroy(id: bigint): Promise<boolean>
  /** Removes temp keys whose expiry is before `now` (unix seconds); returns how many. */
  expireTemp(now: number): Promise<number>
  /** Persists the current/future server salts of an auth key so sessions survive a restart. */
  saveSalts(authKeyId: bigint, salts: ServerSalt[]): Promise<void>
  loadSalts(authKeyId: bigint): Promise<ServerSalt[]>
  /** Replaces the state of a key (fields left undefined are stored as absent). StoreError('invalid') when too large. */
  saveState(authKeyId: bigint, state: AuthKeyState): Promise<void>
  /** The saved state, or undefined when none was saved (or the key was destroyed). */
  loadState(authKeyId: bigint): Promise<AuthKeyState | undefined>
  close(): Promise<void>
}

/** An AuthKeyStore with an in-process cache: `peek` answers synchronously from it (the hot path). */
export interface CachingAuthKeyStore extends AuthKeyStore {
  /** The key if it is in the in-process cache (live, not expired); never touches I/O. */
  peek(id: bigint): AuthKeyRecord | undefined
}

/** MySQL / MariaDB connection (mysql2 pool). */
export interface MysqlStoreOptions {
  host?: string
  port?: number
  /** Unix socket path; used instead of host/port when set. */
  socketPath?: string
  user?: string
  password?: string
  database?: string
  /** TLS: true = verify against the system CAs; or explicit PEM material. */
  ssl?: boolean | { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean }
  /** Pool size (default 10). */
  connectionLimit?: number
  /** Bound on every operation, connect included (default 2000 ms); past it: StoreError('unavailable'). */
  opTimeoutMs?: number
}

/** Redis connection (ioredis). */
export interface RedisCacheOptions {
  host?: string
  port?: number
  username?: string
  password?: string
  db?: number
  tls?: boolean | { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean }
  /** Prefix of every key (default 'mtgate:'). */
  keyPrefix?: string
  /** Bound on every command (default 250 ms); past it the lookup falls back to the database. */
  commandTimeoutMs?: number
}

export interface AuthKeyStoreConfig {
  store: 'sqlite' | 'mysql' | 'memory'
  cache: 'none' | 'redis'
  sqlite?: {
    path: string
    /**
     * 'full' (default): every commit is fsynced before put() resolves (durable across power loss).
     * 'normal': WAL without fsync per commit (survives a process crash, may lose the last commits on
     * power loss).
     */
    synchronous?: 'full' | 'normal'
  }
  /** Validated at runtime (the config file passes a plain object through). */
  mysql?: MysqlStoreOptions | Record<string, unknown>
  redis?: RedisCacheOptions | Record<string, unknown>
  /**
   * Teamgram's cache Redis (store mysql on a Teamgram database): the entries Teamgram's authsession
   * caches for a key are deleted after each write that changes them (see teamgram-cache.ts).
   */
  teamgramCache?: RedisCacheOptions | Record<string, unknown>
  /** In-process LRU entries (default 100000; 0 disables it). */
  lruSize?: number
  /** Lifetime of an LRU entry (default 5000 ms): bounds staleness after a destroy on another gateway. */
  lruTtlMs?: number
  /** Lifetime of a Redis entry (default 3600 s; temp keys never beyond their expiry). */
  cacheTtlSeconds?: number
}
