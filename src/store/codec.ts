/**
 * Validation and compact binary encoding of auth-key records and bindings (the Redis cache values),
 * plus the conversions the SQL backends share (signed int64 ids, base64 bodies).
 */
import { sha1 } from '../crypto/hash.js'
import { AuthKeyType, StoreError, type AuthKeyBinding, type AuthKeyRecord, type AuthKeyState } from './types.js'

export const AUTH_KEY_BYTES = 256
const INT64_MIN = -(1n << 63n)
const INT64_MAX = (1n << 63n) - 1n
const UINT32_MAX = 0xffffffff

/** auth_key_id of a key: the lower (last) 64 bits of SHA-1(key), read as a signed little-endian int64. */
export function authKeyIdOf(key: Uint8Array): bigint {
  return sha1(key).readBigInt64LE(12)
}

export function isAuthKeyType(x: unknown): x is AuthKeyType {
  return x === AuthKeyType.perm || x === AuthKeyType.temp || x === AuthKeyType.mediaTemp
}

export function isInt64(x: unknown): x is bigint {
  return typeof x === 'bigint' && x >= INT64_MIN && x <= INT64_MAX
}

function isUnixSeconds(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= UINT32_MAX
}

/**
 * Throws StoreError('invalid') unless the record is storable. The id is not re-derived from the key:
 * the handshake computes it (authKeyIdOf), and the store must be able to see a colliding id.
 */
export function validateRecord(r: AuthKeyRecord): void {
  if (!isInt64(r.id)) throw new StoreError('invalid', 'auth key id is not an int64')
  if (!Buffer.isBuffer(r.key) || r.key.length !== AUTH_KEY_BYTES)
    throw new StoreError('invalid', `auth key must be ${AUTH_KEY_BYTES} bytes`)
  if (!isAuthKeyType(r.type)) throw new StoreError('invalid', `unknown auth key type ${String(r.type)}`)
  if (!isUnixSeconds(r.createdAt)) throw new StoreError('invalid', 'createdAt is not unix seconds')
  if (r.type === AuthKeyType.perm) {
    if (r.expiresAt !== undefined) throw new StoreError('invalid', 'a permanent key has no expiry')
  } else if (!isUnixSeconds(r.expiresAt)) {
    throw new StoreError('invalid', 'a temporary key needs expiresAt (unix seconds)')
  }
}

export function validateBinding(b: AuthKeyBinding): void {
  if (!isInt64(b.tempId) || !isInt64(b.permId)) throw new StoreError('invalid', 'binding ids are not int64')
  if (b.type !== AuthKeyType.temp && b.type !== AuthKeyType.mediaTemp)
    throw new StoreError('invalid', 'only temp and media-temp keys can be bound')
  if (b.tempId === b.permId) throw new StoreError('invalid', 'a key cannot be bound to itself')
  if (!isUnixSeconds(b.expiresAt)) throw new StoreError('invalid', 'binding expiresAt is not unix seconds')
}

export function validateId(id: bigint): void {
  if (!isInt64(id)) throw new StoreError('invalid', 'auth key id is not an int64')
}

/** The record is live at `now` (unix seconds): not a temp key past its expiry. */
export function isLive(r: { expiresAt?: number }, now: number): boolean {
  return r.expiresAt === undefined || r.expiresAt >= now
}

export function copyRecord(r: AuthKeyRecord): AuthKeyRecord {
  const out: AuthKeyRecord = { id: r.id, key: Buffer.from(r.key), type: r.type, createdAt: r.createdAt }
  if (r.expiresAt !== undefined) out.expiresAt = r.expiresAt
  return out
}

// ---- cache encoding: [tag u8][type u8][id i64 LE][createdAt u32][expiresAt u32, 0 = none][key 256]
const TAG_RECORD = 1
const TAG_BINDING = 2
const TAG_TOMBSTONE = 0
const RECORD_BYTES = 2 + 8 + 4 + 4 + AUTH_KEY_BYTES
const BINDING_BYTES = 2 + 8 + 8 + 4

/** Marks a destroyed key/binding in the cache so a concurrent refill cannot resurrect it. */
export const TOMBSTONE: Buffer = Buffer.from([TAG_TOMBSTONE])

export function encodeRecord(r: AuthKeyRecord): Buffer {
  const b = Buffer.allocUnsafe(RECORD_BYTES)
  b[0] = TAG_RECORD
  b[1] = r.type
  b.writeBigInt64LE(r.id, 2)
  b.writeUInt32LE(r.createdAt, 10)
  b.writeUInt32LE(r.expiresAt ?? 0, 14)
  r.key.copy(b, 18)
  return b
}

