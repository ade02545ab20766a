/** SQLite schema and its migrations (applied in order on open; version kept in schema_version). */
import type { Database } from 'better-sqlite3'
import { StoreError } from './types.js'

/** Index i holds the SQL that takes the schema from version i to i+1. */
export const SQLITE_MIGRATIONS: readonly string[] = [
  `CREATE TABLE auth_keys (
     auth_key_id   INTEGER PRIMARY KEY,      -- signed int64
     body          BLOB    NOT NULL,         -- the 256-byte key
     auth_key_type INTEGER NOT NULL,         -- 0 perm, 1 temp, 2 media temp (Teamgram's values)
     expires_at    INTEGER,                  -- unix seconds; NULL for permanent keys
     created_at    INTEGER NOT NULL,         -- unix seconds
     deleted       INTEGER NOT NULL DEFAULT 0
   ) WITHOUT ROWID;
   CREATE INDEX auth_keys_expiry ON auth_keys(expires_at) WHERE expires_at IS NOT NULL AND deleted = 0;
   CREATE TABLE auth_key_bindings (
     temp_auth_key_id INTEGER PRIMARY KEY,
     perm_auth_key_id INTEGER NOT NULL,
     auth_key_type    INTEGER NOT NULL,
     expires_at       INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX auth_key_bindings_perm ON auth_key_bindings(perm_auth_key_id);
   CREATE TABLE server_salts (
     auth_key_id INTEGER NOT NULL,
     salt        INTEGER NOT NULL,
     valid_since INTEGER NOT NULL,
     valid_until INTEGER NOT NULL,
     PRIMARY KEY (auth_key_id, salt)
   ) WITHOUT ROWID;`,
  // 1 → 2: what the session layer keeps per permanent key (AuthKeyState).
  `CREATE TABLE auth_key_states (
     auth_key_id INTEGER PRIMARY KEY,        -- signed int64
     user_id     INTEGER,                    -- signed int64; NULL: no user bound
     layer       INTEGER,                    -- last invokeWithLayer layer; NULL: none
     client      TEXT,                       -- initConnection data (JSON, opaque); NULL: none
     updated_at  INTEGER NOT NULL            -- unix seconds
   ) WITHOUT ROWID;`,
]

/**
 * Creates schema_version if needed and applies the missing migrations, each in its own IMMEDIATE
 * transaction (write lock first, then re-read the version), so two processes opening one file never
 * apply a migration twice.
 */
export function migrateSqlite(db: Database): { from: number; to: number } {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)')
  const read = (): number => {
    const row = db.prepare('SELECT max(version) AS v FROM schema_version').get() as { v: number | bigint | null }
    return row.v === null ? 0 : Number(row.v)
  }
  const from = read()
  for (;;) {
    const done = db
      .transaction((): boolean => {
        const cur = read()
        if (cur > SQLITE_MIGRATIONS.length)
          throw new StoreError('internal', `sqlite schema version ${cur} is newer than this build (${SQLITE_MIGRATIONS.length})`)
        if (cur === SQLITE_MIGRATIONS.length) return true
        db.exec(SQLITE_MIGRATIONS[cur] as string)
        db.prepare('DELETE FROM schema_version').run()
        db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(cur + 1)
        return false
      })
      .immediate()
    if (done) break
  }
  return { from, to: read() }
}
