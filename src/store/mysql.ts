/**
 * MySQL / MariaDB auth-key store (mysql2 pool) on Teamgram's tables.
 *
 * - A key is a row in `auth_keys` (body = the 256 bytes in base64 without padding, as Teamgram's
 *   Go code writes and reads it: RawStdEncoding) plus its `auth_key_infos` row
 *   (type and the perm/temp/media-temp links), written in one transaction; InnoDB's commit
 *   (innodb_flush_log_at_trx_commit=1 by default) makes it durable before put() resolves.
 *   auth_key_infos.id has no AUTO_INCREMENT in Teamgram's DDL, so we set it to auth_key_id.
 * - The UNIQUE index on auth_keys.auth_key_id detects collisions, also between gateways: the loser
 *   gets 'exists'.
 * - Temp-key expiry, binding expiry, server salts and per-key state (saveState) are in our `mtgate_*`
 *   tables; the key → user binding and the client's layer and initConnection data are also kept in
 *   Teamgram's `auth_users` and `auths`, where Teamgram reads them (see teamgram-auth.ts).
 * - Every operation is bounded by opTimeoutMs (connect included): a database that is down or hung
 *   makes it reject with StoreError('unavailable') instead of waiting.
 */
import mysql from 'mysql2/promise'
import type { Pool, PoolConnection, PoolOptions } from 'mysql2/promise'
import type { Logger } from '../util/log.js'
import { systemClock, type Clock } from '../util/clock.js'
import {
  AUTH_KEY_BYTES,
  isLive,
  validateBinding,
  validateId,
  validateRecord,
  validateSalts,
  validateState,
} from './codec.js'
import { driverCode, toStoreError, withDeadline } from './errors.js'
import { destroyKeyRows } from './mysql-destroy.js'
import { migrateMysql } from './mysql-schema.js'
import { parseMysqlOptions } from './mysql-options.js'
import { LOAD_STATE_SQL, saveTeamgramAuth, stateOfRow, type MysqlQuery } from './teamgram-auth.js'
import {
  AuthKeyType,
  StoreError,
  type AuthKeyBinding,
  type AuthKeyRecord,
  type AuthKeyState,
  type AuthKeyStore,
  type MysqlStoreOptions,
  type ServerSalt,
} from './types.js'

/** Binding expiry reported for a binding Teamgram wrote (it kept the expiry only in Redis). */
export const UNKNOWN_BINDING_EXPIRY = 0xffffffff

type Row = Record<string, unknown>

function num(x: unknown): number {
  return typeof x === 'number' ? x : Number(x)
}

function big(x: unknown): bigint {
  if (typeof x === 'bigint') return x
  if (typeof x === 'string' || typeof x === 'number') return BigInt(x)
  throw new StoreError('internal', `mysql: unexpected integer value ${String(x)}`)
}

export class MysqlAuthKeyStore implements AuthKeyStore {
  private readonly pool: Pool
  private readonly timeoutMs: number
  private readonly clock: Clock
  private readonly log: Logger | undefined
  private closed = false

  private constructor(
    readonly options: MysqlStoreOptions,
    clock: Clock,
    log: Logger | undefined,
  ) {
    this.timeoutMs = options.opTimeoutMs ?? 2000
    this.clock = clock
    this.log = log
    const ssl = options.ssl === true ? { rejectUnauthorized: true } : options.ssl === false ? undefined : options.ssl
    const po: PoolOptions = {
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 3306,
      user: options.user ?? 'root',
      password: options.password ?? '',
      database: options.database,
      connectionLimit: options.connectionLimit ?? 10,
      connectTimeout: this.timeoutMs,
      supportBigNumbers: true,
      bigNumberStrings: true,
      enableKeepAlive: true,
      waitForConnections: true,
      maxIdle: options.connectionLimit ?? 10,
      idleTimeout: 60_000,
      charset: 'utf8mb4',
    }
    if (options.socketPath !== undefined) po.socketPath = options.socketPath
    if (ssl) po.ssl = ssl
    this.pool = mysql.createPool(po)
  }

  /** Connects, runs the migrations and returns the store; StoreError('unavailable') if the DB is unreachable. */
  static async open(
    options: MysqlStoreOptions | Record<string, unknown>,
    opts: { clock?: Clock; log?: Logger } = {},
  ): Promise<MysqlAuthKeyStore> {
    const store = new MysqlAuthKeyStore(parseMysqlOptions(options), opts.clock ?? systemClock, opts.log)
    try {
      const m = await store.withConn('migrate', (c) => migrateMysql(c, store.timeoutMs), store.timeoutMs * 5)
      if (m.from !== m.to) store.log?.info({ from: m.from, to: m.to }, 'mysql store: schema migrated')
    } catch (e) {
      await store.close()
      throw e
    }
    return store
  }

