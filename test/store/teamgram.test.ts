/**
 * An existing Teamgram database works unchanged: its tables are created by Teamgram's own DDL
 * (transcribed from teamgramd/deploy/sql/1_teamgram.sql: CREATE TABLE, then the dump's ALTER TABLE
 * keys and AUTO_INCREMENT, then the migrate-*.sql files that change these tables), rows are written the way Teamgram writes them, and our store reads them,
 * leaves the tables' definitions alone, and writes rows Teamgram's own queries read back.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mysql, { type Connection } from 'mysql2/promise'
import { authKeyIdOf } from '../../src/store/codec.js'
import { MysqlAuthKeyStore, UNKNOWN_BINDING_EXPIRY } from '../../src/store/mysql.js'
import { MYSQL_MIGRATIONS } from '../../src/store/mysql-schema.js'
import { AuthKeyType, StoreError } from '../../src/store/types.js'
import { ManualClock } from '../../src/util/clock.js'
import { skipWithout, startMariaDb, type MariaDbInstance } from '../helpers/services.js'
import { permRecord, tempRecord } from './fixtures.js'
import { TEAMGRAM_DDL } from './teamgram-ddl.js'

const TEAMGRAM_TABLES = ['auth_keys', 'auth_key_infos', 'auths', 'auth_users']

let mariadb: MariaDbInstance
const skip = skipWithout('mariadb')

before(async () => {
  if (skip) return
  mariadb = await startMariaDb()
})

after(async () => {
  await mariadb?.destroy()
})

/**
 * Decodes each body with Go's base64.RawStdEncoding, the call Teamgram's authsession makes on
 * auth_keys.body (app/service/authsession/internal/dao/auth_key.go); hex of each, or "error: …".
 */
async function goRawStdDecode(bodies: string[]): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'mtgate-go-b64-'))
  try {
    writeFileSync(
      join(dir, 'main.go'),
      `package main

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
)

func main() {
	s := bufio.NewScanner(os.Stdin)
	for s.Scan() {
		b, err := base64.RawStdEncoding.DecodeString(s.Text())
		if err != nil {
			fmt.Println("error:", err)
		} else {
			fmt.Println(hex.EncodeToString(b))
		}
	}
}
`,
    )
    const out = await new Promise<string>((resolve, reject) => {
      const child = execFile('go', ['run', 'main.go'], { cwd: dir, env: { ...process.env, GOFLAGS: '', GOPROXY: 'off', GOWORK: 'off', GO111MODULE: 'off' }, timeout: 120_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`go run: ${err.message}\n${stderr}`)) : resolve(stdout),
      )
      child.stdin!.end(bodies.join('\n') + '\n')
    })
    return out.trim().split('\n')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function showCreate(c: Connection, table: string): Promise<string> {
  const [rows] = await c.query(`SHOW CREATE TABLE \`${table}\``)
  return String((rows as Record<string, unknown>[])[0]!['Create Table'])
}