export type Decoded<T> = { kind: 'value'; value: T } | { kind: 'tombstone' } | { kind: 'corrupt' }

export function decodeRecord(b: Buffer, expectId: bigint): Decoded<AuthKeyRecord> {
  if (b.length === 1 && b[0] === TAG_TOMBSTONE) return { kind: 'tombstone' }
  if (b.length !== RECORD_BYTES || b[0] !== TAG_RECORD) return { kind: 'corrupt' }
  const type = b[1]
  if (!isAuthKeyType(type)) return { kind: 'corrupt' }
  const id = b.readBigInt64LE(2)
  if (id !== expectId) return { kind: 'corrupt' }
  const r: AuthKeyRecord = { id, type, createdAt: b.readUInt32LE(10), key: Buffer.from(b.subarray(18)) }
  const exp = b.readUInt32LE(14)
  // 0: a temp key whose expiry the database does not know (written by Teamgram).
  if (type !== AuthKeyType.perm && exp !== 0) r.expiresAt = exp
  return { kind: 'value', value: r }
}

export function encodeBinding(x: AuthKeyBinding): Buffer {
  const b = Buffer.allocUnsafe(BINDING_BYTES)
  b[0] = TAG_BINDING
  b[1] = x.type
  b.writeBigInt64LE(x.tempId, 2)
  b.writeBigInt64LE(x.permId, 10)
  b.writeUInt32LE(x.expiresAt, 18)
  return b
}

export function decodeBinding(b: Buffer, expectTempId: bigint): Decoded<AuthKeyBinding> {
  if (b.length === 1 && b[0] === TAG_TOMBSTONE) return { kind: 'tombstone' }
  if (b.length !== BINDING_BYTES || b[0] !== TAG_BINDING) return { kind: 'corrupt' }
  const type = b[1]
  if (type !== AuthKeyType.temp && type !== AuthKeyType.mediaTemp) return { kind: 'corrupt' }
  const tempId = b.readBigInt64LE(2)
  if (tempId !== expectTempId) return { kind: 'corrupt' }
  return { kind: 'value', value: { tempId, permId: b.readBigInt64LE(10), type, expiresAt: b.readUInt32LE(18) } }
}

export function validateSalts(authKeyId: bigint, salts: readonly { salt: bigint; validSince: number; validUntil: number }[]): void {
  validateId(authKeyId)
  if (!Array.isArray(salts)) throw new StoreError('invalid', 'salts must be an array')
  if (salts.length > 1024) throw new StoreError('invalid', 'too many salts')
  const seen = new Set<bigint>()
  for (const s of salts) {
    if (!isInt64(s.salt)) throw new StoreError('invalid', 'salt is not an int64')
    if (!isUnixSeconds(s.validSince) || !isUnixSeconds(s.validUntil) || s.validUntil < s.validSince)
      throw new StoreError('invalid', 'salt validity is not a unix-seconds interval')
    if (seen.has(s.salt)) throw new StoreError('invalid', 'duplicate salt')
    seen.add(s.salt)
  }
}

/** Largest `client` text of an AuthKeyState, in UTF-8 bytes. */
export const MAX_STATE_CLIENT_BYTES = 16 * 1024
const INT32_MAX = 0x7fffffff

/** Throws StoreError('invalid') unless the state is storable (int64 user id, int32 layer ≥ 0, client ≤ 16 KB). */
export function validateState(authKeyId: bigint, s: AuthKeyState): void {
  validateId(authKeyId)
  if (typeof s !== 'object' || s === null) throw new StoreError('invalid', 'state must be an object')
  if (s.userId !== undefined && !isInt64(s.userId)) throw new StoreError('invalid', 'state userId is not an int64')
  if (s.layer !== undefined && !(Number.isInteger(s.layer) && s.layer >= 0 && s.layer <= INT32_MAX))
    throw new StoreError('invalid', 'state layer is not a non-negative int32')
  if (s.client !== undefined) {
    if (typeof s.client !== 'string') throw new StoreError('invalid', 'state client is not a string')
    const n = Buffer.byteLength(s.client, 'utf8')
    if (n > MAX_STATE_CLIENT_BYTES)
      throw new StoreError('invalid', `state client is ${n} bytes (at most ${MAX_STATE_CLIENT_BYTES})`)
  }
}

/** A copy holding only the defined fields (absent fields stay absent, never `undefined`-valued keys). */
export function copyState(s: AuthKeyState): AuthKeyState {
  const out: AuthKeyState = {}
  if (s.userId !== undefined) out.userId = s.userId
  if (s.layer !== undefined) out.layer = s.layer
  if (s.client !== undefined) out.client = s.client
  return out
}
