/**
 * Faults with the real processes: redis-server and mariadbd are killed (SIGKILL), hung (SIGSTOP) and
 * restarted while the store is in use.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { MysqlAuthKeyStore } from '../../src/store/mysql.js'
import { SqliteAuthKeyStore } from '../../src/store/sqlite.js'
import { createRedisClient, RedisCachedAuthKeyStore } from '../../src/store/redis-cache.js'
import { LruAuthKeyStore } from '../../src/store/lru-store.js'
import { StoreError, type AuthKeyRecord, type AuthKeyStore } from '../../src/store/types.js'
import { systemClock } from '../../src/util/clock.js'
import { skipWithout, startMariaDb, startRedis, type MariaDbInstance, type RedisInstance } from '../helpers/services.js'
import { capturingLogger, configFor, openStore, permRecord } from './fixtures.js'

let mariadb: MariaDbInstance
let redis: RedisInstance
const dir = mkdtempSync(join(tmpdir(), 'mtgate-store-faults-'))
const skip = skipWithout('mariadb', 'redis')

before(async () => {
  if (skip) return
  ;[mariadb, redis] = await Promise.all([startMariaDb(), startRedis()])
})

after(async () => {
  await Promise.all([mariadb?.destroy(), redis?.destroy()])
  rmSync(dir, { recursive: true, force: true })
})

/** Polls fn until it returns true (or fails after ms). */
async function eventually(fn: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await fn()) return
    await sleep(50)
  }
  assert.fail(`not within ${ms} ms: ${what}`)
}

function isUnavailable(e: unknown): boolean {
  return e instanceof StoreError && e.code === 'unavailable'
}

for (const backend of ['mysql', 'sqlite'] as const) {
  describe(`redis down and back (${backend}+redis)`, { skip }, () => {
    it('lookups keep working from the database, with a warning, and the cache recovers by itself', async () => {
      const { log, lines } = capturingLogger()
      const db: AuthKeyStore =
        backend === 'mysql'
          ? await MysqlAuthKeyStore.open({ ...mariadb.connection, opTimeoutMs: 1500 }, { log })
          : new SqliteAuthKeyStore({ path: join(dir, 'redis-fault.sqlite'), log })
      const client = createRedisClient({ ...redis.connection, commandTimeoutMs: 200 }, log)
      const cache = new RedisCachedAuthKeyStore(db, client, { log, keyPrefix: `faults:${backend}:` })
      try {
        await eventually(() => client.status === 'ready', 5000, 'redis connected')
        const keys: AuthKeyRecord[] = []
        for (let i = 0; i < 10; i++) {
          const r = permRecord(systemClock)
          assert.equal(await cache.put(r), 'created')
          keys.push(r)
        }
        for (const r of keys) assert.ok((await cache.get(r.id))?.key.equals(r.key))
        assert.ok(cache.stats.hits >= 10, 'served from redis')

        // Readers run during the whole outage.
        let failures = 0
        let reads = 0
        let slowest = 0
        let running = true
        const reader = (async () => {
          while (running) {
            for (const r of keys) {
              const t0 = Date.now()
              try {
                const got = await cache.get(r.id)
                if (!got?.key.equals(r.key)) failures++
              } catch {
                failures++
              }
              slowest = Math.max(slowest, Date.now() - t0)
              reads++
            }
            await sleep(5)
          }
        })()

        await redis.kill()
        const readsAtKill = reads
        await sleep(600)
        // A key written while Redis is down is stored and readable.
        const during = permRecord(systemClock)
        assert.equal(await cache.put(during), 'created')
        assert.ok((await cache.get(during.id))?.key.equals(during.key))
        assert.ok(reads > readsAtKill, 'reads went on while redis was down')
        assert.ok(
          lines.some((l) => l.level === 40 && l.msg === 'redis cache: unavailable, falling back to the database' && typeof l.reason === 'string'),
          'a warning with a reason was logged',
        )

        await redis.start()
        const hitsBefore = cache.stats.hits
        await eventually(async () => {
          await cache.get(keys[0]!.id)
          return cache.stats.hits > hitsBefore + 5
        }, 10_000, 'cache hits again after redis restart')
        assert.ok(lines.some((l) => l.msg === 'redis cache: reachable again, caching resumed'))
        running = false
        await reader
        assert.equal(failures, 0, 'no lookup failed because the cache was gone')
        assert.ok(slowest < 1000, `slowest lookup ${slowest} ms`)
      } finally {
        await cache.close()
      }
    })
  })
}