describe('a Teamgram database, used unchanged', { skip }, () => {
  const clock = new ManualClock(1_790_000_000_000)
  let c: Connection
  let store: MysqlAuthKeyStore
  let ddlBefore: string[]
  const permKey = randomBytes(256)
  const permId = authKeyIdOf(permKey)
  const tempKey = randomBytes(256)
  const tempId = authKeyIdOf(tempKey)
  const goneKey = randomBytes(256)
  const goneId = authKeyIdOf(goneKey)

  before(async () => {
    mariadb.createDatabase('teamgram')
    c = await mysql.createConnection({ ...mariadb.connection, database: 'teamgram', multipleStatements: true, supportBigNumbers: true, bigNumberStrings: true })
    await c.query(TEAMGRAM_DDL)
    // Rows as Teamgram's DAOs write them (auth_keys: insert into auth_keys(auth_key_id, body) ...,
    // body = base64.RawStdEncoding.EncodeToString(key): no padding).
    for (const [id, key] of [
      [permId, permKey],
      [tempId, tempKey],
      [goneId, goneKey],
    ] as const)
      await c.query("INSERT INTO auth_keys (auth_key_id, body, created_at) VALUES (?, ?, '2026-09-01 10:00:00')", [
        id.toString(),
        key.toString('base64').replace(/=+$/, ''),
      ])
    await c.query('UPDATE auth_keys SET deleted = 1 WHERE auth_key_id = ?', [goneId.toString()])
    // auth_key_infos.id has no AUTO_INCREMENT in Teamgram's DDL: rows carry an explicit id.
    await c.query(
      `INSERT INTO auth_key_infos (id, auth_key_id, auth_key_type, perm_auth_key_id, temp_auth_key_id, media_temp_auth_key_id)
       VALUES (1, ?, 0, 0, ?, 0), (2, ?, 1, ?, 0, 0), (3, ?, 0, 0, 0, 0)`,
      [permId.toString(), tempId.toString(), tempId.toString(), permId.toString(), goneId.toString()],
    )
    ddlBefore = await Promise.all(TEAMGRAM_TABLES.map((t) => showCreate(c, t)))
    store = await MysqlAuthKeyStore.open({ ...mariadb.connection, database: 'teamgram' }, { clock })
  })

  after(async () => {
    await store?.close()
    await c?.end()
  })

  it('leaves the definitions of auth_keys, auth_key_infos, auths and auth_users untouched', async () => {
    assert.deepEqual(await Promise.all(TEAMGRAM_TABLES.map((t) => showCreate(c, t))), ddlBefore)
  })

  it("reads the user Teamgram bound to a key and the layer of its auths row; Teamgram's sign-out unbinds", async () => {
    // authsession BindAuthKeyUser (auth_users InsertOrUpdates) and auths InsertOrUpdateLayer
    await c.query('INSERT INTO auth_users (auth_key_id, user_id, hash, date_created, date_active) VALUES (?, 777000, 4242, 1790000000, 1790000000)', [permId.toString()])
    await c.query("INSERT INTO auths (auth_key_id, layer, api_id, params, client_ip, date_active) VALUES (?, 198, 0, 'null', '10.0.0.1', 1790000000)", [permId.toString()])
    assert.deepEqual(await store.loadState(permId), { userId: 777000n, layer: 198 })
    // a later save of ours keeps Teamgram's binding and its hash
    await store.saveState(permId, { userId: 777000n, layer: 222 })
    const [u] = await c.query('SELECT user_id, hash, deleted FROM auth_users WHERE auth_key_id = ?', [permId.toString()])
    assert.deepEqual(u, [{ user_id: '777000', hash: '4242', deleted: 0 }])
    // authsession UnbindAuthUser → auth_users Delete
    await c.query('UPDATE auth_users SET deleted = 1, date_active = 0 WHERE auth_key_id = ? AND user_id = ?', [permId.toString(), '777000'])
    assert.deepEqual(await store.loadState(permId), { layer: 222 })
  })

  it("writes the binding and client data where Teamgram's authsession reads them", async () => {
    const p = permRecord(clock)
    assert.equal(await store.put(p), 'created')
    const client = JSON.stringify({ apiId: 4, deviceModel: 'Pixel', systemVersion: 'SDK 34', appVersion: '11.2', systemLangCode: 'en', langPack: 'android', langCode: 'en', proxy: { address: 'p.example', port: 443 }, params: { tz_offset: 3600 } })
    await store.saveState(p.id, { userId: 1234567890123n, layer: 222, client })
    const id = p.id.toString()
    // AuthUsersDAO.Select and AuthsDAO.SelectByAuthKeyId, as GetCacheAuthData runs them
    const [users] = await c.query('SELECT id, auth_key_id, user_id, hash, date_created, date_active, android_push_session_id FROM auth_users WHERE auth_key_id = ? AND deleted = 0', [id])
    const user = (users as Record<string, string | number>[])[0]!
    assert.equal(user.user_id, '1234567890123')
    assert.ok(BigInt(user.hash!) > 0n, 'a positive 63-bit hash, as rand.Int63()')
    assert.equal(user.date_created, String(clock.now() / 1000))
    const [auths] = await c.query(
      'SELECT auth_key_id, layer, api_id, device_model, system_version, app_version, system_lang_code, lang_pack, lang_code, client_ip, date_active, proxy, params FROM auths WHERE auth_key_id = ? AND deleted = 0 LIMIT 1',
      [id],
    )
    assert.deepEqual(auths, [
      { auth_key_id: id, layer: 222, api_id: 4, device_model: 'Pixel', system_version: 'SDK 34', app_version: '11.2', system_lang_code: 'en', lang_pack: 'android', lang_code: 'en', client_ip: '', date_active: String(clock.now() / 1000), proxy: 'p.example:443', params: { tz_offset: 3600 } },
    ])
    // client fields longer than Teamgram's columns are cut to them (a strict SQL mode would refuse the row)
    await store.saveState(p.id, { userId: 1234567890123n, layer: 222, client: JSON.stringify({ ...JSON.parse(client), deviceModel: 'x'.repeat(300) }) })
    const [long] = await c.query('SELECT CHAR_LENGTH(device_model) AS n FROM auths WHERE auth_key_id = ?', [id])
    assert.deepEqual(long, [{ n: 255 }])
    // signing out (no user) is Teamgram's Delete; destroying the key drops both rows from Teamgram's reads
    await store.saveState(p.id, { layer: 222, client })
    const [after] = await c.query('SELECT deleted, date_active FROM auth_users WHERE auth_key_id = ?', [id])
    assert.deepEqual(after, [{ deleted: 1, date_active: '0' }])
    await store.saveState(p.id, { userId: 1234567890123n, layer: 222, client })
    assert.equal(await store.destroy(p.id), true)
    const [gone] = await c.query('SELECT (SELECT COUNT(*) FROM auth_users WHERE auth_key_id = ? AND deleted = 0) AS u, (SELECT COUNT(*) FROM auths WHERE auth_key_id = ? AND deleted = 0) AS a', [id, id])
    assert.deepEqual(gone, [{ u: '0', a: '0' }])
  })

  it("reads Teamgram's keys, types, creation time and soft deletes", async () => {
    const p = await store.get(permId)
    assert.ok(p)
    assert.ok(p.key.equals(permKey))
    assert.equal(p.type, AuthKeyType.perm)
    assert.equal(p.createdAt, Date.UTC(2026, 8, 1, 10) / 1000)
    const t = await store.get(tempId)
    assert.ok(t)
    assert.ok(t.key.equals(tempKey))
    assert.equal(t.type, AuthKeyType.temp)
    assert.equal(t.expiresAt, undefined, 'Teamgram kept no expiry in MySQL')
    assert.equal(await store.get(goneId), undefined)
    assert.equal(await store.put({ id: goneId, key: goneKey, type: AuthKeyType.perm, createdAt: 1_790_000_000 }), 'exists')
  })

  it("reads a binding Teamgram made (auth_key_infos.perm_auth_key_id)", async () => {
    assert.deepEqual(await store.getBinding(tempId), {
      tempId,
      permId,
      type: AuthKeyType.temp,
      expiresAt: UNKNOWN_BINDING_EXPIRY,
    })
  })

  it("an existing Teamgram key collides: put answers exists", async () => {
    assert.equal(await store.put({ id: permId, key: randomBytes(256), type: AuthKeyType.perm, createdAt: 1_790_000_000 }), 'exists')
  })

  it("writes rows Teamgram's queries read back (key, info, binding links, soft delete)", async () => {
    const p = permRecord(clock)
    const t = tempRecord(clock, 3600, AuthKeyType.mediaTemp)
    assert.equal(await store.put(p), 'created')
    assert.equal(await store.put(t), 'created')
    // Teamgram: select body from auth_keys where auth_key_id = ?, then
    // base64.RawStdEncoding.DecodeString(body) (its error ignored: a padded body would be a broken key).
    const [kr] = await c.query('SELECT body, deleted FROM auth_keys WHERE auth_key_id = ?', [p.id.toString()])
    const k = (kr as { body: string; deleted: number }[])[0]!
    assert.deepEqual(await goRawStdDecode([k.body]), [p.key.toString('hex')])
    assert.equal(k.deleted, 0)
    await store.bind({ tempId: t.id, permId: p.id, type: AuthKeyType.mediaTemp, expiresAt: t.expiresAt! })
    // Teamgram: select auth_key_id, auth_key_type, perm_auth_key_id, temp_auth_key_id, media_temp_auth_key_id
    //           from auth_key_infos where auth_key_id = :auth_key_id limit 1
    const info = async (id: bigint): Promise<Record<string, string | number>> => {
      const [rows] = await c.query(
        'select auth_key_id, auth_key_type, perm_auth_key_id, temp_auth_key_id, media_temp_auth_key_id, deleted from auth_key_infos where auth_key_id = ? limit 1',
        [id.toString()],
      )
      return (rows as Record<string, string | number>[])[0]!
    }
    // each key's own id in its type's column, as Teamgram's mtproto.NewAuthKeyInfo
    assert.deepEqual(await info(p.id), {
      auth_key_id: p.id.toString(),
      auth_key_type: 0,
      perm_auth_key_id: p.id.toString(),
      temp_auth_key_id: '0',
      media_temp_auth_key_id: t.id.toString(),
      deleted: 0,
    })
    assert.deepEqual(await info(t.id), {
      auth_key_id: t.id.toString(),
      auth_key_type: 2,
      perm_auth_key_id: p.id.toString(),
      temp_auth_key_id: '0',
      media_temp_auth_key_id: t.id.toString(),
      deleted: 0,
    })
    assert.equal(await store.destroy(p.id), true)
    assert.equal((await info(p.id)).deleted, 1)
    assert.equal((await info(t.id)).perm_auth_key_id, '0', 'the temp key no longer points at the destroyed key')
    const [dr] = await c.query('SELECT deleted FROM auth_keys WHERE auth_key_id = ?', [p.id.toString()])
    assert.equal((dr as { deleted: number }[])[0]!.deleted, 1)
  })

  it('refuses a database whose auth_keys.auth_key_id is not unique', async () => {
    mariadb.createDatabase('teamgram_broken')
    const b = await mysql.createConnection({ ...mariadb.connection, database: 'teamgram_broken', multipleStatements: true })
    try {
      await b.query(TEAMGRAM_DDL.replace(',\n  ADD UNIQUE KEY `auth_key_id` (`auth_key_id`);\n\nALTER TABLE `auth_key_infos`', ';\n\nALTER TABLE `auth_key_infos`'))
      await assert.rejects(
        MysqlAuthKeyStore.open({ ...mariadb.connection, database: 'teamgram_broken' }),
        (e: unknown) => e instanceof StoreError && e.code === 'internal' && /unique/.test(e.message),
      )
    } finally {
      await b.end()
    }
  })
})

