/**
 * Destroying one key in the MySQL store, inside the caller's transaction: its `auth_keys` and
 * `auth_key_infos` rows are marked deleted, Teamgram's links to and from it are cleared in both
 * directions, its bindings, salts and state in our `mtgate_*` tables are deleted, and its
 * Teamgram `auth_users` and `auths` rows are signed out.
 */
import type { PoolConnection } from 'mysql2/promise'
import type { MysqlQuery } from './teamgram-auth.js'

/** Returns whether the key existed (an `auth_keys` row not yet deleted). */
export async function destroyKeyRows(query: MysqlQuery, c: PoolConnection, id: string): Promise<boolean> {
  const res = await query<{ affectedRows: number }>(
    c,
    'UPDATE auth_keys SET deleted = 1 WHERE auth_key_id = ? AND deleted = 0',
    [id],
  )
  const info = (
    await query(
      c,
      'SELECT perm_auth_key_id, temp_auth_key_id, media_temp_auth_key_id FROM auth_key_infos WHERE auth_key_id = ? FOR UPDATE',
      [id],
    )
  )[0]
  await query(c, 'UPDATE auth_key_infos SET deleted = 1 WHERE auth_key_id = ?', [id])
  // Unlink both directions in Teamgram's columns (temps of a perm key; the perm key of a temp key).
  const temps = new Set<string>(
    (
      await query(c, 'SELECT temp_auth_key_id FROM mtgate_auth_key_bindings WHERE perm_auth_key_id = ?', [id])
    ).map((r) => String(r.temp_auth_key_id)),
  )
  if (info) {
    for (const k of ['temp_auth_key_id', 'media_temp_auth_key_id']) if (String(info[k]) !== '0') temps.add(String(info[k]))
    const perm = String(info.perm_auth_key_id)
    if (perm !== '0')
      await query(
        c,
        `UPDATE auth_key_infos SET temp_auth_key_id = IF(temp_auth_key_id = ?, 0, temp_auth_key_id),
           media_temp_auth_key_id = IF(media_temp_auth_key_id = ?, 0, media_temp_auth_key_id) WHERE auth_key_id = ?`,
        [id, id, perm],
      )
  }
  if (temps.size > 0)
    await query(
      c,
      `UPDATE auth_key_infos SET perm_auth_key_id = 0 WHERE perm_auth_key_id = ? AND auth_key_id IN (${[...temps]
        .map(() => '?')
        .join(',')})`,
      [id, ...temps],
    )
  await query(c, 'DELETE FROM mtgate_auth_key_bindings WHERE temp_auth_key_id = ? OR perm_auth_key_id = ?', [id, id])
  await query(c, 'DELETE FROM mtgate_server_salts WHERE auth_key_id = ?', [id])
  await query(c, 'DELETE FROM mtgate_auth_key_states WHERE auth_key_id = ?', [id])
  await query(c, 'UPDATE auth_users SET deleted = 1, date_active = 0 WHERE auth_key_id = ? AND deleted = 0', [id])
  await query(c, 'UPDATE auths SET deleted = 1 WHERE auth_key_id = ?', [id])
  return res.affectedRows > 0
}
