import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import {
  authKeyIdOf,
  decodeBinding,
  decodeRecord,
  encodeBinding,
  encodeRecord,
  TOMBSTONE,
  validateRecord,
} from '../../src/store/codec.js'
import { toStoreError, withDeadline } from '../../src/store/errors.js'
import { AuthKeyType, StoreError } from '../../src/store/types.js'

describe('store codec', () => {
  it('auth_key_id is the low 64 bits of SHA-1(key), little-endian signed', () => {
    const key = randomBytes(256)
    const h = createHash('sha1').update(key).digest()
    assert.equal(authKeyIdOf(key), h.subarray(12, 20).readBigInt64LE(0))
  })

  it('round-trips records and bindings, and recognises tombstones', () => {
    const key = randomBytes(256)
    const id = authKeyIdOf(key)
    const perm = { id, key, type: AuthKeyType.perm, createdAt: 1_790_000_000 }
    assert.deepEqual(decodeRecord(encodeRecord(perm), id), { kind: 'value', value: perm })
    const temp = { ...perm, type: AuthKeyType.temp, expiresAt: 1_790_086_400 }
    assert.deepEqual(decodeRecord(encodeRecord(temp), id), { kind: 'value', value: temp })
    const b = { tempId: -5n, permId: (1n << 63n) - 1n, type: AuthKeyType.mediaTemp, expiresAt: 7 }
    assert.deepEqual(decodeBinding(encodeBinding(b), -5n), { kind: 'value', value: b })
    assert.deepEqual(decodeRecord(TOMBSTONE, id), { kind: 'tombstone' })
    assert.deepEqual(decodeBinding(TOMBSTONE, 1n), { kind: 'tombstone' })
  })

  it('reports corrupt or foreign cache values instead of trusting them', () => {
    const key = randomBytes(256)
    const id = authKeyIdOf(key)
    const enc = encodeRecord({ id, key, type: AuthKeyType.perm, createdAt: 1 })
    assert.equal(decodeRecord(enc.subarray(0, 100), id).kind, 'corrupt')
    assert.equal(decodeRecord(enc, id + 1n).kind, 'corrupt', 'value stored under another id')
    const bad = Buffer.from(enc)
    bad[1] = 9
    assert.equal(decodeRecord(bad, id).kind, 'corrupt')
    assert.equal(decodeRecord(Buffer.from('hello'), id).kind, 'corrupt')
    assert.equal(decodeBinding(enc, id).kind, 'corrupt')
  })

  it('validates records', () => {
    const key = randomBytes(256)
    const ok = { id: authKeyIdOf(key), key, type: AuthKeyType.perm, createdAt: 1 }
    validateRecord(ok)
    const bad = [
      { ...ok, key: Buffer.alloc(128) },
      { ...ok, id: -(1n << 63n) - 1n },
      { ...ok, type: 3 as AuthKeyType },
      { ...ok, createdAt: 1.5 },
      { ...ok, expiresAt: 10 },
      { ...ok, type: AuthKeyType.temp },
    ]
    for (const r of bad) assert.throws(() => validateRecord(r), (e: unknown) => e instanceof StoreError && e.code === 'invalid')
  })
})

describe('store errors', () => {
  it('maps connection failures to unavailable and the rest to internal', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })
    assert.equal(toStoreError(refused, 'x').code, 'unavailable')
    assert.equal(toStoreError(Object.assign(new Error('busy'), { code: 'SQLITE_BUSY' }), 'x').code, 'unavailable')
    assert.equal(toStoreError(Object.assign(new Error('syntax'), { code: 'ER_PARSE_ERROR' }), 'x').code, 'internal')
    const se = new StoreError('invalid', 'y')
    assert.equal(toStoreError(se, 'x'), se)
  })

  it('withDeadline rejects with unavailable when the operation hangs', async () => {
    const t0 = Date.now()
    await assert.rejects(withDeadline(new Promise(() => undefined), 50, 'op'), (e: unknown) => e instanceof StoreError && e.code === 'unavailable')
    assert.ok(Date.now() - t0 < 1000)
    assert.equal(await withDeadline(Promise.resolve(3), 50, 'op'), 3)
  })
})
