/**
 * MySQL/MariaDB schema. `auth_keys` and `auth_key_infos` have exactly Teamgram's columns
 * (teamgramd/deploy/sql/1_teamgram.sql) so an existing Teamgram database is used unchanged:
 * CREATE TABLE IF NOT EXISTS leaves its tables alone. What Teamgram keeps only in Redis or not at all
 * (temp-key expiry, binding expiry, server salts, the session layer's per-key state) lives in our own
 * `mtgate_*` tables.
 */
import type { PoolConnection } from 'mysql2/promise'
import { TEAMGRAM_AUTH_TABLES } from './teamgram-auth.js'
import { StoreError } from './types.js'

export const MYSQL_MIGRATIONS: readonly (readonly string[])[] = [
  [
    // Teamgram's DDL (columns, types, defaults and keys as in its dump).
    `CREATE TABLE IF NOT EXISTS \`auth_keys\` (
       \`id\` bigint(20) NOT NULL AUTO_INCREMENT,
       \`auth_key_id\` bigint(20) NOT NULL,
       \`body\` varchar(512) NOT NULL,
       \`deleted\` tinyint(1) NOT NULL DEFAULT '0',
       \`created_at\` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
       PRIMARY KEY (\`id\`),
       UNIQUE KEY \`auth_key_id\` (\`auth_key_id\`)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    `CREATE TABLE IF NOT EXISTS \`auth_key_infos\` (
       \`id\` bigint(20) NOT NULL,
       \`auth_key_id\` bigint(20) NOT NULL,
       \`auth_key_type\` int(11) NOT NULL,
       \`perm_auth_key_id\` bigint(20) NOT NULL DEFAULT '0',
       \`temp_auth_key_id\` bigint(20) NOT NULL DEFAULT '0',
       \`media_temp_auth_key_id\` bigint(20) NOT NULL DEFAULT '0',
       \`deleted\` tinyint(1) NOT NULL DEFAULT '0',
       \`created_at\` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
       \`updated_at\` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
       PRIMARY KEY (\`id\`),
       UNIQUE KEY \`auth_key_id\` (\`auth_key_id\`)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
    // Ours.
    `CREATE TABLE IF NOT EXISTS \`mtgate_auth_key_expiry\` (
       \`auth_key_id\` bigint(20) NOT NULL,
       \`expires_at\` bigint(20) NOT NULL,
       PRIMARY KEY (\`auth_key_id\`),
       KEY \`expires_at\` (\`expires_at\`)
     ) ENGINE=InnoDB`,
    `CREATE TABLE IF NOT EXISTS \`mtgate_auth_key_bindings\` (
       \`temp_auth_key_id\` bigint(20) NOT NULL,
       \`perm_auth_key_id\` bigint(20) NOT NULL,
       \`auth_key_type\` int(11) NOT NULL,
       \`expires_at\` bigint(20) NOT NULL,
       PRIMARY KEY (\`temp_auth_key_id\`),
       KEY \`perm_auth_key_id\` (\`perm_auth_key_id\`)
     ) ENGINE=InnoDB`,
    `CREATE TABLE IF NOT EXISTS \`mtgate_server_salts\` (
       \`auth_key_id\` bigint(20) NOT NULL,
       \`salt\` bigint(20) NOT NULL,
       \`valid_since\` bigint(20) NOT NULL,
       \`valid_until\` bigint(20) NOT NULL,
       PRIMARY KEY (\`auth_key_id\`, \`salt\`)
     ) ENGINE=InnoDB`,
  ],
  // 1 → 2: what the session layer keeps per permanent key (AuthKeyState); NULL = field absent.
  [
    `CREATE TABLE IF NOT EXISTS \`mtgate_auth_key_states\` (
       \`auth_key_id\` bigint(20) NOT NULL,
       \`user_id\` bigint(20) NULL,
       \`layer\` int(11) NULL,
       \`client\` text NULL,
       \`updated_at\` bigint(20) NOT NULL,
       PRIMARY KEY (\`auth_key_id\`)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  ],
  [
    // Key bodies are unpadded base64, as Teamgram writes and reads them (Go's RawStdEncoding, which
    // rejects '='): bodies written padded become readable by Teamgram. Idempotent.
    "UPDATE `auth_keys` SET `body` = TRIM(TRAILING '=' FROM `body`) WHERE `body` LIKE '%='",
  ],
  // Teamgram's key → user binding and client tables (left alone when Teamgram made them).
  TEAMGRAM_AUTH_TABLES,
  [
    // auth_key_infos as Teamgram's authsession writes it: `id` AUTO_INCREMENT (its insert leaves `id`
    // out; migrate-20220721.sql), altered only where it is not; and each key's own id in the column
    // of its type (mtproto.NewAuthKeyInfo; authsession binds a user only to a key whose
    // perm_auth_key_id is set), for rows written without it. Idempotent.
    `SET @mtgate_ddl = IF((SELECT EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()
       AND TABLE_NAME = 'auth_key_infos' AND COLUMN_NAME = 'id') LIKE '%auto_increment%',
       'DO 0', 'ALTER TABLE \`auth_key_infos\` MODIFY \`id\` bigint(20) NOT NULL AUTO_INCREMENT')`,
    'PREPARE mtgate_ddl FROM @mtgate_ddl',
    'EXECUTE mtgate_ddl',
    'DEALLOCATE PREPARE mtgate_ddl',
    'UPDATE `auth_key_infos` SET `perm_auth_key_id` = `auth_key_id` WHERE `auth_key_type` = 0 AND `perm_auth_key_id` = 0',
    'UPDATE `auth_key_infos` SET `temp_auth_key_id` = `auth_key_id` WHERE `auth_key_type` = 1 AND `temp_auth_key_id` = 0',
    'UPDATE `auth_key_infos` SET `media_temp_auth_key_id` = `auth_key_id` WHERE `auth_key_type` = 2 AND `media_temp_auth_key_id` = 0',
  ],
]

/**
 * Applies the missing migrations under a named lock (two gateways starting together migrate once).
 * Refuses a database whose `auth_keys.auth_key_id` is not unique: collisions would go undetected.
 */
export async function migrateMysql(conn: PoolConnection, timeoutMs: number): Promise<{ from: number; to: number }> {
  const q = async <T>(sql: string, values: unknown[] = []): Promise<T> =>
    (await conn.query({ sql, values, timeout: timeoutMs }))[0] as T
  const [lock] = await q<{ l: number | null }[]>("SELECT GET_LOCK('mtgate_schema_migration', ?) AS l", [
    Math.ceil(timeoutMs / 1000),
  ])
  if (!lock || lock.l !== 1) throw new StoreError('unavailable', 'mysql: could not take the migration lock')
  try {
    await q('CREATE TABLE IF NOT EXISTS `mtgate_schema_version` (`version` int NOT NULL) ENGINE=InnoDB')
    const read = async (): Promise<number> => {
      const rows = await q<{ v: number | null }[]>('SELECT MAX(`version`) AS v FROM `mtgate_schema_version`')
      return rows[0]?.v ?? 0
    }
    const from = await read()
    if (from > MYSQL_MIGRATIONS.length)
      throw new StoreError('internal', `mysql schema version ${from} is newer than this build (${MYSQL_MIGRATIONS.length})`)
    for (let v = from; v < MYSQL_MIGRATIONS.length; v++) {
      // DDL commits implicitly in MySQL: each statement is idempotent (IF NOT EXISTS) instead.
      for (const sql of MYSQL_MIGRATIONS[v] as readonly string[]) await q(sql)
      await q('DELETE FROM `mtgate_schema_version`')
      await q('INSERT INTO `mtgate_schema_version` (`version`) VALUES (?)', [v + 1])
    }
    const unique = await q<{ n: number }[]>(
      `SELECT COUNT(*) AS n FROM information_schema.STATISTICS
        WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'auth_keys' AND COLUMN_NAME = 'auth_key_id'
          AND NON_UNIQUE = 0 AND SEQ_IN_INDEX = 1`,
    )
    if (!unique[0] || Number(unique[0].n) < 1)
      throw new StoreError('internal', 'mysql: auth_keys.auth_key_id has no unique index (Teamgram DDL expected)')
    return { from, to: await read() }
  } finally {
    await q("SELECT RELEASE_LOCK('mtgate_schema_migration')").catch(() => undefined)
  }
}
