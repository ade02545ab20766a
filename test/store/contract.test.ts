/**
 * The AuthKeyStore contract, one suite run against every backend combination built by the factory:
 * memory, sqlite, mysql, sqlite+redis, mysql+redis (real MariaDB and Redis, private instances).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { ManualClock } from '../../src/util/clock.js'
import { AuthKeyType, StoreError, type AuthKeyStoreConfig } from '../../src/store/types.js'
import type { ConfiguredAuthKeyStore } from '../../src/store/factory.js'
import { skipWithout, startMariaDb, startRedis, type MariaDbInstance, type RedisInstance } from '../helpers/services.js'
import { BACKENDS, configFor, needs, nowSec, openStore, permRecord, tempRecord } from './fixtures.js'

const anyNeedsDb = BACKENDS.some((b) => needs(b).includes('mariadb'))
let mariadb: MariaDbInstance | undefined
let redis: RedisInstance | undefined
const dir = mkdtempSync(join(tmpdir(), 'mtgate-store-contract-'))

before(async () => {
  if (anyNeedsDb && !skipWithout('mariadb')) mariadb = await startMariaDb()
  if (!skipWithout('redis')) redis = await startRedis()
})

after(async () => {
  await Promise.all([mariadb?.destroy(), redis?.destroy()])
  rmSync(dir, { recursive: true, force: true })
})

async function rejectsWith(p: Promise<unknown>, code: StoreError['code']): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof StoreError && e.code === code)
}

for (const name of BACKENDS) {
  describe(`AuthKeyStore contract: ${name}`, { skip: skipWithout(...needs(name)) }, () => {
    const clock = new ManualClock(1_790_000_000_000)
    let cfg: AuthKeyStoreConfig
    let store: ConfiguredAuthKeyStore
    const durable = name !== 'memory'

    before(async () => {
      const database = `contract_${name.replace('+', '_')}`
      mariadb?.createDatabase(database)
      const sub = join(dir, name)
      cfg = configFor(name, { dir: sub, database, prefix: `contract:${name}:`, ...(mariadb ? { mariadb } : {}), ...(redis ? { redis } : {}) })
      store = await openStore(cfg, clock)
    })

    after(async () => {
      await store?.close()
    })

    it('describes itself', () => {
      const d = store.describe()
      assert.match(d, new RegExp(`^auth keys: ${name.split('+')[0]}`))
      if (name.endsWith('redis')) assert.match(d, /\+ redis 127\.0\.0\.1:\d+/)
      assert.match(d, /\+ lru \d+ x \d+ ms$/)
    })

    it('stores a permanent key and reads it back', async () => {
      const r = permRecord(clock)
      assert.equal(await store.put(r), 'created')
      const got = await store.get(r.id)
      assert.ok(got)
      assert.equal(got.id, r.id)
      assert.ok(got.key.equals(r.key))
      assert.equal(got.type, AuthKeyType.perm)
      assert.equal(got.createdAt, r.createdAt)
      assert.equal(got.expiresAt, undefined)
    })

    it('peek is a synchronous hit right after put, and misses for unknown ids', async () => {
      const r = permRecord(clock)
      await store.put(r)
      const hit = store.peek(r.id)
      assert.ok(hit?.key.equals(r.key))
      assert.equal(store.peek(permRecord(clock).id), undefined)
    })

    it('answers undefined for an unknown id', async () => {
      assert.equal(await store.get(permRecord(clock).id), undefined)
      assert.equal(await store.getBinding(permRecord(clock).id), undefined)
      assert.deepEqual(await store.loadSalts(permRecord(clock).id), [])
    })

    it('a repeated put of the same key is idempotent; another key under the same id is a collision', async () => {
      const r = permRecord(clock)
      assert.equal(await store.put(r), 'created')
      assert.equal(await store.put({ ...r, key: Buffer.from(r.key) }), 'created')
      assert.equal(await store.put({ ...r, key: randomBytes(256) }), 'exists')
      const got = await store.get(r.id)
      assert.ok(got?.key.equals(r.key), 'the first key stays')
    })

    it('keeps the extreme int64 ids apart', async () => {
      const lo = { ...permRecord(clock), id: -(1n << 63n) }
      const hi = { ...permRecord(clock), id: (1n << 63n) - 1n }
      const zero = { ...permRecord(clock), id: 0n }
      for (const r of [lo, hi, zero]) assert.equal(await store.put(r), 'created')
      for (const r of [lo, hi, zero]) assert.ok((await store.get(r.id))?.key.equals(r.key))
    })

    it('destroy is a soft delete: gone for get, its id never reusable', async () => {
      const r = permRecord(clock)
      await store.put(r)
      assert.equal(await store.destroy(r.id), true)
      assert.equal(store.peek(r.id), undefined)
      assert.equal(await store.get(r.id), undefined)
      assert.equal(await store.destroy(r.id), false)
      assert.equal(await store.put(r), 'exists')
      assert.equal(await store.get(r.id), undefined)
      assert.equal(await store.destroy(permRecord(clock).id), false)
    })

    it('temp keys stop being served after their expiry and expireTemp removes them', async () => {
      const t = tempRecord(clock, 100)
      const t2 = tempRecord(clock, 10_000, AuthKeyType.mediaTemp)
      await store.put(t)
      await store.put(t2)
      const got = await store.get(t.id)
      assert.equal(got?.type, AuthKeyType.temp)
      assert.equal(got?.expiresAt, t.expiresAt)
      assert.equal((await store.get(t2.id))?.type, AuthKeyType.mediaTemp)
      clock.advance(101_000)
      assert.equal(store.peek(t.id), undefined)
      assert.equal(await store.get(t.id), undefined)
      assert.ok(await store.get(t2.id))
      assert.ok((await store.expireTemp(nowSec(clock))) >= 1)
      assert.equal(await store.put(t), 'exists', 'an expired id is not reused')
      assert.ok(await store.get(t2.id), 'unexpired temp key kept')
    })

    it('binds temp keys to a permanent key, re-binds, and reads the binding', async () => {
      const p1 = permRecord(clock)
      const p2 = permRecord(clock)
      const t = tempRecord(clock)
      const m = tempRecord(clock, 3600, AuthKeyType.mediaTemp)
      for (const r of [p1, p2, t, m]) await store.put(r)
      const exp = nowSec(clock) + 3600
      await store.bind({ tempId: t.id, permId: p1.id, type: AuthKeyType.temp, expiresAt: exp })
      await store.bind({ tempId: m.id, permId: p1.id, type: AuthKeyType.mediaTemp, expiresAt: exp })
      assert.deepEqual(await store.getBinding(t.id), { tempId: t.id, permId: p1.id, type: AuthKeyType.temp, expiresAt: exp })
      assert.equal((await store.getBinding(m.id))?.type, AuthKeyType.mediaTemp)
      await store.bind({ tempId: t.id, permId: p2.id, type: AuthKeyType.temp, expiresAt: exp + 5 })
      assert.deepEqual(await store.getBinding(t.id), { tempId: t.id, permId: p2.id, type: AuthKeyType.temp, expiresAt: exp + 5 })
      assert.equal(await store.getBinding(p1.id), undefined, 'a perm key has no binding of its own')
    })

    it('drops bindings when either side is destroyed', async () => {
      const p = permRecord(clock)
      const t1 = tempRecord(clock)
      const t2 = tempRecord(clock)
      for (const r of [p, t1, t2]) await store.put(r)
      const exp = nowSec(clock) + 3600
      await store.bind({ tempId: t1.id, permId: p.id, type: AuthKeyType.temp, expiresAt: exp })
      await store.bind({ tempId: t2.id, permId: p.id, type: AuthKeyType.temp, expiresAt: exp })
      assert.ok(await store.getBinding(t1.id))
      assert.ok(await store.getBinding(t2.id))
      await store.destroy(t1.id)
      assert.equal(await store.getBinding(t1.id), undefined)
      assert.ok(await store.getBinding(t2.id))
      await store.destroy(p.id)
      assert.equal(await store.getBinding(t2.id), undefined)
    })

    it('a binding past its expiry is not returned', async () => {
      const p = permRecord(clock)
      const t = tempRecord(clock, 50)
      await store.put(p)
      await store.put(t)
      await store.bind({ tempId: t.id, permId: p.id, type: AuthKeyType.temp, expiresAt: nowSec(clock) + 50 })
      assert.ok(await store.getBinding(t.id))
      clock.advance(51_000)
      assert.equal(await store.getBinding(t.id), undefined)
    })

    it('refuses bindings to unknown, destroyed or wrong-typed keys', async () => {
      const p = permRecord(clock)
      const t = tempRecord(clock)
      await store.put(p)
      await store.put(t)
      const exp = nowSec(clock) + 60
      await rejectsWith(store.bind({ tempId: t.id, permId: permRecord(clock).id, type: AuthKeyType.temp, expiresAt: exp }), 'invalid')
      await rejectsWith(store.bind({ tempId: permRecord(clock).id, permId: p.id, type: AuthKeyType.temp, expiresAt: exp }), 'invalid')
      await rejectsWith(store.bind({ tempId: p.id, permId: p.id, type: AuthKeyType.temp, expiresAt: exp }), 'invalid')
      await rejectsWith(store.bind({ tempId: t.id, permId: p.id, type: AuthKeyType.perm, expiresAt: exp }), 'invalid')
      const p2 = permRecord(clock)
      await store.put(p2)
      await rejectsWith(store.bind({ tempId: p2.id, permId: p.id, type: AuthKeyType.temp, expiresAt: exp }), 'invalid')
      await store.destroy(p.id)
      await rejectsWith(store.bind({ tempId: t.id, permId: p.id, type: AuthKeyType.temp, expiresAt: exp }), 'invalid')
    })

    it('saves, replaces and loads server salts; destroy drops them', async () => {
      const p = permRecord(clock)
      await store.put(p)
      const now = nowSec(clock)
      const salts = [
        { salt: -(1n << 63n), validSince: now + 1800, validUntil: now + 3600 },
        { salt: 0x1234_5678_9abc_def0n, validSince: now, validUntil: now + 1800 },
      ]
      await store.saveSalts(p.id, salts)
      assert.deepEqual(await store.loadSalts(p.id), [salts[1], salts[0]], 'ordered by validSince')
      const next = [{ salt: 7n, validSince: now + 3600, validUntil: now + 5400 }]
      await store.saveSalts(p.id, next)
      assert.deepEqual(await store.loadSalts(p.id), next)
      await store.saveSalts(p.id, [])
      assert.deepEqual(await store.loadSalts(p.id), [])
      await store.saveSalts(p.id, next)
      await store.destroy(p.id)
      assert.deepEqual(await store.loadSalts(p.id), [])
    })

    it('saves, loads and replaces the per-key state; absent fields stay absent', async () => {
      const p = permRecord(clock)
      await store.put(p)
      assert.equal(await store.loadState(p.id), undefined, 'nothing saved yet')
      const client = JSON.stringify({ apiId: 4, deviceModel: 'Ünïcødé 📱', appVersion: '1.0', langCode: 'en' })
      await store.saveState(p.id, { userId: 777_000n, layer: 201, client })
      assert.deepEqual(await store.loadState(p.id), { userId: 777_000n, layer: 201, client })
      // Replaced as a whole: a field left undefined is absent afterwards, never kept from before.
      await store.saveState(p.id, { layer: 202 })
      assert.deepEqual(await store.loadState(p.id), { layer: 202 })
      await store.saveState(p.id, { userId: 5n, layer: undefined })
      const got = await store.loadState(p.id)
      assert.deepEqual(got, { userId: 5n })
      assert.ok(got && !('layer' in got) && !('client' in got), 'absent fields are not undefined-valued keys')
      await store.saveState(p.id, {})
      assert.deepEqual(await store.loadState(p.id), {}, 'an empty state is saved, not the same as none')
      // The state of one key does not leak into another, and a state may be saved before the key.
      const q = permRecord(clock)
      assert.equal(await store.loadState(q.id), undefined)
      await store.saveState(q.id, { userId: 1n })
      assert.deepEqual(await store.loadState(q.id), { userId: 1n })
      assert.deepEqual(await store.loadState(p.id), {})
    })

    it('state keeps extreme values: int64 user ids, layer 0 and int32 max, client of exactly 16 KB', async () => {
      const p = permRecord(clock)
      await store.put(p)
      for (const userId of [-(1n << 63n), (1n << 63n) - 1n, 0n]) {
        await store.saveState(p.id, { userId })
        assert.deepEqual(await store.loadState(p.id), { userId })
      }
      for (const layer of [0, 0x7fffffff]) {
        await store.saveState(p.id, { layer })
        assert.deepEqual(await store.loadState(p.id), { layer })
      }
      // 16384 UTF-8 bytes, multi-byte characters included.
      const client = 'é'.repeat(4000) + 'x'.repeat(16 * 1024 - 8000)
      assert.equal(Buffer.byteLength(client), 16 * 1024)
      await store.saveState(p.id, { client })
      assert.equal((await store.loadState(p.id))?.client, client)
      await store.saveState(p.id, { client: '' })
      assert.deepEqual(await store.loadState(p.id), { client: '' }, 'an empty client string is not absent')
    })

    it('refuses a state that is too large or malformed, keeping the saved one', async () => {
      const p = permRecord(clock)
      await store.put(p)
      const saved = { userId: 9n, layer: 200, client: '{}' }
      await store.saveState(p.id, saved)
      await rejectsWith(store.saveState(p.id, { client: 'x'.repeat(16 * 1024 + 1) }), 'invalid')
      await rejectsWith(store.saveState(p.id, { client: 'é'.repeat(8 * 1024 + 1) }), 'invalid')
      await rejectsWith(store.saveState(p.id, { userId: 1n << 63n }), 'invalid')
      await rejectsWith(store.saveState(p.id, { layer: -1 }), 'invalid')
      await rejectsWith(store.saveState(p.id, { layer: 1.5 }), 'invalid')
      await rejectsWith(store.saveState(p.id, { layer: 0x80000000 }), 'invalid')
      await rejectsWith(store.saveState(p.id, { client: 5 as unknown as string }), 'invalid')
      await rejectsWith(store.saveState(1n << 64n, saved), 'invalid')
      await rejectsWith(store.loadState(1n << 64n), 'invalid')
      assert.deepEqual(await store.loadState(p.id), saved)
    })

    it('destroy drops the state, and a later save does not bring it back', async () => {
      const p = permRecord(clock)
      const other = permRecord(clock)
      await store.put(p)
      await store.put(other)
      await store.saveState(p.id, { userId: 42n, layer: 201, client: '{"a":1}' })
      await store.saveState(other.id, { userId: 43n })
      assert.equal(await store.destroy(p.id), true)
      assert.equal(await store.loadState(p.id), undefined)
      // A session that still held the key saves after the destroy: ignored.
      await store.saveState(p.id, { userId: 42n })
      assert.equal(await store.loadState(p.id), undefined)
      assert.deepEqual(await store.loadState(other.id), { userId: 43n }, 'other keys keep theirs')
    })

    it('concurrent saves of one key leave one of the saved states whole', async () => {
      const p = permRecord(clock)
      await store.put(p)
      const states = Array.from({ length: 20 }, (_, i) => ({ userId: BigInt(i + 1), layer: 180 + i, client: `{"n":${i}}` }))
      await Promise.all(states.map((st) => store.saveState(p.id, st)))
      const got = await store.loadState(p.id)
      assert.ok(
        states.some((st) => st.userId === got?.userId && st.layer === got.layer && st.client === got.client),
        `a mix of saves: ${String(got?.userId)} ${String(got?.layer)} ${String(got?.client)}`,
      )
    })

    it('rejects malformed input with StoreError(invalid)', async () => {
      const r = permRecord(clock)
      await rejectsWith(store.put({ ...r, key: r.key.subarray(0, 255) }), 'invalid')
      await rejectsWith(store.put({ ...r, type: 7 as AuthKeyType }), 'invalid')
      await rejectsWith(store.put({ ...r, expiresAt: nowSec(clock) + 5 }), 'invalid')
      await rejectsWith(store.put({ ...tempRecord(clock), expiresAt: undefined }), 'invalid')
      await rejectsWith(store.put({ ...r, id: 1n << 64n }), 'invalid')
      await rejectsWith(store.put({ ...r, createdAt: -1 }), 'invalid')
      const now = nowSec(clock)
      await rejectsWith(store.saveSalts(r.id, [{ salt: 1n, validSince: now, validUntil: now - 1 }]), 'invalid')
      await rejectsWith(
        store.saveSalts(r.id, [
          { salt: 1n, validSince: now, validUntil: now + 1 },
          { salt: 1n, validSince: now + 1, validUntil: now + 2 },
        ]),
        'invalid',
      )
      assert.equal(await store.get(r.id), undefined, 'nothing was stored')
    })

    it('handles many concurrent puts and gets', async () => {
      const rs = Array.from({ length: 40 }, () => permRecord(clock))
      const res = await Promise.all(rs.map((r) => store.put(r)))
      assert.ok(res.every((x) => x === 'created'))
      const got = await Promise.all(rs.map((r) => store.get(r.id)))
      got.forEach((g, i) => assert.ok(g?.key.equals(rs[i]!.key)))
    })

    // The memory store is not durable: this case exists for the others only.
    if (durable) {
      it('keeps keys, bindings, salts and per-key state across a restart', async () => {
        const p = permRecord(clock)
        const t = tempRecord(clock)
        await store.put(p)
        await store.put(t)
        const exp = nowSec(clock) + 3600
        await store.bind({ tempId: t.id, permId: p.id, type: AuthKeyType.temp, expiresAt: exp })
        const salts = [{ salt: 99n, validSince: nowSec(clock), validUntil: nowSec(clock) + 1800 }]
        await store.saveSalts(p.id, salts)
        const state = { userId: 123_456_789_012n, layer: 201, client: '{"deviceModel":"test","apiId":4}' }
        await store.saveState(p.id, state)
        const signedOut = permRecord(clock)
        await store.put(signedOut)
        await store.saveState(signedOut.id, { layer: 198 })
        await store.close()
        store = await openStore(cfg, clock)
        assert.equal(store.peek(p.id), undefined, 'a new process starts with an empty LRU')
        assert.ok((await store.get(p.id))?.key.equals(p.key))
        assert.equal((await store.get(t.id))?.expiresAt, t.expiresAt)
        assert.deepEqual(await store.getBinding(t.id), { tempId: t.id, permId: p.id, type: AuthKeyType.temp, expiresAt: exp })
        assert.deepEqual(await store.loadSalts(p.id), salts)
        assert.deepEqual(await store.loadState(p.id), state)
        assert.deepEqual(await store.loadState(signedOut.id), { layer: 198 })
      })
    }
  })
}
