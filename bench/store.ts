/**
 * store.get: auth-key lookups/s — hot (in-process LRU), warm (Redis), cold (MySQL, SQLite);
 * store.put: durable writes/s (SQLite synchronous=FULL, MySQL InnoDB commit).
 * Baselines measured in the same run: a bare Map.get, raw ioredis GET, raw mysql2 SELECT by primary
 * key, raw better-sqlite3 SELECT/INSERT — so each ratio is the cost of our layer over the driver.
 * Starts its own private MariaDB and Redis (test/helpers/services.ts). Logs go to stderr.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import Database from 'better-sqlite3'
import mysql from 'mysql2/promise'
import { opsPerSec, report } from './report.js'
import { authKeyIdOf } from '../src/store/codec.js'
import { LruAuthKeyStore } from '../src/store/lru-store.js'
import { MemoryAuthKeyStore } from '../src/store/memory.js'
import { MysqlAuthKeyStore } from '../src/store/mysql.js'
import { createRedisClient, RedisCachedAuthKeyStore } from '../src/store/redis-cache.js'
import { SqliteAuthKeyStore } from '../src/store/sqlite.js'
import { AuthKeyType, type AuthKeyRecord } from '../src/store/types.js'
import { serviceMissing, startMariaDb, startRedis } from '../test/helpers/services.js'

const MS = Number(process.env.BENCH_MS ?? 1500)
const CONCURRENCY = 16

function record(): AuthKeyRecord {
  const key = randomBytes(256)
  return { id: authKeyIdOf(key), key, type: AuthKeyType.perm, createdAt: Math.floor(Date.now() / 1000) }
}

/** ops/s of an async operation with `concurrency` calls in flight for `ms`. */
async function asyncOpsPerSec(fn: (i: number) => Promise<unknown>, concurrency = CONCURRENCY, ms = MS): Promise<number> {
  for (let i = 0; i < 20; i++) await fn(i)
  let n = 0
  const start = process.hrtime.bigint()
  const end = start + BigInt(ms) * 1_000_000n
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (process.hrtime.bigint() < end) await fn(n++)
    }),
  )
  return n / (Number(process.hrtime.bigint() - start) / 1e9)
}

const dir = mkdtempSync(join(tmpdir(), 'mtgate-bench-store-'))
const keys = Array.from({ length: 1000 }, record)
const ids = keys.map((k) => k.id)
const pick = (i: number): bigint => ids[i % ids.length] as bigint

