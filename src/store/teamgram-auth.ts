/**
 * The per-key data Teamgram keeps in its own tables, read and written the way its authsession does
 * (app/service/authsession/internal/dal/tables/{auths,auth_users}.xml), so that a key bound to a
 * user under one server is bound under the other:
 *
 * - `auth_users` (auth_key_id = the permanent key, user_id, hash, date_created, date_active,
 *   deleted): the key → user binding. An active row (deleted = 0) is the binding; signing out sets
 *   deleted = 1 and date_active = 0 (Teamgram's `Delete`). A new binding gets a random positive
 *   63-bit `hash` (the authorization's hash in account.getAuthorizations), as Teamgram's
 *   BindAuthKeyUser makes it.
 * - `auths` (auth_key_id, layer and the initConnection fields): Teamgram reads the binding only
 *   together with this row (GetCacheAuthData), so it is written whenever the layer or the client
 *   data is known.
 *
 * The initConnection data arrives as the session layer's JSON text (AuthKeyState.client); the
 * fields Teamgram has columns for are taken from it by name.
 */
import { randomBytes } from 'node:crypto'
import type { PoolConnection } from 'mysql2/promise'
import type { AuthKeyState } from './types.js'

/** The store's query on a connection it holds (its per-query timeout applied). */
export type MysqlQuery = <T = Record<string, unknown>[]>(c: PoolConnection, sql: string, values?: unknown[]) => Promise<T>

/** Teamgram's DDL for the two tables, as its dump and migrations leave them (used when absent). */
export const TEAMGRAM_AUTH_TABLES = [
  `CREATE TABLE IF NOT EXISTS \`auths\` (
     \`id\` bigint(20) NOT NULL AUTO_INCREMENT,
     \`auth_key_id\` bigint(20) NOT NULL,
     \`layer\` int(11) NOT NULL DEFAULT '0',
     \`api_id\` int(11) NOT NULL,
     \`device_model\` varchar(255) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
     \`system_version\` varchar(255) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
     \`app_version\` varchar(255) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
     \`system_lang_code\` varchar(255) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
     \`lang_pack\` varchar(255) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
     \`lang_code\` varchar(255) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
     \`system_code\` varchar(256) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
     \`proxy\` varchar(512) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
     \`params\` json NOT NULL,
     \`client_ip\` varchar(32) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
     \`date_active\` bigint(20) NOT NULL DEFAULT '0',
     \`deleted\` tinyint(1) NOT NULL DEFAULT '0',
     \`created_at\` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
     \`updated_at\` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
     PRIMARY KEY (\`id\`),
     UNIQUE KEY \`auth_key_id\` (\`auth_key_id\`)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
  `CREATE TABLE IF NOT EXISTS \`auth_users\` (
     \`id\` bigint(20) NOT NULL AUTO_INCREMENT,
     \`auth_key_id\` bigint(20) NOT NULL,
     \`user_id\` bigint(20) NOT NULL DEFAULT '0',
     \`hash\` bigint(20) NOT NULL DEFAULT '0',
     \`date_created\` bigint(20) NOT NULL DEFAULT '0',
     \`date_active\` bigint(20) NOT NULL DEFAULT '0',
     \`state\` int(11) NOT NULL DEFAULT '0',
     \`android_push_session_id\` bigint(20) NOT NULL DEFAULT '0',
     \`deleted\` tinyint(1) NOT NULL DEFAULT '0',
     \`created_at\` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
     \`updated_at\` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
     PRIMARY KEY (\`id\`),
     UNIQUE KEY \`auth_key_id\` (\`auth_key_id\`,\`user_id\`),
     KEY \`auth_key_id_2\` (\`auth_key_id\`,\`user_id\`,\`deleted\`)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
  // Bindings an mtgate kept only in its own table become Teamgram bindings.
  `INSERT IGNORE INTO \`auth_users\` (\`auth_key_id\`, \`user_id\`, \`hash\`, \`date_created\`, \`date_active\`)
   SELECT \`auth_key_id\`, \`user_id\`, FLOOR(1 + RAND() * 9223372036854775806), \`updated_at\`, \`updated_at\`
     FROM \`mtgate_auth_key_states\` WHERE \`user_id\` IS NOT NULL AND \`user_id\` <> 0`,
]

/** A random positive int64, as Go's rand.Int63() (never 0: 0 means "the current session" to clients). */
function newHash(): string {
  const v = randomBytes(8).readBigUInt64BE() & 0x7fffffffffffffffn
  return (v === 0n ? 1n : v).toString()
}

/** A string field cut to its column's length (Teamgram's columns are varchar(255), proxy 512). */
const str = (v: unknown, max = 255): string => (typeof v === 'string' ? v.slice(0, max) : '')

/** The `auths` columns the client's initConnection fills, in the order authsColumns gives their values. */
const AUTHS_CLIENT_COLUMNS = ['api_id', 'device_model', 'system_version', 'app_version', 'system_lang_code', 'lang_pack', 'lang_code', 'proxy', 'params']

