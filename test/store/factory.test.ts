import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createAuthKeyStore } from '../../src/store/factory.js'
import { parseMysqlOptions } from '../../src/store/mysql-options.js'
import { parseRedisOptions } from '../../src/store/redis-cache.js'
import { StoreError, type AuthKeyStoreConfig } from '../../src/store/types.js'
import { freePort } from '../helpers/services.js'
import { capturingLogger, permRecord, testLogger } from './fixtures.js'
import { systemClock } from '../../src/util/clock.js'

const dir = mkdtempSync(join(tmpdir(), 'mtgate-store-factory-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const invalid = (e: unknown): boolean => e instanceof StoreError && e.code === 'invalid'

describe('createAuthKeyStore', () => {
  it('builds sqlite behind the LRU and describes it', async () => {
    const s = await createAuthKeyStore({ store: 'sqlite', cache: 'none', sqlite: { path: join(dir, 'a.sqlite') }, lruSize: 10, lruTtlMs: 2000 }, testLogger())
    try {
      assert.equal(s.describe(), `auth keys: sqlite ${join(dir, 'a.sqlite')} (WAL, synchronous=FULL) + lru 10 x 2000 ms`)
      const r = permRecord(systemClock)
      await s.put(r)
      assert.ok(s.peek(r.id))
    } finally {
      await s.close()
    }
    const m = await createAuthKeyStore({ store: 'memory', cache: 'none', lruSize: 0 }, testLogger())
    assert.equal(m.describe(), 'auth keys: memory (not durable) (no lru)')
    const r = permRecord(systemClock)
    await m.put(r)
    assert.equal(m.peek(r.id), undefined, 'lruSize 0 disables the LRU')
    assert.ok(await m.get(r.id))
    await m.close()
  })

  it('rejects bad configuration with StoreError(invalid)', async () => {
    const bad: unknown[] = [
      { store: 'postgres', cache: 'none' },
      { store: 'memory', cache: 'memcached' },
      { store: 'sqlite', cache: 'none' },
      { store: 'mysql', cache: 'none' },
      { store: 'memory', cache: 'none', lruSize: -1 },
      { store: 'memory', cache: 'none', cacheTtlSeconds: 0 },
      { store: 'memory', cache: 'redis', redis: { port: 'x' } },
      { store: 'mysql', cache: 'none', mysql: { database: 'x', hots: 'typo' } },
    ]
    for (const cfg of bad) await assert.rejects(createAuthKeyStore(cfg as AuthKeyStoreConfig, testLogger()), invalid, JSON.stringify(cfg))
  })

  it('an unreachable MySQL fails open() with unavailable, within the deadline', async () => {
    const port = await freePort()
    const t0 = Date.now()
    await assert.rejects(
      createAuthKeyStore({ store: 'mysql', cache: 'none', mysql: { host: '127.0.0.1', port, database: 'x', opTimeoutMs: 500 } }, testLogger()),
      (e: unknown) => e instanceof StoreError && e.code === 'unavailable',
    )
    assert.ok(Date.now() - t0 < 5000)
  })

  it('an unreachable Redis at start is a warning, not a failure', async () => {
    const { log, lines } = capturingLogger()
    const port = await freePort()
    const s = await createAuthKeyStore({ store: 'memory', cache: 'redis', redis: { host: '127.0.0.1', port } }, log)
    try {
      assert.match(s.describe(), new RegExp(`\\+ redis 127\\.0\\.0\\.1:${port} \\(ttl 3600 s\\)`))
      const r = permRecord(systemClock)
      assert.equal(await s.put(r), 'created')
      assert.ok(lines.some((l) => l.msg === 'redis cache: not reachable at start, serving from the database'))
    } finally {
      await s.close()
    }
  })
})

describe('option parsing', () => {
  it('accepts the documented MySQL options, including TLS', () => {
    const o = parseMysqlOptions({
      host: 'db',
      port: 3306,
      user: 'u',
      password: 'p',
      database: 'd',
      connectionLimit: 4,
      opTimeoutMs: 1000,
      ssl: { ca: '-----BEGIN CERTIFICATE-----', rejectUnauthorized: true },
    })
    assert.equal(o.host, 'db')
    assert.deepEqual(o.ssl, { ca: '-----BEGIN CERTIFICATE-----', rejectUnauthorized: true })
    assert.equal(parseMysqlOptions({ database: 'd', ssl: true }).ssl, true)
    assert.equal(parseMysqlOptions({}).database, 'mtgate')
    for (const bad of [{ database: 1 }, { database: 'd', port: 0 }, { database: 'd', ssl: 'yes' }, { database: 'd', ssl: { ca: 3 } }])
      assert.throws(() => parseMysqlOptions(bad), invalid, JSON.stringify(bad))
  })

  it('accepts the documented Redis options', () => {
    assert.deepEqual(parseRedisOptions({ host: 'r', port: 6380, db: 2, password: 'x', keyPrefix: 'p:', tls: true, commandTimeoutMs: 100 }), {
      host: 'r',
      port: 6380,
      db: 2,
      password: 'x',
      keyPrefix: 'p:',
      tls: true,
      commandTimeoutMs: 100,
    })
    for (const bad of [{ port: 70000 }, { db: -1 }, { commandTimeoutMs: 1 }, { tls: 'on' }, { hots: 'x' }])
      assert.throws(() => parseRedisOptions(bad), invalid, JSON.stringify(bad))
  })
})