describe('a database of an earlier mtgate (schema 1) on Teamgram tables is upgraded in place', { skip }, () => {
  const clock = new ManualClock(1_790_000_000_000)

  it('keeps its keys, bindings and salts, adds mtgate_auth_key_states, leaves Teamgram tables alone', async () => {
    mariadb.createDatabase('mtgate_v1')
    const c = await mysql.createConnection({ ...mariadb.connection, database: 'mtgate_v1', multipleStatements: true, supportBigNumbers: true, bigNumberStrings: true })
    let store: MysqlAuthKeyStore | undefined
    try {
      await c.query(TEAMGRAM_DDL)
      // What the schema-1 build ran, and its version row.
      for (const sql of MYSQL_MIGRATIONS[0] as readonly string[]) await c.query(sql)
      await c.query('CREATE TABLE `mtgate_schema_version` (`version` int NOT NULL) ENGINE=InnoDB; INSERT INTO `mtgate_schema_version` VALUES (1)')
      const p = permRecord(clock)
      const t = tempRecord(clock)
      const exp = t.expiresAt!
      // Rows as the schema-1 store wrote them.
      for (const r of [p, t]) {
        await c.query('INSERT INTO auth_keys (auth_key_id, body, created_at) VALUES (?, ?, FROM_UNIXTIME(?))', [r.id.toString(), r.key.toString('base64'), r.createdAt])
        await c.query('INSERT INTO auth_key_infos (id, auth_key_id, auth_key_type) VALUES (?, ?, ?)', [r.id.toString(), r.id.toString(), r.type])
      }
      await c.query('INSERT INTO mtgate_auth_key_expiry VALUES (?, ?)', [t.id.toString(), exp])
      await c.query('INSERT INTO mtgate_auth_key_bindings VALUES (?, ?, 1, ?)', [t.id.toString(), p.id.toString(), exp])
      await c.query('INSERT INTO mtgate_server_salts VALUES (?, 77, ?, ?)', [p.id.toString(), exp - 3600, exp])
      const ddlBefore = [await showCreate(c, 'auth_keys'), await showCreate(c, 'auth_key_infos')]

      store = await MysqlAuthKeyStore.open({ ...mariadb.connection, database: 'mtgate_v1' }, { clock })
      const [v] = await c.query('SELECT version FROM mtgate_schema_version')
      assert.deepEqual(v, [{ version: MYSQL_MIGRATIONS.length }])
      assert.deepEqual([await showCreate(c, 'auth_keys'), await showCreate(c, 'auth_key_infos')], ddlBefore)
      const ddl = await showCreate(c, 'mtgate_auth_key_states')
      for (const col of [/`auth_key_id` bigint\(20\) NOT NULL/, /`user_id` bigint\(20\) DEFAULT NULL/, /`layer` int\(11\) DEFAULT NULL/, /`client` text/, /`updated_at` bigint\(20\) NOT NULL/, /PRIMARY KEY \(`auth_key_id`\)/])
        assert.match(ddl, col)

      assert.ok((await store.get(p.id))?.key.equals(p.key))
      const [bodies] = await c.query('SELECT body FROM auth_keys WHERE auth_key_id IN (?, ?) ORDER BY auth_key_id = ?', [p.id.toString(), t.id.toString(), t.id.toString()])
      assert.deepEqual(await goRawStdDecode((bodies as { body: string }[]).map((r) => r.body)), [p.key.toString('hex'), t.key.toString('hex')], 'padded bodies written by schema 1 are readable by Teamgram after the upgrade')
      assert.equal((await store.get(t.id))?.expiresAt, exp)
      assert.deepEqual(await store.getBinding(t.id), { tempId: t.id, permId: p.id, type: AuthKeyType.temp, expiresAt: exp })
      assert.deepEqual(await store.loadSalts(p.id), [{ salt: 77n, validSince: exp - 3600, validUntil: exp }])
      assert.equal(await store.loadState(p.id), undefined)
      const state = { userId: (1n << 62n) + 5n, layer: 201, client: '{"deviceModel":"Pixel 📱"}' }
      await store.saveState(p.id, state)
      const [rows] = await c.query('SELECT auth_key_id, user_id, layer, client, updated_at FROM mtgate_auth_key_states')
      assert.deepEqual(rows, [
        { auth_key_id: p.id.toString(), user_id: state.userId.toString(), layer: 201, client: state.client, updated_at: String(Math.floor(clock.now() / 1000)) },
      ])
      await store.close()
      store = await MysqlAuthKeyStore.open({ ...mariadb.connection, database: 'mtgate_v1' }, { clock })
      assert.deepEqual(await store.loadState(p.id), state)
    } finally {
      await store?.close()
      await c.end()
    }
  })
})