/** The `auths` columns from the client JSON text (missing fields: Teamgram's defaults). */
function authsColumns(client: string | undefined): { apiId: number; cols: string[]; proxy: string; params: string } {
  let o: Record<string, unknown> = {}
  if (client !== undefined) {
    try {
      const v = JSON.parse(client) as unknown
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) o = v as Record<string, unknown>
    } catch {
      // opaque text: no columns from it
    }
  }
  const p = o.proxy as { address?: unknown; port?: unknown } | undefined
  return {
    apiId: typeof o.apiId === 'number' ? o.apiId : 0,
    cols: [str(o.deviceModel), str(o.systemVersion), str(o.appVersion), str(o.systemLangCode), str(o.langPack), str(o.langCode)],
    proxy: p && typeof p.address === 'string' ? str(`${p.address}:${String(p.port)}`, 512) : '',
    params: JSON.stringify(o.params ?? null),
  }
}

/** Writes the key's binding and client row into Teamgram's tables (inside the caller's transaction). */
export async function saveTeamgramAuth(query: MysqlQuery, c: PoolConnection, id: string, state: AuthKeyState, now: number): Promise<void> {
  if (state.layer !== undefined || state.client !== undefined) {
    const a = authsColumns(state.client)
    // Teamgram's InsertOrUpdate (client fields, when known) and InsertOrUpdateLayer in one;
    // client_ip is the gateway's to fill
    const clientUpdate = state.client === undefined ? '' : AUTHS_CLIENT_COLUMNS.map((col) => `${col} = VALUES(${col}), `).join('')
    await query(
      c,
      `INSERT INTO auths (auth_key_id, layer, ${AUTHS_CLIENT_COLUMNS.join(', ')}, client_ip, date_active)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?)
       ON DUPLICATE KEY UPDATE layer = IF(VALUES(layer) = 0, layer, VALUES(layer)), ${clientUpdate}date_active = VALUES(date_active), deleted = 0`,
      [id, state.layer ?? 0, a.apiId, ...a.cols, a.proxy, a.params, now],
    )
  }
  if (state.userId !== undefined && state.userId !== 0n) {
    const user = state.userId.toString()
    // one user per key: another user's active row is signed out, as when Teamgram rebinds
    await query(c, 'UPDATE auth_users SET deleted = 1, date_active = 0 WHERE auth_key_id = ? AND user_id <> ? AND deleted = 0', [id, user])
    await query(
      c,
      `INSERT INTO auth_users (auth_key_id, user_id, hash, date_created, date_active) VALUES (?, ?, ?, ?, ?)
       ON DUPLICATE KEY UPDATE hash = IF(deleted = 1, VALUES(hash), hash), date_created = IF(deleted = 1, VALUES(date_created), date_created),
         date_active = IF(deleted = 1, VALUES(date_active), date_active), deleted = 0`,
      [id, user, newHash(), now, now],
    )
  } else {
    await query(c, 'UPDATE auth_users SET deleted = 1, date_active = 0 WHERE auth_key_id = ? AND deleted = 0', [id])
  }
}

/**
 * One key's state from our row and Teamgram's, in one round trip: its bound user (Teamgram's active
 * `auth_users` row: what both servers write, and what Teamgram's sign-out clears), our layer and
 * client text, and Teamgram's layer for a key only Teamgram has served. Parameter: the key id, once.
 */
export const LOAD_STATE_SQL = `SELECT s.user_id, s.layer, s.client, s.auth_key_id IS NOT NULL AS ours,
    (SELECT u.user_id FROM auth_users u WHERE u.auth_key_id = x.id AND u.deleted = 0 ORDER BY u.date_active DESC, u.id DESC LIMIT 1) AS tg_user_id,
    (SELECT a.layer FROM auths a WHERE a.auth_key_id = x.id AND a.deleted = 0 LIMIT 1) AS tg_layer
  FROM (SELECT CAST(? AS SIGNED) AS id) x LEFT JOIN mtgate_auth_key_states s ON s.auth_key_id = x.id`

/**
 * The AuthKeyState of a LOAD_STATE_SQL row; undefined when neither server knows anything of the key.
 * The user is Teamgram's active binding; without one, a user of ours is signed out (Teamgram's
 * sign-out cleared it) and only our explicit "no user" (0) stays.
 */
export function stateOfRow(row: Record<string, unknown>): AuthKeyState | undefined {
  const ours = Number(row.ours) === 1
  const s: AuthKeyState = {}
  const tgUser = row.tg_user_id === null || row.tg_user_id === undefined ? 0n : BigInt(String(row.tg_user_id))
  if (tgUser !== 0n) s.userId = tgUser
  else if (row.user_id !== null && row.user_id !== undefined && BigInt(String(row.user_id)) === 0n) s.userId = 0n
  if (ours) {
    if (row.layer !== null && row.layer !== undefined) s.layer = Number(row.layer)
    if (row.client !== null && row.client !== undefined) s.client = String(row.client)
  } else if (Number(row.tg_layer ?? 0) > 0) s.layer = Number(row.tg_layer)
  return ours || s.userId !== undefined || s.layer !== undefined ? s : undefined
}