  private now(): number {
    return Math.floor(this.clock.now() / 1000)
  }

  /** Runs fn on a pooled connection within the deadline; a connection that failed is destroyed, not reused. */
  private async withConn<T>(what: string, fn: (c: PoolConnection) => Promise<T>, deadlineMs = this.timeoutMs): Promise<T> {
    if (this.closed) throw new StoreError('unavailable', `mysql ${what}: store closed`)
    let conn: PoolConnection | undefined
    let broken = false
    let abandoned = false
    const work = async (): Promise<T> => {
      const c = await this.pool.getConnection()
      if (abandoned) {
        c.release()
        throw new StoreError('unavailable', `mysql ${what}: connection arrived after the deadline`)
      }
      conn = c
      return fn(c)
    }
    try {
      return await withDeadline(work(), deadlineMs, `mysql ${what}`)
    } catch (e) {
      const err = toStoreError(e, `mysql ${what}`)
      if (err.code === 'unavailable') {
        broken = true
        this.log?.warn({ op: what, reason: err.message }, 'mysql store: database unavailable')
      }
      throw err
    } finally {
      abandoned = true
      const c = conn as PoolConnection | undefined
      if (c) {
        if (broken) c.destroy()
        else c.release()
      }
    }
  }

  private async query<T = Row[]>(c: PoolConnection, sql: string, values: unknown[] = []): Promise<T> {
    const [rows] = await c.query({ sql, values, timeout: this.timeoutMs })
    return rows as T
  }

  /** query as a function, for the helpers that run SQL inside this store's transactions. */
  private readonly boundQuery: MysqlQuery = (c, sql, values) => this.query(c, sql, values)

  /** fn inside BEGIN/COMMIT; rolled back on error. */
  private tx<T>(what: string, fn: (c: PoolConnection) => Promise<T>): Promise<T> {
    return this.withConn(what, async (c) => {
      await this.query(c, 'START TRANSACTION')
      try {
        const out = await fn(c)
        await this.query(c, 'COMMIT')
        return out
      } catch (e) {
        await this.query(c, 'ROLLBACK').catch(() => undefined)
        throw e
      }
    })
  }

  async put(record: AuthKeyRecord): Promise<'created' | 'exists'> {
    validateRecord(record)
    const id = record.id.toString()
    const body = rawBase64(record.key)
    const inserted = await this.tx('put', async (c) => {
      try {
        await this.query(c, 'INSERT INTO auth_keys (auth_key_id, body, created_at) VALUES (?, ?, FROM_UNIXTIME(?))', [
          id,
          body,
          record.createdAt,
        ])
      } catch (e) {
        if (driverCode(e) === 'ER_DUP_ENTRY') return false
        throw e
      }
      // as Teamgram's SetAuthKeyV2: `id` left to AUTO_INCREMENT, own id in its type's column (NewAuthKeyInfo)
      const own = [AuthKeyType.perm, AuthKeyType.temp, AuthKeyType.mediaTemp].map((t) => (record.type === t ? id : '0'))
      await this.query(
        c,
        `INSERT INTO auth_key_infos (auth_key_id, auth_key_type, perm_auth_key_id, temp_auth_key_id, media_temp_auth_key_id, deleted)
         VALUES (?, ?, ?, ?, ?, 0)
         ON DUPLICATE KEY UPDATE auth_key_type = VALUES(auth_key_type), perm_auth_key_id = VALUES(perm_auth_key_id),
           temp_auth_key_id = VALUES(temp_auth_key_id), media_temp_auth_key_id = VALUES(media_temp_auth_key_id), deleted = 0`,
        [id, record.type, ...own],
      )
      if (record.expiresAt !== undefined)
        await this.query(
          c,
          'INSERT INTO mtgate_auth_key_expiry (auth_key_id, expires_at) VALUES (?, ?) ON DUPLICATE KEY UPDATE expires_at = VALUES(expires_at)',
          [id, record.expiresAt],
        )
      return true
    })
    if (inserted) return 'created'
    // Collision, or our own earlier put whose answer was lost (same key bytes: idempotent).
    const rows = await this.withConn('put', (c) =>
      this.query(c, 'SELECT body, deleted FROM auth_keys WHERE auth_key_id = ?', [id]),
    )
    const had = rows[0]
    return had && num(had.deleted) === 0 && Buffer.from(String(had.body), 'base64').equals(record.key) ? 'created' : 'exists'
  }

