import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, existsSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { SqliteAuthKeyStore } from '../../src/store/sqlite.js'
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite-schema.js'
import { AuthKeyType, StoreError } from '../../src/store/types.js'
import { ManualClock } from '../../src/util/clock.js'
import type { Worker } from 'node:worker_threads'
import { capturingLogger, permRecord, tempRecord } from './fixtures.js'

const dir = mkdtempSync(join(tmpdir(), 'mtgate-store-sqlite-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const clock = new ManualClock(1_790_000_000_000)

describe('SqliteAuthKeyStore', () => {
  it('creates the data directory and the schema, in WAL mode with synchronous=FULL by default', async () => {
    const path = join(dir, 'nested', 'data', 'keys.sqlite')
    const s = new SqliteAuthKeyStore({ path, clock })
    await s.put(permRecord(clock))
    await s.close()
    assert.ok(existsSync(path))
    const db = new Database(path)
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal')
      const v = db.prepare('SELECT version FROM schema_version').all() as { version: number }[]
      assert.deepEqual(v, [{ version: SQLITE_MIGRATIONS.length }])
    } finally {
      db.close()
    }
    assert.match(s.describe(), /^sqlite .*keys\.sqlite \(WAL, synchronous=FULL\)$/)
    const n = new SqliteAuthKeyStore({ path: join(dir, 'normal.sqlite'), synchronous: 'normal' })
    assert.match(n.describe(), /synchronous=NORMAL/)
    await n.close()
  })

  it('migrates once: reopening keeps data and version', async () => {
    const path = join(dir, 'reopen.sqlite')
    const r = permRecord(clock)
    const a = new SqliteAuthKeyStore({ path, clock })
    await a.put(r)
    await a.close()
    const b = new SqliteAuthKeyStore({ path, clock })
    assert.ok((await b.get(r.id))?.key.equals(r.key))
    await b.close()
  })

  it('upgrades a schema-1 file (before auth_key_states) in place: keys, bindings and salts kept, state stored', async () => {
    const path = join(dir, 'schema1.sqlite')
    const p = permRecord(clock)
    const t = tempRecord(clock)
    const exp = Math.floor(clock.now() / 1000) + 3600
    // The file an earlier build left: migration 0 only, schema_version 1, rows as its writer wrote them.
    const old = new Database(path)
    old.pragma('journal_mode = WAL')
    old.defaultSafeIntegers(true)
    old.exec('CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1)')
    old.exec(SQLITE_MIGRATIONS[0] as string)
    const ins = old.prepare('INSERT INTO auth_keys (auth_key_id, body, auth_key_type, expires_at, created_at) VALUES (?, ?, ?, ?, ?)')
    ins.run(p.id, p.key, p.type, null, p.createdAt)
    ins.run(t.id, t.key, t.type, t.expiresAt, t.createdAt)
    old.prepare('INSERT INTO auth_key_bindings VALUES (?, ?, ?, ?)').run(t.id, p.id, AuthKeyType.temp, exp)
    old.prepare('INSERT INTO server_salts VALUES (?, ?, ?, ?)').run(p.id, 77n, exp - 3600, exp)
    old.close()

    const { log, lines } = capturingLogger()
    const s = new SqliteAuthKeyStore({ path, clock, log })
    try {
      assert.ok(lines.some((l) => l.msg === 'sqlite store: schema migrated' && l.from === 1 && l.to === SQLITE_MIGRATIONS.length))
      assert.ok((await s.get(p.id))?.key.equals(p.key))
      assert.equal((await s.get(t.id))?.expiresAt, t.expiresAt)
      assert.deepEqual(await s.getBinding(t.id), { tempId: t.id, permId: p.id, type: AuthKeyType.temp, expiresAt: exp })
      assert.deepEqual(await s.loadSalts(p.id), [{ salt: 77n, validSince: exp - 3600, validUntil: exp }])
      assert.equal(await s.loadState(p.id), undefined, 'no state before the upgrade')
      await s.saveState(p.id, { userId: 1000n, layer: 201, client: '{"apiId":4}' })
    } finally {
      await s.close()
    }
    const again = new SqliteAuthKeyStore({ path, clock })
    try {
      assert.deepEqual(await again.loadState(p.id), { userId: 1000n, layer: 201, client: '{"apiId":4}' })
      assert.ok((await again.get(p.id))?.key.equals(p.key))
    } finally {
      await again.close()
    }
    const db = new Database(path, { readonly: true })
    try {
      assert.deepEqual(db.prepare('SELECT version FROM schema_version').all(), [{ version: SQLITE_MIGRATIONS.length }])
    } finally {
      db.close()
    }
  })

  it('refuses a file whose schema is newer than this build', () => {
    const path = join(dir, 'newer.sqlite')
    const db = new Database(path)
    db.exec('CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (999)')
    db.close()
    assert.throws(
      () => new SqliteAuthKeyStore({ path }),
      (e: unknown) => e instanceof StoreError && e.code === 'internal' && /newer/.test(e.message),
    )
  })

  it('fails with a StoreError when the file cannot be opened', () => {
    const file = join(dir, 'a-file')
    writeFileSync(file, 'not a directory')
    assert.throws(() => new SqliteAuthKeyStore({ path: join(file, 'x.sqlite') }), StoreError)
  })

  it('a write lock held by another connection is waited for without blocking the event loop, then fails unavailable', async () => {
    const path = join(dir, 'locked.sqlite')
    const s = new SqliteAuthKeyStore({ path, clock, busyTimeoutMs: 300 })
    const other = new Database(path)
    other.exec('BEGIN IMMEDIATE')
    let ticks = 0
    const timer = setInterval(() => ticks++, 10)
    try {
      const t0 = Date.now()
      await assert.rejects(s.put(permRecord(clock)), (e: unknown) => e instanceof StoreError && e.code === 'unavailable')
      const took = Date.now() - t0
      assert.ok(took >= 290 && took < 2000, `took ${took} ms`)
      assert.ok(ticks >= 10, `event loop kept running (${ticks} ticks)`)
      // Released meanwhile: the write goes through.
      const r = permRecord(clock)
      const p = s.put(r)
      setTimeout(() => other.exec('COMMIT'), 50)
      assert.equal(await p, 'created')
    } finally {
      clearInterval(timer)
      if (other.inTransaction) other.exec('ROLLBACK')
      other.close()
      await s.close()
    }
  })

  it("writes inline for ':memory:' and with writer: 'inline' (same semantics)", async () => {
    for (const s of [
      new SqliteAuthKeyStore({ path: ':memory:', clock }),
      new SqliteAuthKeyStore({ path: join(dir, 'inline.sqlite'), writer: 'inline', clock }),
    ]) {
      assert.equal(s.writerMode, 'inline')
      const r = permRecord(clock)
      assert.equal(await s.put(r), 'created')
      assert.equal(await s.put({ ...r, key: Buffer.alloc(256, 1) }), 'exists')
      assert.ok((await s.get(r.id))?.key.equals(r.key))
      await s.saveState(r.id, { userId: 3n, layer: 201 })
      assert.deepEqual(await s.loadState(r.id), { userId: 3n, layer: 201 })
      assert.equal(await s.destroy(r.id), true)
      assert.equal(await s.get(r.id), undefined)
      assert.equal(await s.loadState(r.id), undefined)
      await s.saveState(r.id, { userId: 3n })
      assert.equal(await s.loadState(r.id), undefined, 'a save after destroy is ignored')
      await s.close()
    }
  })

  it('concurrent writes share commits and each gets its own answer', async () => {
    const s = new SqliteAuthKeyStore({ path: join(dir, 'group.sqlite'), clock })
    try {
      assert.equal(s.writerMode, 'thread')
      const rs = Array.from({ length: 200 }, () => permRecord(clock))
      const dup = { ...rs[0]!, key: Buffer.alloc(256, 2) }
      const out = await Promise.all([...rs.map((r) => s.put(r)), s.put(dup), s.destroy(rs[1]!.id), s.put({ ...rs[2]!, key: Buffer.alloc(3) }).catch((e: unknown) => e)])
      assert.ok(out.slice(0, 200).every((x) => x === 'created'))
      assert.equal(out[200], 'exists', 'a collision inside a batch does not undo its neighbours')
      assert.equal(out[201], true)
      assert.ok(out[202] instanceof StoreError && out[202].code === 'invalid')
      for (const r of rs.slice(2)) assert.ok((await s.get(r.id))?.key.equals(r.key))
      assert.equal(await s.get(rs[1]!.id), undefined)
    } finally {
      await s.close()
    }
  })

  it('a writer thread that dies fails its pending writes with unavailable and is restarted on the next write', async () => {
    const { log, lines } = capturingLogger()
    const s = new SqliteAuthKeyStore({ path: join(dir, 'crash.sqlite'), clock, log })
    try {
      const a = permRecord(clock)
      assert.equal(await s.put(a), 'created')
      const worker = (s as unknown as { worker: Worker }).worker
      const inFlight = s.put(permRecord(clock))
      await worker.terminate()
      const r = await inFlight.then(
        (x) => x,
        (e: unknown) => e,
      )
      // Either it was committed before the thread died, or it failed cleanly (never acknowledged).
      assert.ok(r === 'created' || (r instanceof StoreError && r.code === 'unavailable'), String(r))
      assert.ok(lines.some((l) => l.msg === 'sqlite store: writer thread failed; restarting on the next write'))
      const b = permRecord(clock)
      assert.equal(await s.put(b), 'created')
      assert.ok(await s.get(a.id))
      assert.ok(await s.get(b.id))
    } finally {
      await s.close()
    }
  })

  it('after close every call fails with unavailable', async () => {
    const s = new SqliteAuthKeyStore({ path: join(dir, 'closed.sqlite') })
    await s.close()
    await assert.rejects(s.get(1n), (e: unknown) => e instanceof StoreError && e.code === 'unavailable')
  })
})