try {
  // ---- hot: LRU
  {
    const lru = new LruAuthKeyStore(new MemoryAuthKeyStore(), { size: 10_000, ttlMs: 3_600_000 })
    for (const k of keys) await lru.put(k)
    const map = new Map<bigint, AuthKeyRecord>(keys.map((k) => [k.id, k]))
    let i = 0
    const base = opsPerSec(() => void map.get(pick(i++)), MS)
    const peek = opsPerSec(() => void lru.peek(pick(i++)), MS)
    report({ bench: 'store.get.hot', value: peek, unit: 'lookups/s', ns_per_op: Math.round(1e9 / peek), baseline: 'Map.get(bigint)', baseline_value: base })
    const viaGet = await asyncOpsPerSec((j) => lru.get(pick(j)), 1)
    report({ bench: 'store.get.hot_async', value: viaGet, unit: 'lookups/s', ns_per_op: Math.round(1e9 / viaGet), baseline: 'peek (sync)', baseline_value: peek })
  }

  // ---- cold: SQLite
  {
    const path = join(dir, 'bench.sqlite')
    const s = new SqliteAuthKeyStore({ path })
    for (const k of keys) await s.put(k)
    const raw = new Database(path, { readonly: true })
    raw.defaultSafeIntegers(true)
    const st = raw.prepare('SELECT body, auth_key_type, expires_at, created_at FROM auth_keys WHERE auth_key_id = ? AND deleted = 0')
    let i = 0
    const base = opsPerSec(() => void st.get(pick(i++)), MS)
    const ours = await asyncOpsPerSec((j) => s.get(pick(j)), 1)
    report({ bench: 'store.get.cold_sqlite', value: ours, unit: 'lookups/s', baseline: 'better-sqlite3 SELECT by PK', baseline_value: base })
    raw.close()

    // put: durable (FULL) vs the same INSERT through the raw driver, one at a time (each a commit).
    const rawW = new Database(join(dir, 'raw.sqlite'))
    rawW.pragma('journal_mode = WAL')
    rawW.pragma('synchronous = FULL')
    rawW.exec('CREATE TABLE k (id INTEGER PRIMARY KEY, body BLOB, t INTEGER, e INTEGER, c INTEGER, d INTEGER DEFAULT 0) WITHOUT ROWID')
    const ins = rawW.prepare('INSERT OR IGNORE INTO k (id, body, t, e, c) VALUES (?, ?, ?, ?, ?)')
    const fresh = Array.from({ length: 20_000 }, record)
    // Same conditions as our file (which already holds 1000 keys): a grown WAL, warm pages.
    const warm = rawW.transaction(() => {
      for (const r of keys) ins.run(r.id, r.key, r.type, null, r.createdAt)
    })
    warm()
    for (let i = 0; i < 200; i++) ins.run(fresh[i]!.id, fresh[i]!.key, 0, null, 1)
    let w = 200
    const baseW = opsPerSec(() => {
      const r = fresh[w++ % fresh.length] as AuthKeyRecord
      ins.run(r.id, r.key, r.type, null, r.createdAt)
    }, MS)
    const loop = monitorEventLoopDelay({ resolution: 1 })
    loop.enable()
    const putsFull = await asyncOpsPerSec(() => s.put(record()), 1)
    loop.disable()
    report({ bench: 'store.put.sqlite_full', value: putsFull, unit: 'writes/s', in_flight: 1, loop_delay_p99_ms: Math.round(loop.percentile(99) / 1e4) / 100, baseline: 'better-sqlite3 INSERT, synchronous=FULL (on the event loop)', baseline_value: baseW })
    loop.reset()
    loop.enable()
    const putsGroup = await asyncOpsPerSec(() => s.put(record()), CONCURRENCY)
    loop.disable()
    report({ bench: 'store.put.sqlite_full_grouped', value: putsGroup, unit: 'writes/s', in_flight: CONCURRENCY, loop_delay_p99_ms: Math.round(loop.percentile(99) / 1e4) / 100, baseline: 'better-sqlite3 INSERT, synchronous=FULL (on the event loop)', baseline_value: baseW })
    await s.close()
    const n = new SqliteAuthKeyStore({ path: join(dir, 'normal.sqlite'), synchronous: 'normal' })
    const putsNormal = await asyncOpsPerSec(() => n.put(record()), 1)
    report({ bench: 'store.put.sqlite_normal', value: putsNormal, unit: 'writes/s', in_flight: 1, note: 'not durable on power loss; not the default', baseline: 'store.put.sqlite_full', baseline_value: putsFull })
    await n.close()
    rawW.close()
  }

  const missing = serviceMissing('mariadb') ?? serviceMissing('redis')
  if (missing) {
    console.error(`store bench: ${missing}; skipping the MySQL and Redis figures`)
  } else {
    const [mdb, rds] = await Promise.all([startMariaDb(), startRedis()])
    try {
      const my = await MysqlAuthKeyStore.open({ ...mdb.connection, connectionLimit: CONCURRENCY })
      for (const k of keys) await my.put(k)

      // ---- cold: MySQL
      const pool = mysql.createPool({ ...mdb.connection, connectionLimit: CONCURRENCY, supportBigNumbers: true, bigNumberStrings: true })
      const base = await asyncOpsPerSec((j) => pool.query('SELECT body FROM auth_keys WHERE auth_key_id = ?', [pick(j).toString()]))
      const ours = await asyncOpsPerSec((j) => my.get(pick(j)))
      report({ bench: 'store.get.cold_mysql', value: ours, unit: 'lookups/s', concurrency: CONCURRENCY, baseline: 'mysql2 SELECT by unique key', baseline_value: base })

      // ---- put: MySQL (transaction: auth_keys + auth_key_infos)
      await pool.query('CREATE TABLE raw_put (id bigint NOT NULL PRIMARY KEY, body varchar(512) NOT NULL) ENGINE=InnoDB')
      const baseW = await asyncOpsPerSec(() => {
        const r = record()
        return pool.query('INSERT INTO raw_put (id, body) VALUES (?, ?)', [r.id.toString(), r.key.toString('base64')])
      })
      const putsMy = await asyncOpsPerSec(() => my.put(record()))
      report({ bench: 'store.put.mysql', value: putsMy, unit: 'writes/s', concurrency: CONCURRENCY, baseline: 'mysql2 single-row INSERT (autocommit)', baseline_value: baseW })

      // ---- warm: Redis (no LRU in front)
      const c = createRedisClient(rds.connection)
      await new Promise((res) => (c.status === 'ready' ? res(undefined) : c.once('ready', res)))
      const cache = new RedisCachedAuthKeyStore(my, c, { keyPrefix: 'bench:' })
      for (const k of keys) await cache.get(k.id) // fill
      const rawR = createRedisClient(rds.connection)
      await new Promise((res) => (rawR.status === 'ready' ? res(undefined) : rawR.once('ready', res)))
      const baseR = await asyncOpsPerSec((j) => rawR.getBuffer(`bench:ak:${pick(j)}`))
      const warm = await asyncOpsPerSec((j) => cache.get(pick(j)))
      report({ bench: 'store.get.warm_redis', value: warm, unit: 'lookups/s', concurrency: CONCURRENCY, hit_ratio: Math.round((cache.stats.hits / Math.max(1, cache.stats.hits + cache.stats.misses)) * 1000) / 1000, baseline: 'ioredis GET', baseline_value: baseR })
      rawR.disconnect()
      await cache.close()
      await pool.end()
    } finally {
      await Promise.all([mdb.destroy(), rds.destroy()])
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
