/**
 * The web-facing sections of the YAML config: MTProto over HTTP and TLS for the web listeners.
 *
 *   http:                          # POST /api (and /apiw1 ...) on ws_port; default on
 *     enabled: true
 *     port: 8080                   # also on a port of its own (HTTP only); default none (off)
 *     cors_origin: '*'             # Access-Control-Allow-Origin for browser clients
 *     max_wait_ms: 60000           # longest a long poll is held, whatever http_wait asks
 *   tls:                           # ws_port and http.port serve wss:// and https:// (SIGHUP reloads)
 *     cert: /etc/mtgate/cert.pem
 *     key: /etc/mtgate/key.pem
 *
 * Env: MTGATE_HTTP (on | off), MTGATE_HTTP_PORT (a port, or off), MTGATE_TLS_CERT, MTGATE_TLS_KEY.
 */
import { resolve } from 'node:path'
import { ConfigError, bool, checkKeys, envPort, int, mapping, optionalPort, str, type Env } from './load.js'
import type { HttpSettings, TlsSettings } from './types.js'

export const HTTP_DEFAULTS = { enabled: true, corsOrigin: '*', maxWaitMs: 60_000 } as const

type Raw = Record<string, unknown>

/** Applies the env forms of the http and tls sections to the raw document. */
export function applyWebEnv(raw: Raw, env: Env): void {
  const section = (name: string): Raw => {
    const cur = raw[name]
    const out: Raw = cur !== null && typeof cur === 'object' && !Array.isArray(cur) ? { ...(cur as Raw) } : {}
    raw[name] = out
    return out
  }
  const onOff = (v: string, name: string): boolean => {
    if (v === 'on' || v === 'true' || v === '1') return true
    if (v === 'off' || v === 'false' || v === '0') return false
    throw new ConfigError(name, `expected on or off, got ${JSON.stringify(v)}`)
  }
  const v = (name: string): string | undefined => env[name]?.trim()
  const http = v('MTGATE_HTTP')
  if (http !== undefined) section('http').enabled = onOff(http, 'MTGATE_HTTP')
  const port = v('MTGATE_HTTP_PORT')
  if (port !== undefined) section('http').port = envPort(port, 'MTGATE_HTTP_PORT')
  const cert = v('MTGATE_TLS_CERT')
  if (cert !== undefined) section('tls').cert = cert
  const key = v('MTGATE_TLS_KEY')
  if (key !== undefined) section('tls').key = key
}

export function parseHttp(v: unknown, ports: { tcp: readonly number[]; ws: number | null }): HttpSettings {
  const raw = v === undefined || v === null ? {} : mapping(v, 'http')
  checkKeys(raw, ['enabled', 'port', 'cors_origin', 'max_wait_ms'], 'http.')
  const enabled = bool(raw.enabled, 'http.enabled', HTTP_DEFAULTS.enabled)
  const port = optionalPort(raw.port, 'http.port', null)
  if (port !== null && port !== 0 && (ports.tcp.includes(port) || port === ports.ws)) throw new ConfigError('http.port', `${port} is already a TCP or WebSocket port`)
  if (port !== null && !enabled) throw new ConfigError('http.port', 'set while http.enabled is false')
  const corsOrigin = str(raw.cors_origin, 'http.cors_origin', HTTP_DEFAULTS.corsOrigin)
  const maxWaitMs = int(raw.max_wait_ms, 'http.max_wait_ms', HTTP_DEFAULTS.maxWaitMs, 1000, 3_600_000)
  return { enabled, port, corsOrigin, maxWaitMs }
}

export function parseTls(v: unknown, cwd: string): TlsSettings | null {
  if (v === undefined || v === null) return null
  const raw = mapping(v, 'tls')
  checkKeys(raw, ['cert', 'key'], 'tls.')
  if (raw.cert === undefined) throw new ConfigError('tls.cert', 'required (a PEM certificate file)')
  if (raw.key === undefined) throw new ConfigError('tls.key', 'required (a PEM private key file)')
  // read when the listeners start (and on SIGHUP): a missing or bad file fails the start
  return { cert: resolve(cwd, str(raw.cert, 'tls.cert', '')), key: resolve(cwd, str(raw.key, 'tls.key', '')) }
}
