/**
 * Two gateways writing one store at the same time: no lost or duplicated keys, and an auth_key_id
 * collision between them is detected (exactly one 'created', the other 'exists', the winner's key kept).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import Database from 'better-sqlite3'
import mysql from 'mysql2/promise'
import { SqliteAuthKeyStore } from '../../src/store/sqlite.js'
import { AuthKeyType, type AuthKeyRecord } from '../../src/store/types.js'
import { ManualClock } from '../../src/util/clock.js'
import { skipWithout, startMariaDb, startRedis, type MariaDbInstance, type RedisInstance } from '../helpers/services.js'
import { configFor, openStore, permRecord } from './fixtures.js'

const clock = new ManualClock(1_790_000_000_000)
const dir = mkdtempSync(join(tmpdir(), 'mtgate-store-concurrency-'))
let mariadb: MariaDbInstance | undefined
let redis: RedisInstance | undefined
const skipServices = skipWithout('mariadb', 'redis')

before(async () => {
  if (skipServices) return
  ;[mariadb, redis] = await Promise.all([startMariaDb(), startRedis()])
})

after(async () => {
  await Promise.all([mariadb?.destroy(), redis?.destroy()])
  rmSync(dir, { recursive: true, force: true })
})

/** Per gateway: its own keys, plus a contested set (same ids, different key bytes per gateway). */
function workload(own: number, contestedIds: bigint[]): { own: AuthKeyRecord[]; contested: AuthKeyRecord[] } {
  return {
    own: Array.from({ length: own }, () => permRecord(clock)),
    contested: contestedIds.map((id) => ({ id, key: randomBytes(256), type: AuthKeyType.perm, createdAt: 1_790_000_000 })),
  }
}

/** Interleaves the two lists so contested puts land in the middle of the run. */
function interleave<T>(a: T[], b: T[]): T[] {
  const out: T[] = []
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (i < a.length) out.push(a[i] as T)
    if (i < b.length) out.push(b[i] as T)
  }
  return out
}

describe('two gateways on one MySQL database (with Redis)', { skip: skipServices }, () => {
  it('loses and duplicates nothing; collisions answer exists to exactly one of them', async () => {
    assert.ok(mariadb && redis)
    mariadb.createDatabase('concurrency')
    const env = { dir, mariadb, redis, database: 'concurrency', prefix: 'conc:' }
    const [a, b] = await Promise.all([openStore(configFor('mysql+redis', env), clock), openStore(configFor('mysql+redis', env), clock)])
    try {
      const contestedIds = Array.from({ length: 50 }, () => permRecord(clock).id)
      const wa = workload(150, contestedIds)
      const wb = workload(150, contestedIds)
      const run = async (s: typeof a, list: AuthKeyRecord[]): Promise<Map<bigint, string>> => {
        const res = new Map<bigint, string>()
        // 8 in flight per gateway.
        let next = 0
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            while (next < list.length) {
              const r = list[next++] as AuthKeyRecord
              res.set(r.id, await s.put(r))
            }
          }),
        )
        return res
      }
      const [ra, rb] = await Promise.all([run(a, interleave(wa.own, wa.contested)), run(b, interleave(wb.own, wb.contested))])
      for (const r of [...wa.own]) assert.equal(ra.get(r.id), 'created')
      for (const r of [...wb.own]) assert.equal(rb.get(r.id), 'created')
      for (let i = 0; i < contestedIds.length; i++) {
        const id = contestedIds[i] as bigint
        const outcomes = [ra.get(id), rb.get(id)].sort()
        assert.deepEqual(outcomes, ['created', 'exists'], `id ${id}`)
        const winner = ra.get(id) === 'created' ? wa.contested[i] : wb.contested[i]
        // Both gateways (and their caches) agree on the winner's key.
        assert.ok((await a.get(id))?.key.equals(winner!.key))
        assert.ok((await b.get(id))?.key.equals(winner!.key))
      }
      // Every key is readable from the other gateway.
      for (const r of wa.own) assert.ok((await b.get(r.id))?.key.equals(r.key))
      for (const r of wb.own) assert.ok((await a.get(r.id))?.key.equals(r.key))
      // And the tables hold each exactly once.
      const c = await mysql.createConnection({ ...mariadb.connection, database: 'concurrency' })
      try {
        const [rows] = await c.query('SELECT COUNT(*) AS n, COUNT(DISTINCT auth_key_id) AS d FROM auth_keys')
        const [infos] = await c.query('SELECT COUNT(*) AS n FROM auth_key_infos')
        const n = (rows as { n: number; d: number }[])[0]!
        assert.equal(Number(n.n), 350)
        assert.equal(Number(n.d), 350)
        assert.equal(Number((infos as { n: number }[])[0]!.n), 350)
      } finally {
        await c.end()
      }
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })
})

describe('two writers on one SQLite file (a worker thread is the second process)', () => {
  it('loses and duplicates nothing; collisions answer exists to exactly one of them', async () => {
    const path = join(dir, 'shared.sqlite')
    const main = new SqliteAuthKeyStore({ path })
    try {
      const contestedIds = Array.from({ length: 50 }, () => permRecord(clock).id)
      const wa = workload(300, contestedIds)
      const wb = workload(300, contestedIds)
      const worker = new Worker(new URL('./sqlite-writer.js', import.meta.url), {
        workerData: {
          path,
          keys: interleave(wb.own, wb.contested).map((r) => ({ id: r.id.toString(), key: r.key.toString('hex') })),
        },
      })
      const workerDone = new Promise<string[]>((resolve, reject) => {
        worker.once('message', (m: string[]) => resolve(m))
        worker.once('error', reject)
      })
      workerDone.catch(() => undefined) // awaited below; avoid an early unhandled rejection
      const listA = interleave(wa.own, wa.contested)
      const ra = new Map<bigint, string>()
      for (const r of listA) {
        ra.set(r.id, await main.put(r))
        // Yield so the worker's writes interleave with ours at the file level.
        if (ra.size % 10 === 0) await new Promise((res) => setImmediate(res))
      }
      const listB = interleave(wb.own, wb.contested)
      const resB = await workerDone
      const rb = new Map<bigint, string>(listB.map((r, i) => [r.id, resB[i] as string]))
      assert.ok(!resB.some((x) => x.startsWith('error')), resB.find((x) => x.startsWith('error')))
      for (const r of wa.own) assert.equal(ra.get(r.id), 'created')
      for (const r of wb.own) assert.equal(rb.get(r.id), 'created')
      for (let i = 0; i < contestedIds.length; i++) {
        const id = contestedIds[i] as bigint
        assert.deepEqual([ra.get(id), rb.get(id)].sort(), ['created', 'exists'])
        const winner = ra.get(id) === 'created' ? wa.contested[i] : wb.contested[i]
        assert.ok((await main.get(id))?.key.equals(winner!.key))
      }
      for (const r of [...wa.own, ...wb.own]) assert.ok((await main.get(r.id))?.key.equals(r.key))
      const db = new Database(path, { readonly: true })
      try {
        const row = db.prepare('SELECT COUNT(*) AS n FROM auth_keys').get() as { n: number }
        assert.equal(row.n, 650)
      } finally {
        db.close()
      }
    } finally {
      await main.close()
    }
  })
})
