/**
 * SQLite auth-key store (better-sqlite3, the embedded default).
 *
 * Durability: WAL journal, synchronous=FULL by default, so the commit of put() is fsynced before the
 * promise resolves (a key is acknowledged to the client only once it survives a power loss).
 *
 * Event loop: reads run synchronously on the calling thread (a primary-key lookup costs a few µs;
 * WAL readers never wait for writers). Writes go to a worker thread owning the write connection
 * (sqlite-write-worker.ts), because a durable commit is an fsync (0.2 ms on an idle disk, several ms
 * on a busy one) and waiting for another process's lock can take longer: neither happens on the event
 * loop. Writes arriving together share one transaction and one fsync (group commit).
 * ':memory:' databases (one connection only) write inline instead.
 */
import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import type { Logger } from '../util/log.js'
import { systemClock, type Clock } from '../util/clock.js'
import { isLive, validateBinding, validateId, validateRecord, validateSalts, validateState } from './codec.js'
import { toStoreError, withDeadline } from './errors.js'
import { migrateSqlite } from './sqlite-schema.js'
import { SqliteWriter, type WriteOp, type WriteResult } from './sqlite-writes.js'
import type { FromWriter, ToWriter, WriterInit } from './sqlite-write-worker.js'
import {
  StoreError,
  type AuthKeyBinding,
  type AuthKeyRecord,
  type AuthKeyState,
  type AuthKeyStore,
  type AuthKeyType,
  type ServerSalt,
} from './types.js'

export interface SqliteStoreOptions {
  /** Database file (its directory is created); ':memory:' for a private in-memory database. */
  path: string
  synchronous?: 'full' | 'normal'
  /** How long a write waits for another process's lock before failing with 'unavailable' (default 5000 ms). */
  busyTimeoutMs?: number
  /** 'thread' (default for files): writes in a worker thread; 'inline': on the calling thread. */
  writer?: 'thread' | 'inline'
  clock?: Clock
  log?: Logger
}

interface KeyRow {
  body: Buffer
  auth_key_type: bigint
  expires_at: bigint | null
  created_at: bigint
}

interface BindingRow {
  perm_auth_key_id: bigint
  auth_key_type: bigint
  expires_at: bigint
}

type Pending = { resolve: (r: WriteResult) => void }

export class SqliteAuthKeyStore implements AuthKeyStore {
  readonly path: string
  readonly synchronous: 'full' | 'normal'
  readonly writerMode: 'thread' | 'inline'
  private readonly db: Database.Database
  private readonly clock: Clock
  private readonly log: Logger | undefined
  private readonly busyTimeoutMs: number
  private closed = false
  private readonly q: {
    get: Database.Statement
    getBinding: Database.Statement
    loadSalts: Database.Statement
    loadState: Database.Statement
  }
  private readonly inline: SqliteWriter | undefined
  private worker: Worker | undefined
  private workerReady: Promise<void> | undefined
  private seq = 0
  private readonly pending = new Map<number, Pending>()

