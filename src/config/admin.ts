/**
 * The `admin:` section of the YAML config: the HTTP port serving /metrics (Prometheus), /healthz
 * and /readyz, on `mtgate serve` and on every cluster node. On by default, on loopback.
 *
 *   admin:
 *     host: 127.0.0.1      # default 127.0.0.1 (loopback: put a scraper on the same host, or widen)
 *     port: 9464           # default 9464; 0 asks the OS for a free port
 *   admin: off             # (or null) no admin port
 *
 * Env: MTGATE_ADMIN_PORT (a port, or off).
 */
import { isIP } from 'node:net'
import { ConfigError, checkKeys, int, mapping, str, type Env } from './load.js'

export interface AdminSettings {
  host: string
  port: number
}

export const ADMIN_DEFAULTS: Readonly<AdminSettings> = { host: '127.0.0.1', port: 9464 }

/** The admin settings of the `admin` value (with MTGATE_ADMIN_PORT applied); null when off. */
export function parseAdmin(v: unknown, env: Env): AdminSettings | null {
  const envPort = env.MTGATE_ADMIN_PORT?.trim()
  if (envPort === 'off' || envPort === '') return null
  if (v === null || v === false || v === 'off') {
    if (envPort === undefined) return null
    v = undefined
  }
  const raw = mapping(v, 'admin')
  checkKeys(raw, ['host', 'port'], 'admin.')
  const host = str(raw.host, 'admin.host', ADMIN_DEFAULTS.host)
  if (isIP(host) === 0) throw new ConfigError('admin.host', `not an IP address: ${host}`)
  let port = int(raw.port, 'admin.port', ADMIN_DEFAULTS.port, 0, 65535)
  if (envPort !== undefined) {
    if (!/^\d+$/.test(envPort) || Number(envPort) > 65535) throw new ConfigError('MTGATE_ADMIN_PORT', `not a port: ${JSON.stringify(envPort)}`)
    port = Number(envPort)
  }
  return { host, port }
}