describe("an mtgate database that kept bindings only in its own table (schema 3) gets Teamgram's", { skip }, () => {
  it('copies each bound user into auth_users, where both servers read it', async () => {
    mariadb.createDatabase('mtgate_v3')
    const c = await mysql.createConnection({ ...mariadb.connection, database: 'mtgate_v3', multipleStatements: true, supportBigNumbers: true, bigNumberStrings: true })
    let store: MysqlAuthKeyStore | undefined
    try {
      for (const m of MYSQL_MIGRATIONS.slice(0, 3)) for (const sql of m) await c.query(sql)
      await c.query('CREATE TABLE `mtgate_schema_version` (`version` int NOT NULL) ENGINE=InnoDB; INSERT INTO `mtgate_schema_version` VALUES (3)')
      await c.query('INSERT INTO mtgate_auth_key_states (auth_key_id, user_id, layer, client, updated_at) VALUES (11, 99, 201, NULL, 1790000000), (12, 0, 201, NULL, 1790000000), (13, NULL, 201, NULL, 1790000000)')
      store = await MysqlAuthKeyStore.open({ ...mariadb.connection, database: 'mtgate_v3' })
      const [rows] = await c.query('SELECT auth_key_id, user_id, date_created, deleted, hash > 0 AS hashed FROM auth_users ORDER BY auth_key_id')
      assert.deepEqual(rows, [{ auth_key_id: '11', user_id: '99', date_created: '1790000000', deleted: 0, hashed: 1 }])
      assert.deepEqual(await store.loadState(11n), { userId: 99n, layer: 201 })
      assert.deepEqual(await store.loadState(12n), { userId: 0n, layer: 201 })
      assert.deepEqual(await store.loadState(13n), { layer: 201 })
    } finally {
      await store?.close()
      await c.end()
    }
  })
})

