/**
 * The `admin:` section of the YAML config: the HTTP port serving /metrics (Prometheus), /healthz,
 * /readyz and the status page (/), on `mtgate serve` and on every cluster node. On by default, on
 * loopback.
 *
 *   admin:
 *     host: 127.0.0.1      # default 127.0.0.1 (loopback: put a scraper on the same host, or widen)
 *     port: 9464           # default 9464; 0 asks the OS for a free port
 *   admin: off             # (or null) no admin port
 *
 * Env: MTGATE_ADMIN_PORT (a port, or off).
 */
import { isIP } from 'node:net'
import { ConfigError, checkKeys, envPort, int, mapping, str, type Env } from './load.js'

export interface AdminSettings {
  host: string
  port: number
}

export const ADMIN_DEFAULTS: Readonly<AdminSettings> = { host: '127.0.0.1', port: 9464 }

/** The admin settings of the `admin` value (with MTGATE_ADMIN_PORT applied); null when off. */
export function parseAdmin(v: unknown, env: Env): AdminSettings | null {
  const raw = env.MTGATE_ADMIN_PORT?.trim()
  const fromEnv = raw === undefined ? undefined : envPort(raw, 'MTGATE_ADMIN_PORT')
  if (fromEnv === null) return null
  if (v === null || v === false || v === 'off') {
    if (fromEnv === undefined) return null
    v = undefined
  }
  const doc = mapping(v, 'admin')
  checkKeys(doc, ['host', 'port'], 'admin.')
  const host = str(doc.host, 'admin.host', ADMIN_DEFAULTS.host)
  if (isIP(host) === 0) throw new ConfigError('admin.host', `not an IP address: ${host}`)
  const port = int(doc.port, 'admin.port', ADMIN_DEFAULTS.port, 0, 65535)
  return { host, port: fromEnv ?? port }
}
