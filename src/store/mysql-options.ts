/** The `store.mysql` options: their names, defaults and validation (for the config and the store). */
import { StoreError, type MysqlStoreOptions } from './types.js'

/** The options store.mysql takes (camelCase, as MysqlStoreOptions names them). */
export const MYSQL_OPTION_KEYS = ['host', 'socketPath', 'user', 'password', 'database', 'port', 'connectionLimit', 'opTimeoutMs', 'ssl'] as const

/** The database when the options name none. */
export const MYSQL_DEFAULT_DATABASE = 'mtgate'

/** Validates the loosely typed options a config file passes (StoreError('invalid') on a bad field). */
export function parseMysqlOptions(raw: Record<string, unknown> | MysqlStoreOptions | undefined): MysqlStoreOptions {
  const r = (raw ?? {}) as Record<string, unknown>
  const out: MysqlStoreOptions = {}
  const str = (k: keyof MysqlStoreOptions): void => {
    const v = r[k]
    if (v === undefined) return
    if (typeof v !== 'string') throw new StoreError('invalid', `mysql.${k} must be a string`)
    ;(out as Record<string, unknown>)[k] = v
  }
  const int = (k: keyof MysqlStoreOptions, min: number, max: number): void => {
    const v = r[k]
    if (v === undefined) return
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      throw new StoreError('invalid', `mysql.${k} must be an integer in [${min}, ${max}]`)
    ;(out as Record<string, unknown>)[k] = v
  }
  str('host')
  str('socketPath')
  str('user')
  str('password')
  str('database')
  int('port', 1, 65535)
  int('connectionLimit', 1, 1000)
  int('opTimeoutMs', 50, 600_000)
  for (const k of Object.keys(r)) if (!(MYSQL_OPTION_KEYS as readonly string[]).includes(k)) throw new StoreError('invalid', `mysql.${k}: unknown option`)
  const ssl = r.ssl
  if (ssl !== undefined) {
    if (typeof ssl === 'boolean') out.ssl = ssl
    else if (typeof ssl === 'object' && ssl !== null) {
      const s = ssl as Record<string, unknown>
      const o: { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean } = {}
      for (const k of ['ca', 'cert', 'key'] as const) {
        if (s[k] === undefined) continue
        if (typeof s[k] !== 'string') throw new StoreError('invalid', `mysql.ssl.${k} must be a PEM string`)
        o[k] = s[k] as string
      }
      if (s.rejectUnauthorized !== undefined) {
        if (typeof s.rejectUnauthorized !== 'boolean')
          throw new StoreError('invalid', 'mysql.ssl.rejectUnauthorized must be a boolean')
        o.rejectUnauthorized = s.rejectUnauthorized
      }
      out.ssl = o
    } else throw new StoreError('invalid', 'mysql.ssl must be a boolean or an object')
  }
  out.database ??= MYSQL_DEFAULT_DATABASE
  return out
}