describe("an mtgate database (schema 4) takes Teamgram's authsession writes after the upgrade", { skip }, () => {
  it("auth_key_infos.id becomes AUTO_INCREMENT (Teamgram's insert leaves it out) and old rows name their own key", async () => {
    mariadb.createDatabase('mtgate_v4')
    const c = await mysql.createConnection({ ...mariadb.connection, database: 'mtgate_v4', multipleStatements: true, supportBigNumbers: true, bigNumberStrings: true })
    let store: MysqlAuthKeyStore | undefined
    const teamgramInsert = (id: number) =>
      // Teamgram's AuthKeyInfosDAO.Insert (SetAuthKeyV2) of a permanent key
      c.query('insert into auth_key_infos(auth_key_id, auth_key_type, perm_auth_key_id, temp_auth_key_id, media_temp_auth_key_id) values (?, 0, ?, 0, 0)', [id, id])
    try {
      for (const m of MYSQL_MIGRATIONS.slice(0, 4)) for (const sql of m) await c.query(sql)
      await c.query('CREATE TABLE `mtgate_schema_version` (`version` int NOT NULL) ENGINE=InnoDB; INSERT INTO `mtgate_schema_version` VALUES (4)')
      // rows as schema 4 wrote them: explicit id, no own id in the type's column
      await c.query('INSERT INTO auth_key_infos (id, auth_key_id, auth_key_type) VALUES (21, 21, 0), (22, 22, 1), (23, 23, 2)')
      await assert.rejects(teamgramInsert(24), /doesn't have a default value/)
      store = await MysqlAuthKeyStore.open({ ...mariadb.connection, database: 'mtgate_v4' })
      await teamgramInsert(24)
      const [rows] = await c.query('SELECT auth_key_id, perm_auth_key_id, temp_auth_key_id, media_temp_auth_key_id FROM auth_key_infos ORDER BY auth_key_id')
      assert.deepEqual(rows, [
        { auth_key_id: '21', perm_auth_key_id: '21', temp_auth_key_id: '0', media_temp_auth_key_id: '0' },
        { auth_key_id: '22', perm_auth_key_id: '0', temp_auth_key_id: '22', media_temp_auth_key_id: '0' },
        { auth_key_id: '23', perm_auth_key_id: '0', temp_auth_key_id: '0', media_temp_auth_key_id: '23' },
        { auth_key_id: '24', perm_auth_key_id: '24', temp_auth_key_id: '0', media_temp_auth_key_id: '0' },
      ])
    } finally {
      await store?.close()
      await c.end()
    }
  })
})