  async get(id: bigint): Promise<AuthKeyRecord | undefined> {
    validateId(id)
    const rows = await this.withConn('get', (c) =>
      this.query(
        c,
        `SELECT k.body, UNIX_TIMESTAMP(k.created_at) AS created_at, i.auth_key_type, i.deleted AS info_deleted, e.expires_at
           FROM auth_keys k
           LEFT JOIN auth_key_infos i ON i.auth_key_id = k.auth_key_id
           LEFT JOIN mtgate_auth_key_expiry e ON e.auth_key_id = k.auth_key_id
          WHERE k.auth_key_id = ? AND k.deleted = 0 LIMIT 1`,
        [id.toString()],
      ),
    )
    const row = rows[0]
    if (!row || num(row.info_deleted ?? 0) !== 0) return undefined
    const key = Buffer.from(String(row.body), 'base64')
    if (key.length !== AUTH_KEY_BYTES) {
      this.log?.error({ authKeyId: id.toString(16) }, 'mysql store: auth_keys.body is not a base64 256-byte key')
      throw new StoreError('internal', 'mysql get: stored key body is malformed')
    }
    const type = row.auth_key_type === null || row.auth_key_type === undefined ? 0 : num(row.auth_key_type)
    const r: AuthKeyRecord = {
      id,
      key,
      type: (type === 1 || type === 2 ? type : 0) as AuthKeyType,
      createdAt: Math.floor(num(row.created_at)),
    }
    if (row.expires_at !== null && row.expires_at !== undefined) r.expiresAt = num(row.expires_at)
    return isLive(r, this.now()) ? r : undefined
  }

  async bind(binding: AuthKeyBinding): Promise<void> {
    validateBinding(binding)
    const temp = binding.tempId.toString()
    const perm = binding.permId.toString()
    await this.tx('bind', async (c) => {
      const typeOf = async (id: string): Promise<number | undefined> => {
        const rows = await this.query(
          c,
          `SELECT COALESCE(i.auth_key_type, 0) AS t FROM auth_keys k LEFT JOIN auth_key_infos i ON i.auth_key_id = k.auth_key_id
            WHERE k.auth_key_id = ? AND k.deleted = 0 FOR UPDATE`,
          [id],
        )
        return rows[0] ? num(rows[0].t) : undefined
      }
      const tt = await typeOf(temp)
      const pt = await typeOf(perm)
      if (tt === undefined || tt === AuthKeyType.perm) throw new StoreError('invalid', 'bind: unknown temporary key')
      if (pt !== AuthKeyType.perm) throw new StoreError('invalid', 'bind: unknown permanent key')
      await this.query(
        c,
        `INSERT INTO mtgate_auth_key_bindings (temp_auth_key_id, perm_auth_key_id, auth_key_type, expires_at) VALUES (?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE perm_auth_key_id = VALUES(perm_auth_key_id), auth_key_type = VALUES(auth_key_type),
           expires_at = VALUES(expires_at)`,
        [temp, perm, binding.type, binding.expiresAt],
      )
      // Teamgram's view of the same link.
      await this.query(c, 'UPDATE auth_key_infos SET perm_auth_key_id = ? WHERE auth_key_id = ?', [perm, temp])
      const col = binding.type === AuthKeyType.mediaTemp ? 'media_temp_auth_key_id' : 'temp_auth_key_id'
      await this.query(c, `UPDATE auth_key_infos SET ${col} = ? WHERE auth_key_id = ?`, [temp, perm])
    })
  }

  async getBinding(tempId: bigint): Promise<AuthKeyBinding | undefined> {
    validateId(tempId)
    const t = tempId.toString()
    const b = await this.withConn('getBinding', async (c) => {
      const rows = await this.query(
        c,
        'SELECT perm_auth_key_id, auth_key_type, expires_at FROM mtgate_auth_key_bindings WHERE temp_auth_key_id = ?',
        [t],
      )
      if (rows[0])
        return {
          tempId,
          permId: big(rows[0].perm_auth_key_id),
          type: num(rows[0].auth_key_type) as AuthKeyType,
          expiresAt: num(rows[0].expires_at),
        }
      // A binding Teamgram made: only auth_key_infos knows it.
      const tg = await this.query(
        c,
        `SELECT i.perm_auth_key_id, i.auth_key_type, e.expires_at FROM auth_key_infos i
           JOIN auth_keys k ON k.auth_key_id = i.auth_key_id AND k.deleted = 0
           LEFT JOIN mtgate_auth_key_expiry e ON e.auth_key_id = i.auth_key_id
          WHERE i.auth_key_id = ? AND i.deleted = 0 AND i.perm_auth_key_id <> 0 AND i.auth_key_type IN (1, 2)`,
        [t],
      )
      if (!tg[0]) return undefined
      return {
        tempId,
        permId: big(tg[0].perm_auth_key_id),
        type: num(tg[0].auth_key_type) as AuthKeyType,
        expiresAt: tg[0].expires_at === null ? UNKNOWN_BINDING_EXPIRY : num(tg[0].expires_at),
      }
    })
    return b && isLive(b, this.now()) ? b : undefined
  }

