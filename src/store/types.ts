/**
 * The auth-key store contract (issue C defines it, issue E makes it durable).
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
  /** Soft delete (Teamgram sets `deleted = 1`); also drops bindings to or from it. True if it existed. */
  destroy(id: bigint): Promise<boolean>
  /** Removes temp keys whose expiry is before `now` (unix seconds); returns how many. */
  expireTemp(now: number): Promise<number>
  /** Persists the current/future server salts of an auth key so sessions survive a restart. */
  saveSalts(authKeyId: bigint, salts: ServerSalt[]): Promise<void>
  loadSalts(authKeyId: bigint): Promise<ServerSalt[]>
  close(): Promise<void>
}