describe('database down and back (mysql+redis)', { skip }, () => {
  it('put fails fast with unavailable, cached keys keep serving, nothing written is lost', async () => {
    const { log, lines } = capturingLogger()
    mariadb.createDatabase('faults_db')
    const cfg = configFor(
      'mysql+redis',
      { dir, mariadb, redis, database: 'faults_db', prefix: 'faults:db:' },
      { lruTtlMs: 300 },
    )
    const store = await openStore(cfg, undefined, log)
    try {
      const written: AuthKeyRecord[] = []
      for (let i = 0; i < 20; i++) {
        const r = permRecord(systemClock)
        assert.equal(await store.put(r), 'created')
        written.push(r)
      }
      for (const r of written) assert.ok(await store.get(r.id))
      const state = { userId: 31n, layer: 201, client: '{}' }
      await store.saveState(written[0]!.id, state)

      await mariadb.kill()

      // New handshakes: put rejects quickly with 'unavailable' (the key is never acknowledged).
      const t0 = Date.now()
      await assert.rejects(store.put(permRecord(systemClock)), isUnavailable)
      const took = Date.now() - t0
      assert.ok(took < 2500, `put failed after ${took} ms`)
      assert.ok(lines.some((l) => l.msg === 'mysql store: database unavailable' && typeof l.reason === 'string'))

      // Cached keys keep serving: first from the LRU, then (LRU entries expired) from Redis.
      for (const r of written) assert.ok(store.peek(r.id)?.key.equals(r.key))
      await sleep(350)
      for (const r of written) assert.ok((await store.get(r.id))?.key.equals(r.key), 'served by redis')

      // An uncached key must not look unknown (that would make the client drop its key): it fails.
      await assert.rejects(store.get(permRecord(systemClock).id), isUnavailable)
      // Per-key state: never "none" while the database is down (the user binding would look lost).
      await assert.rejects(store.loadState(written[0]!.id), isUnavailable)
      await assert.rejects(store.saveState(written[1]!.id, { userId: 32n }), isUnavailable)

      await mariadb.start()
      let after: AuthKeyRecord | undefined
      await eventually(async () => {
        try {
          const r = permRecord(systemClock)
          await store.put(r)
          after = r
          return true
        } catch (e) {
          if (!isUnavailable(e)) throw e
          return false
        }
      }, 10_000, 'puts succeed after the database restart')
      assert.ok(after)

      // A fresh process reading the database directly finds everything acknowledged.
      const fresh = await MysqlAuthKeyStore.open({ ...mariadb.connection, database: 'faults_db' })
      try {
        for (const r of [...written, after]) assert.ok((await fresh.get(r.id))?.key.equals(r.key))
        assert.deepEqual(await fresh.loadState(written[0]!.id), state)
        assert.equal(await fresh.loadState(written[1]!.id), undefined, 'the refused save left nothing')
      } finally {
        await fresh.close()
      }
    } finally {
      await store.close()
    }
  })

  it('a hung database (SIGSTOP) makes put reject within the operation deadline', async () => {
    const store = await MysqlAuthKeyStore.open({ ...mariadb.connection, opTimeoutMs: 800 })
    const pid = mariadb.pid
    assert.ok(pid)
    try {
      assert.equal(await store.put(permRecord(systemClock)), 'created')
      process.kill(pid, 'SIGSTOP')
      try {
        const t0 = Date.now()
        await assert.rejects(store.put(permRecord(systemClock)), isUnavailable)
        const took = Date.now() - t0
        assert.ok(took >= 700 && took < 2000, `put rejected after ${took} ms`)
        await assert.rejects(store.get(permRecord(systemClock).id), isUnavailable)
      } finally {
        process.kill(pid, 'SIGCONT')
      }
      await eventually(async () => {
        try {
          return (await store.put(permRecord(systemClock))) === 'created'
        } catch {
          return false
        }
      }, 10_000, 'put works after SIGCONT')
    } finally {
      await store.close()
    }
  })

  it('the LRU layer alone serves its keys while the database is down', async () => {
    const db = await MysqlAuthKeyStore.open({ ...mariadb.connection, opTimeoutMs: 800 })
    const lru = new LruAuthKeyStore(db, { size: 100, ttlMs: 60_000 })
    try {
      const r = permRecord(systemClock)
      await lru.put(r)
      await mariadb.kill()
      assert.ok((await lru.get(r.id))?.key.equals(r.key))
      await assert.rejects(lru.put(permRecord(systemClock)), isUnavailable)
      await mariadb.start()
      await eventually(async () => {
        try {
          return (await db.get(r.id)) !== undefined
        } catch {
          return false
        }
      }, 10_000, 'database back')
    } finally {
      await lru.close()
    }
  })
})

describe('redis hung (SIGSTOP) and back (memory db)', { skip }, () => {
  it('lookups skip a hung Redis after one timeout; a destroy made meanwhile reaches Redis once it answers', async () => {
    const { log } = capturingLogger()
    const { MemoryAuthKeyStore } = await import('../../src/store/memory.js')
    const db = new MemoryAuthKeyStore()
    const prefix = 'faults:hung:'
    const ca = createRedisClient({ ...redis.connection, commandTimeoutMs: 200 }, log)
    const cb = createRedisClient({ ...redis.connection, commandTimeoutMs: 200 }, log)
    const a = new RedisCachedAuthKeyStore(db, ca, { log, keyPrefix: prefix })
    const b = new RedisCachedAuthKeyStore(db, cb, { log, keyPrefix: prefix })
    const pid = redis.pid
    assert.ok(pid)
    try {
      await eventually(() => ca.status === 'ready' && cb.status === 'ready', 5000, 'redis connected')
      const keep = permRecord(systemClock)
      const gone = permRecord(systemClock)
      await a.put(keep)
      await a.put(gone)
      assert.ok(await b.get(gone.id))
      process.kill(pid, 'SIGSTOP')
      let stopped = true
      try {
        const t0 = Date.now()
        for (let i = 0; i < 30; i++) assert.ok((await a.get(keep.id))?.key.equals(keep.key))
        const took = Date.now() - t0
        assert.ok(took < 1500, `30 lookups took ${took} ms with Redis hung`)
        assert.equal(await a.destroy(gone.id), true)
        assert.ok(a.pendingInvalidations >= 1, 'the tombstone waits for Redis')
        process.kill(pid, 'SIGCONT')
        stopped = false
        await eventually(async () => {
          await a.get(keep.id)
          return a.pendingInvalidations === 0
        }, 10_000, 'invalidation replayed')
        // The other gateway, reading the same Redis (which kept its data), does not see the destroyed key.
        await eventually(async () => (await b.get(gone.id)) === undefined, 5000, 'gateway b sees the destroy')
        assert.ok(await b.get(keep.id))
      } finally {
        if (stopped) process.kill(pid, 'SIGCONT')
      }
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })
})
