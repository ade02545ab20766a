/** The Redis cache layer against a real redis-server: invalidation, races, corrupt entries, TTLs. */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Redis } from 'ioredis'
import { MemoryAuthKeyStore } from '../../src/store/memory.js'
import { createRedisClient, RedisCachedAuthKeyStore } from '../../src/store/redis-cache.js'
import { AuthKeyType, type AuthKeyRecord } from '../../src/store/types.js'
import { ManualClock } from '../../src/util/clock.js'
import { freePort, skipWithout, startRedis, type RedisInstance } from '../helpers/services.js'
import { capturingLogger, nowSec, permRecord, tempRecord } from './fixtures.js'

let redis: RedisInstance
const skip = skipWithout('redis')
const clients: Redis[] = []

before(async () => {
  if (!skip) redis = await startRedis()
})
after(async () => {
  for (const c of clients) c.disconnect()
  await redis?.destroy()
})

async function client(): Promise<Redis> {
  const c = createRedisClient(redis.connection)
  clients.push(c)
  if (c.status !== 'ready') await new Promise((res) => c.once('ready', res))
  return c
}

class GatedStore extends MemoryAuthKeyStore {
  gate: Promise<void> | undefined
  override async get(id: bigint): Promise<AuthKeyRecord | undefined> {
    const r = await super.get(id)
    if (this.gate) await this.gate
    return r
  }
}

let n = 0
const prefix = (): string => `rc${++n}:`

describe('RedisCachedAuthKeyStore', { skip }, () => {
  const clock = new ManualClock(Date.now())

  it('a cache fill racing with destroy cannot resurrect the key (tombstone + SET NX)', async () => {
    const db = new GatedStore(clock)
    const cache = new RedisCachedAuthKeyStore(db, await client(), { clock, keyPrefix: prefix(), ownsClient: false })
    const r = permRecord(clock)
    await db.put(r)
    let open!: () => void
    db.gate = new Promise((res) => (open = res))
    const lookup = cache.get(r.id) // misses Redis, reads the DB, waits before filling
    await new Promise((res) => setTimeout(res, 20))
    db.gate = undefined
    assert.equal(await cache.destroy(r.id), true)
    open()
    assert.ok(await lookup)
    assert.equal(await cache.get(r.id), undefined)
  })

  it('two gateways sharing Redis: destroy and re-bind on one are seen by the other at once', async () => {
    const db = new MemoryAuthKeyStore(clock)
    const p = prefix()
    const a = new RedisCachedAuthKeyStore(db, await client(), { clock, keyPrefix: p, ownsClient: false })
    const b = new RedisCachedAuthKeyStore(db, await client(), { clock, keyPrefix: p, ownsClient: false })
    const p1 = permRecord(clock)
    const p2 = permRecord(clock)
    const t = tempRecord(clock)
    const t2 = tempRecord(clock)
    for (const r of [p1, p2, t, t2]) await a.put(r)
    const exp = nowSec(clock) + 600
    await a.bind({ tempId: t.id, permId: p1.id, type: AuthKeyType.temp, expiresAt: exp })
    await a.bind({ tempId: t2.id, permId: p2.id, type: AuthKeyType.temp, expiresAt: exp })
    assert.equal((await b.getBinding(t.id))?.permId, p1.id)
    assert.equal((await b.getBinding(t2.id))?.permId, p2.id)
    await a.bind({ tempId: t.id, permId: p2.id, type: AuthKeyType.temp, expiresAt: exp })
    assert.equal((await b.getBinding(t.id))?.permId, p2.id, 're-bind invalidated')
    assert.ok(await b.get(p1.id))
    await a.destroy(p1.id)
    assert.equal(await b.get(p1.id), undefined, 'destroy invalidated')
    await a.destroy(p2.id)
    assert.equal(await b.getBinding(t.id), undefined, 'bindings to a destroyed perm key invalidated')
    assert.equal(await b.getBinding(t2.id), undefined)
  })

  it('destroying an unknown id leaves no tombstone that would hide a later key', async () => {
    const db = new MemoryAuthKeyStore(clock)
    const cache = new RedisCachedAuthKeyStore(db, await client(), { clock, keyPrefix: prefix(), ownsClient: false })
    const r = permRecord(clock)
    assert.equal(await cache.destroy(r.id), false)
    await cache.put(r)
    assert.ok(await cache.get(r.id))
  })

  it('ignores a corrupt entry with a warning and answers from the database', async () => {
    const { log, lines } = capturingLogger()
    const db = new MemoryAuthKeyStore(clock)
    const c = await client()
    const p = prefix()
    const cache = new RedisCachedAuthKeyStore(db, c, { clock, keyPrefix: p, ownsClient: false, log })
    const r = permRecord(clock)
    await db.put(r)
    await c.set(`${p}ak:${r.id}`, 'garbage')
    assert.ok((await cache.get(r.id))?.key.equals(r.key))
    assert.ok(lines.some((l) => l.msg === 'redis cache: corrupt entry ignored'))
  })

  it('never caches a temp key beyond its expiry', async () => {
    const db = new MemoryAuthKeyStore(clock)
    const c = await client()
    const p = prefix()
    const cache = new RedisCachedAuthKeyStore(db, c, { clock, keyPrefix: p, ownsClient: false, ttlSeconds: 3600 })
    const t = tempRecord(clock, 5)
    const perm = permRecord(clock)
    await cache.put(t)
    await cache.put(perm)
    const ttl = await c.ttl(`${p}ak:${t.id}`)
    assert.ok(ttl >= 1 && ttl <= 6, `ttl ${ttl}`)
    const pttl = await c.ttl(`${p}ak:${perm.id}`)
    assert.ok(pttl > 3500 && pttl <= 3600, `perm ttl ${pttl}`)
  })

  it('with no Redis listening, lookups go to the database quickly', async () => {
    const { log, lines } = capturingLogger()
    const port = await freePort()
    const c = createRedisClient({ host: '127.0.0.1', port }, log)
    clients.push(c)
    const db = new MemoryAuthKeyStore(clock)
    const cache = new RedisCachedAuthKeyStore(db, c, { clock, log, ownsClient: false })
    const r = permRecord(clock)
    assert.equal(await cache.put(r), 'created')
    const t0 = Date.now()
    for (let i = 0; i < 20; i++) assert.ok(await cache.get(r.id))
    assert.ok(Date.now() - t0 < 1000, `${Date.now() - t0} ms for 20 lookups`)
    assert.equal(lines.filter((l) => l.msg === 'redis cache: unavailable, falling back to the database').length, 1, 'warned once')
  })
})