  constructor(opts: SqliteStoreOptions) {
    this.path = opts.path
    this.synchronous = opts.synchronous ?? 'full'
    this.clock = opts.clock ?? systemClock
    this.log = opts.log
    this.busyTimeoutMs = Math.max(0, opts.busyTimeoutMs ?? 5000)
    this.writerMode = opts.path === ':memory:' ? 'inline' : (opts.writer ?? 'thread')
    try {
      if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true })
      this.db = new Database(opts.path)
    } catch (e) {
      throw toStoreError(e, `sqlite: cannot open ${opts.path}`)
    }
    try {
      // Opening and migrating may wait (blocking, once at start) for another process.
      this.db.pragma(`busy_timeout = ${Math.floor(this.busyTimeoutMs)}`)
      this.db.pragma('journal_mode = WAL')
      this.db.pragma(`synchronous = ${this.synchronous === 'full' ? 'FULL' : 'NORMAL'}`)
      this.db.defaultSafeIntegers(true)
      const m = migrateSqlite(this.db)
      if (m.from !== m.to) opts.log?.info({ path: opts.path, from: m.from, to: m.to }, 'sqlite store: schema migrated')
      // From now on the event loop never sleeps in SQLite: lock waits are retried asynchronously.
      this.db.pragma('busy_timeout = 0')
      const db = this.db
      this.q = {
        get: db.prepare(
          'SELECT body, auth_key_type, expires_at, created_at FROM auth_keys WHERE auth_key_id = ? AND deleted = 0',
        ),
        getBinding: db.prepare(
          'SELECT perm_auth_key_id, auth_key_type, expires_at FROM auth_key_bindings WHERE temp_auth_key_id = ?',
        ),
        loadSalts: db.prepare(
          'SELECT salt, valid_since, valid_until FROM server_salts WHERE auth_key_id = ? ORDER BY valid_since, salt',
        ),
        loadState: db.prepare('SELECT user_id, layer, client FROM auth_key_states WHERE auth_key_id = ?'),
      }
      this.inline = this.writerMode === 'inline' ? new SqliteWriter(db) : undefined
    } catch (e) {
      this.db.close()
      throw toStoreError(e, `sqlite: cannot prepare ${opts.path}`)
    }
  }

  private now(): number {
    return Math.floor(this.clock.now() / 1000)
  }

  /**
   * Runs a synchronous read (or an inline write). A lock held by another process (SQLITE_BUSY) is
   * waited for asynchronously with a short backoff until busyTimeoutMs, then StoreError('unavailable').
   */
  private async run<T>(what: string, fn: () => T): Promise<T> {
    const start = Date.now()
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new StoreError('unavailable', `sqlite ${what}: store closed`)
      try {
        return fn()
      } catch (e) {
        const code = (e as { code?: unknown }).code
        const busy = code === 'SQLITE_BUSY' || code === 'SQLITE_BUSY_SNAPSHOT' || code === 'SQLITE_LOCKED'
        if (!busy || Date.now() - start >= this.busyTimeoutMs) throw toStoreError(e, `sqlite ${what}`)
        await sleep(Math.min(1 + attempt, 10))
      }
    }
  }

  private startWorker(): Promise<void> {
    const init: WriterInit = { path: this.path, synchronous: this.synchronous, busyTimeoutMs: this.busyTimeoutMs }
    const w = new Worker(new URL('./sqlite-write-worker.js', import.meta.url), { workerData: init })
    w.unref()
    this.worker = w
    const ready = new Promise<void>((resolve, reject) => {
      w.on('message', (m: FromWriter) => {
        if (m.type === 'ready') resolve()
        else if (m.type === 'fatal') reject(new StoreError('unavailable', `sqlite writer: ${m.message}`))
        else
          m.results.forEach((r, i) => {
            const seq = m.seqs[i] as number
            const p = this.pending.get(seq)
            if (!p) return
            this.pending.delete(seq)
            p.resolve(r)
          })
        if (this.pending.size === 0) w.unref()
      })
      const fail = (why: string): void => {
        if (this.worker !== w) return
        this.worker = undefined
        this.workerReady = undefined
        reject(new StoreError('unavailable', `sqlite writer: ${why}`))
        if (!this.closed) this.log?.error({ reason: why }, 'sqlite store: writer thread failed; restarting on the next write')
        for (const [seq, p] of this.pending) {
          this.pending.delete(seq)
          p.resolve({ ok: false, code: 'unavailable', message: `sqlite writer: ${why}` })
        }
      }
      w.on('error', (e) => fail(e.message))
      w.on('exit', (code) => fail(`exited with code ${code}`))
    })
    ready.catch(() => undefined)
    this.workerReady = ready
    return ready
  }

  /** Sends one write to the writer (thread or inline) and unwraps its result. */
  private async write(op: WriteOp): Promise<WriteResult & { ok: true }> {
    if (this.closed) throw new StoreError('unavailable', `sqlite ${op.op}: store closed`)
    let r: WriteResult
    if (this.inline) {
      const inline = this.inline
      r = await this.run(op.op, () => {
        const res = inline.applyBatch([op])[0] as WriteResult
        // A lock held by another process: surface it to run() so it is retried asynchronously.
        if (!res.ok && res.code === 'unavailable' && /SQLITE_BUSY/.test(res.message))
          throw Object.assign(new Error(res.message), { code: 'SQLITE_BUSY' })
        return res
      })
    } else {
      if (!this.workerReady) void this.startWorker()
      await withDeadline(this.workerReady as Promise<void>, 10_000, 'sqlite writer start')
      const w = this.worker
      if (!w) throw new StoreError('unavailable', 'sqlite writer: not running')
      const seq = ++this.seq
      const result = new Promise<WriteResult>((resolve) => this.pending.set(seq, { resolve }))
      w.ref()
      w.postMessage({ type: 'write', seq, op } satisfies ToWriter)
      r = await withDeadline(result, this.busyTimeoutMs + 10_000, `sqlite ${op.op}`).catch((e: unknown) => {
        this.pending.delete(seq)
        throw e
      })
    }
    if (!r.ok) {
      if (r.code === 'unavailable') this.log?.warn({ op: op.op, reason: r.message }, 'sqlite store: write failed')
      throw new StoreError(r.code, r.message)
    }
    return r
  }

  async put(record: AuthKeyRecord): Promise<'created' | 'exists'> {
    validateRecord(record)
    const r = await this.write({
      op: 'put',
      id: record.id,
      key: record.key,
      type: record.type,
      expiresAt: record.expiresAt ?? null,
      createdAt: record.createdAt,
    })
    return r.value === 'created' ? 'created' : 'exists'
  }

  async get(id: bigint): Promise<AuthKeyRecord | undefined> {
    validateId(id)
    const row = await this.run('get', () => this.q.get.get(id) as KeyRow | undefined)
    if (!row) return undefined
    const r: AuthKeyRecord = {
      id,
      key: row.body,
      type: Number(row.auth_key_type) as AuthKeyType,
      createdAt: Number(row.created_at),
    }
    if (row.expires_at !== null) r.expiresAt = Number(row.expires_at)
    return isLive(r, this.now()) ? r : undefined
  }

  async bind(binding: AuthKeyBinding): Promise<void> {
    validateBinding(binding)
    await this.write({ op: 'bind', ...binding })
  }

  async getBinding(tempId: bigint): Promise<AuthKeyBinding | undefined> {
    validateId(tempId)
    const row = await this.run('getBinding', () => this.q.getBinding.get(tempId) as BindingRow | undefined)
    if (!row) return undefined
    const b: AuthKeyBinding = {
      tempId,
      permId: row.perm_auth_key_id,
      type: Number(row.auth_key_type) as AuthKeyType,
      expiresAt: Number(row.expires_at),
    }
    return isLive(b, this.now()) ? b : undefined
  }

  async destroy(id: bigint): Promise<boolean> {
    validateId(id)
    return (await this.write({ op: 'destroy', id })).value === true
  }

  async expireTemp(now: number): Promise<number> {
    if (!Number.isInteger(now)) throw new StoreError('invalid', 'expireTemp: now must be unix seconds')
    return Number((await this.write({ op: 'expireTemp', now })).value)
  }

  async saveSalts(authKeyId: bigint, salts: ServerSalt[]): Promise<void> {
    validateSalts(authKeyId, salts)
    await this.write({ op: 'saveSalts', id: authKeyId, salts: salts.map((s) => ({ ...s })) })
  }

  async loadSalts(authKeyId: bigint): Promise<ServerSalt[]> {
    validateId(authKeyId)
    const rows = await this.run(
      'loadSalts',
      () => this.q.loadSalts.all(authKeyId) as { salt: bigint; valid_since: bigint; valid_until: bigint }[],
    )
    return rows.map((r) => ({ salt: r.salt, validSince: Number(r.valid_since), validUntil: Number(r.valid_until) }))
  }

  async saveState(authKeyId: bigint, state: AuthKeyState): Promise<void> {
    validateState(authKeyId, state)
    await this.write({
      op: 'saveState',
      id: authKeyId,
      userId: state.userId ?? null,
      layer: state.layer ?? null,
      client: state.client ?? null,
      now: this.now(),
    })
  }

  async loadState(authKeyId: bigint): Promise<AuthKeyState | undefined> {
    validateId(authKeyId)
    const row = await this.run(
      'loadState',
      () =>
        this.q.loadState.get(authKeyId) as
          | { user_id: bigint | null; layer: bigint | null; client: string | null }
          | undefined,
    )
    if (!row) return undefined
    const s: AuthKeyState = {}
    if (row.user_id !== null) s.userId = row.user_id
    if (row.layer !== null) s.layer = Number(row.layer)
    if (row.client !== null) s.client = row.client
    return s
  }

  /** Waits for pending writes (up to busyTimeoutMs + 10 s), stops the writer thread, closes the file. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const w = this.worker
    if (w) {
      const deadline = Date.now() + this.busyTimeoutMs + 10_000
      while (this.pending.size > 0 && Date.now() < deadline) await sleep(5)
      const exited = new Promise<void>((res) => w.once('exit', () => res()))
      w.postMessage({ type: 'close' } satisfies ToWriter)
      await withDeadline(exited, 5000, 'sqlite writer close').catch(() => w.terminate())
    }
    this.db.close()
  }

  describe(): string {
    return `sqlite ${this.path} (WAL, synchronous=${this.synchronous.toUpperCase()})`
  }
}