  async destroy(id: bigint): Promise<boolean> {
    validateId(id)
    return this.tx('destroy', (c) => destroyKeyRows(this.boundQuery, c, id.toString()))
  }

  async expireTemp(now: number): Promise<number> {
    let total = 0
    for (;;) {
      const rows = await this.withConn('expireTemp', (c) =>
        this.query(
          c,
          `SELECT e.auth_key_id FROM mtgate_auth_key_expiry e JOIN auth_keys k ON k.auth_key_id = e.auth_key_id
            WHERE e.expires_at < ? AND k.deleted = 0 LIMIT 500`,
          [now],
        ),
      )
      if (rows.length === 0) return total
      for (const r of rows) if (await this.tx('expireTemp', (c) => destroyKeyRows(this.boundQuery, c, String(r.auth_key_id)))) total++
      if (rows.length < 500) return total
    }
  }

  async saveSalts(authKeyId: bigint, salts: ServerSalt[]): Promise<void> {
    validateSalts(authKeyId, salts)
    const id = authKeyId.toString()
    await this.tx('saveSalts', async (c) => {
      await this.query(c, 'DELETE FROM mtgate_server_salts WHERE auth_key_id = ?', [id])
      if (salts.length === 0) return
      await this.query(
        c,
        `INSERT INTO mtgate_server_salts (auth_key_id, salt, valid_since, valid_until) VALUES ${salts.map(() => '(?, ?, ?, ?)').join(', ')}`,
        salts.flatMap((s) => [id, s.salt.toString(), s.validSince, s.validUntil]),
      )
    })
  }

  async loadSalts(authKeyId: bigint): Promise<ServerSalt[]> {
    validateId(authKeyId)
    const rows = await this.withConn('loadSalts', (c) =>
      this.query(
        c,
        'SELECT salt, valid_since, valid_until FROM mtgate_server_salts WHERE auth_key_id = ? ORDER BY valid_since, salt',
        [authKeyId.toString()],
      ),
    )
    return rows.map((r) => ({ salt: big(r.salt), validSince: num(r.valid_since), validUntil: num(r.valid_until) }))
  }

  async saveState(authKeyId: bigint, state: AuthKeyState): Promise<void> {
    validateState(authKeyId, state)
    const id = authKeyId.toString()
    const now = this.now()
    await this.tx('saveState', async (c) => {
      // A save racing a destroy must not resurrect the state of a destroyed key (the shared lock
      // orders this transaction against destroy's update of the row).
      const key = await this.query(c, 'SELECT deleted FROM auth_keys WHERE auth_key_id = ? LOCK IN SHARE MODE', [id])
      if (key[0] && num(key[0].deleted) !== 0) return
      await this.query(
        c,
        `INSERT INTO mtgate_auth_key_states (auth_key_id, user_id, layer, client, updated_at) VALUES (?, ?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE user_id = VALUES(user_id), layer = VALUES(layer), client = VALUES(client),
           updated_at = VALUES(updated_at)`,
        [id, state.userId?.toString() ?? null, state.layer ?? null, state.client ?? null, now],
      )
      await saveTeamgramAuth(this.boundQuery, c, id, state, now)
    })
  }

  async loadState(authKeyId: bigint): Promise<AuthKeyState | undefined> {
    validateId(authKeyId)
    const rows = await this.withConn('loadState', (c) => this.query(c, LOAD_STATE_SQL, [authKeyId.toString()]))
    return rows[0] ? stateOfRow(rows[0]) : undefined
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.pool.end().catch(() => undefined)
  }

  describe(): string {
    const o = this.options
    const where = o.socketPath ?? `${o.host ?? '127.0.0.1'}:${o.port ?? 3306}`
    return `mysql ${o.user ?? 'root'}@${where}/${o.database ?? ''}${o.ssl ? ' (TLS)' : ''}`
  }
}

/** Base64 without '=' padding (Go's base64.RawStdEncoding). Buffer.from(s, 'base64') reads both forms. */
function rawBase64(b: Buffer): string {
  const s = b.toString('base64')
  let end = s.length
  while (end > 0 && s.charCodeAt(end - 1) === 61) end--
  return s.slice(0, end)
}
