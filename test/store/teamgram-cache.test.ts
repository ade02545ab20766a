/**
 * Teamgram's Redis cache entries for a key are deleted after each mysql write that changes what they
 * hold (real MariaDB and Redis), and a delete Redis could not take is done once it answers again.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import { createAuthKeyStore, type ConfiguredAuthKeyStore } from '../../src/store/factory.js'
import { teamgramCacheKeys as k } from '../../src/store/teamgram-cache.js'
import { AuthKeyType, StoreError } from '../../src/store/types.js'
import { systemClock } from '../../src/util/clock.js'
import { skipWithout, startMariaDb, startRedis, type MariaDbInstance, type RedisInstance } from '../helpers/services.js'
import { permRecord, tempRecord, testLogger } from './fixtures.js'

const skip = skipWithout('mariadb', 'redis')

describe("store mysql with teamgram_cache: Teamgram's cache entries follow the tables", { skip }, () => {
  let mariadb: MariaDbInstance
  let redis: RedisInstance
  let store: ConfiguredAuthKeyStore
  let r: Redis

  before(async () => {
    mariadb = await startMariaDb()
    redis = await startRedis()
    mariadb.createDatabase('teamgram')
    store = await createAuthKeyStore(
      { store: 'mysql', cache: 'none', mysql: { ...mariadb.connection, database: 'teamgram' }, teamgramCache: { ...redis.connection }, lruSize: 0 },
      testLogger(),
    )
    r = new Redis({ ...redis.connection, maxRetriesPerRequest: 1 })
  })

  after(async () => {
    r?.disconnect()
    await store?.close()
    await redis?.destroy()
    await mariadb?.destroy()
  })

  /** Entries as go-zero's cache leaves them: a row as JSON, or "*" for "not found". */
  const seed = (keys: string[]) => Promise.all(keys.map((key) => r.set(key, '*', 'EX', 3600)))
  const present = async (keys: string[]) => (await Promise.all(keys.map((key) => r.exists(key)))).map(Boolean)

  it('put, bind, saveState and destroy delete the entries they make stale, and only those', async () => {
    const p = permRecord(systemClock)
    const t = tempRecord(systemClock, 3600)
    const other = tempRecord(systemClock, 3600)
    await seed([k.authKey(p.id), k.authKeyHash(p.id), k.authKey(t.id), k.authData(p.id), k.authKey(other.id)])
    assert.equal(await store.put(p), 'created')
    assert.equal(await store.put(t), 'created')
    assert.deepEqual(await present([k.authKey(p.id), k.authKeyHash(p.id), k.authKey(t.id), k.authData(p.id), k.authKey(other.id)]), [false, false, false, true, true])

    await seed([k.authKey(p.id), k.authKey(t.id)])
    await store.bind({ tempId: t.id, permId: p.id, type: AuthKeyType.temp, expiresAt: t.expiresAt! })
    assert.deepEqual(await present([k.authKey(p.id), k.authKey(t.id), k.authData(p.id)]), [false, false, true])

    await store.saveState(p.id, { userId: 5n, layer: 222 })
    assert.deepEqual(await present([k.authData(p.id), k.authKey(other.id)]), [false, true])

    await seed([k.authKey(p.id), k.authKey(t.id), k.authData(t.id)])
    assert.equal(await store.destroy(t.id), true)
    assert.deepEqual(await present([k.authKey(t.id), k.authData(t.id), k.authKey(p.id)]), [false, false, false], "the temp key's entries and its perm key's (its link is gone)")
  })

  it('a delete Redis refused is done once Redis answers again', async () => {
    const p = permRecord(systemClock)
    assert.equal(await store.put(p), 'created')
    await redis.kill()
    await store.saveState(p.id, { userId: 6n })
    await redis.start()
    // the restarted Redis is empty: the stale entry Teamgram would hold is put back by hand
    await seed([k.authData(p.id)])
    // the next write replays the pending delete (Redis reconnects within a second)
    for (let i = 0; i < 50 && (await r.exists(k.authData(p.id))); i++) {
      assert.equal(await store.put(permRecord(systemClock)), 'created')
      await new Promise((res) => setTimeout(res, 100))
    }
    assert.equal(await r.exists(k.authData(p.id)), 0)
  })

  it('is refused with another backend', async () => {
    await assert.rejects(
      createAuthKeyStore({ store: 'memory', cache: 'none', teamgramCache: { ...redis.connection } }, testLogger()),
      (e: unknown) => e instanceof StoreError && /teamgram_cache needs store mysql/.test(e.message),
    )
  })
})
