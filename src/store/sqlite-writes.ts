/**
 * The write side of the SQLite store: every mutating operation, applied in batches with group commit
 * (one IMMEDIATE transaction, one fsync, per batch; each operation in its own SAVEPOINT so a refused
 * operation does not undo its neighbours). Runs in the writer worker thread (sqlite-write-worker.ts)
 * or, for ':memory:' databases, inline.
 */
import type { Database, Statement } from 'better-sqlite3'
import { AuthKeyType, StoreError, type ServerSalt, type StoreErrorCode } from './types.js'
import { toStoreError } from './errors.js'

/** Plain data only: it crosses the worker boundary by structured clone. */
export type WriteOp =
  | { op: 'put'; id: bigint; key: Uint8Array; type: number; expiresAt: number | null; createdAt: number }
  | { op: 'bind'; tempId: bigint; permId: bigint; type: number; expiresAt: number }
  | { op: 'destroy'; id: bigint }
  | { op: 'expireTemp'; now: number }
  | { op: 'saveSalts'; id: bigint; salts: ServerSalt[] }
  | { op: 'saveState'; id: bigint; userId: bigint | null; layer: number | null; client: string | null; now: number }

export type WriteResult = { ok: true; value: 'created' | 'exists' | boolean | number | null } | { ok: false; code: StoreErrorCode; message: string }

export class SqliteWriter {
  private readonly q: Record<
    | 'insert'
    | 'getAny'
    | 'getType'
    | 'softDelete'
    | 'delBindingsOf'
    | 'delSalts'
    | 'upsertBinding'
    | 'expired'
    | 'insertSalt'
    | 'isDeleted'
    | 'upsertState'
    | 'delState',
    Statement
  >

  constructor(private readonly db: Database) {
    this.q = {
      insert: db.prepare(
        'INSERT OR IGNORE INTO auth_keys (auth_key_id, body, auth_key_type, expires_at, created_at) VALUES (?, ?, ?, ?, ?)',
      ),
      getAny: db.prepare('SELECT body, deleted FROM auth_keys WHERE auth_key_id = ?'),
      getType: db.prepare('SELECT auth_key_type FROM auth_keys WHERE auth_key_id = ? AND deleted = 0'),
      softDelete: db.prepare('UPDATE auth_keys SET deleted = 1 WHERE auth_key_id = ? AND deleted = 0'),
      delBindingsOf: db.prepare('DELETE FROM auth_key_bindings WHERE temp_auth_key_id = ? OR perm_auth_key_id = ?'),
      delSalts: db.prepare('DELETE FROM server_salts WHERE auth_key_id = ?'),
      upsertBinding: db.prepare(
        `INSERT INTO auth_key_bindings (temp_auth_key_id, perm_auth_key_id, auth_key_type, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (temp_auth_key_id) DO UPDATE SET perm_auth_key_id = excluded.perm_auth_key_id,
           auth_key_type = excluded.auth_key_type, expires_at = excluded.expires_at`,
      ),
      expired: db
        .prepare('SELECT auth_key_id FROM auth_keys WHERE expires_at IS NOT NULL AND expires_at < ? AND deleted = 0')
        .pluck(),
      insertSalt: db.prepare('INSERT INTO server_salts (auth_key_id, salt, valid_since, valid_until) VALUES (?, ?, ?, ?)'),
      isDeleted: db.prepare('SELECT 1 FROM auth_keys WHERE auth_key_id = ? AND deleted = 1').pluck(),
      upsertState: db.prepare(
        `INSERT INTO auth_key_states (auth_key_id, user_id, layer, client, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (auth_key_id) DO UPDATE SET user_id = excluded.user_id, layer = excluded.layer,
           client = excluded.client, updated_at = excluded.updated_at`,
      ),
      delState: db.prepare('DELETE FROM auth_key_states WHERE auth_key_id = ?'),
    }
  }

  /** Applies the operations in one transaction; one result per operation, in order. */
  applyBatch(ops: WriteOp[]): WriteResult[] {
    try {
      this.db.exec('BEGIN IMMEDIATE')
    } catch (e) {
      const err = toStoreError(e, 'sqlite write')
      return ops.map(() => ({ ok: false, code: err.code, message: err.message }))
    }
    const results: WriteResult[] = []
    for (const op of ops) {
      this.db.exec('SAVEPOINT op')
      try {
        results.push({ ok: true, value: this.apply(op) })
        this.db.exec('RELEASE op')
      } catch (e) {
        this.db.exec('ROLLBACK TO op')
        this.db.exec('RELEASE op')
        const err = toStoreError(e, `sqlite ${op.op}`)
        results.push({ ok: false, code: err.code, message: err.message })
      }
    }
    try {
      this.db.exec('COMMIT')
    } catch (e) {
      // Not committed: nothing of this batch is durable, so every operation fails.
      if (this.db.inTransaction) this.db.exec('ROLLBACK')
      const err = toStoreError(e, 'sqlite commit')
      return ops.map(() => ({ ok: false, code: err.code, message: err.message }))
    }
    return results
  }

  private apply(op: WriteOp): 'created' | 'exists' | boolean | number | null {
    switch (op.op) {
      case 'put': {
        const key = Buffer.from(op.key.buffer, op.key.byteOffset, op.key.byteLength)
        if (this.q.insert.run(op.id, key, op.type, op.expiresAt, op.createdAt).changes > 0) return 'created'
        const had = this.q.getAny.get(op.id) as { body: Buffer; deleted: bigint | number } | undefined
        // The same key stored before (a retried put) is idempotent; a destroyed or different key is a collision.
        return had && Number(had.deleted) === 0 && had.body.equals(key) ? 'created' : 'exists'
      }
      case 'bind': {
        const temp = this.q.getType.get(op.tempId) as { auth_key_type: bigint | number } | undefined
        const perm = this.q.getType.get(op.permId) as { auth_key_type: bigint | number } | undefined
        if (!temp || Number(temp.auth_key_type) === AuthKeyType.perm)
          throw new StoreError('invalid', 'bind: unknown temporary key')
        if (!perm || Number(perm.auth_key_type) !== AuthKeyType.perm)
          throw new StoreError('invalid', 'bind: unknown permanent key')
        this.q.upsertBinding.run(op.tempId, op.permId, op.type, op.expiresAt)
        return null
      }
      case 'destroy':
        return this.destroy(op.id)
      case 'expireTemp': {
        let n = 0
        for (const id of this.q.expired.all(op.now) as bigint[]) if (this.destroy(id)) n++
        return n
      }
      case 'saveSalts':
        this.q.delSalts.run(op.id)
        for (const s of op.salts) this.q.insertSalt.run(op.id, s.salt, s.validSince, s.validUntil)
        return null
      case 'saveState':
        // A save racing a destroy must not resurrect the state of a destroyed key.
        if (this.q.isDeleted.get(op.id) !== undefined) return false
        this.q.upsertState.run(op.id, op.userId, op.layer, op.client, op.now)
        return true
    }
  }

  private destroy(id: bigint): boolean {
    const existed = this.q.softDelete.run(id).changes > 0
    this.q.delBindingsOf.run(id, id)
    this.q.delSalts.run(id)
    this.q.delState.run(id)
    return existed
  }
}
