import { readFileSync } from 'node:fs'
import { resolve, join } from 'node:path'
import { isIP } from 'node:net'
import { parse as parseYaml } from 'yaml'
import { DEFAULTS, DEFAULT_LIMITS, DEFAULT_TELEGRAM_CONFIG } from './defaults.js'
import { TrustedProxies } from '../transport/proxy-protocol.js'
import { parseBackendApi, parseTeamgram, parseUpstreams } from './upstream.js'
import { applyWebEnv, parseHttp, parseTls } from './web.js'
import { parseMtproxy } from './mtproxy.js'
import { applyStoreEnv, normalizeStore, parseStore } from './store.js'
import { applyLogEnv, parseLog } from './log.js'
import type { PublicAddress, ServerConfig, ServerLimits, TelegramConfigValues } from './types.js'
import { parseAdmin } from './admin.js'
import { applyTracingEnv, parseTracing } from './tracing.js'

/** A bad config file, value or environment variable; `path` names the offending key. */
export class ConfigError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`config: ${path}: ${reason}`)
    this.name = 'ConfigError'
  }
}

/** Every error of one document (two or more; one alone is thrown as itself); the message has one line each. */
export class ConfigErrors extends ConfigError {
  constructor(readonly errors: readonly ConfigError[]) {
    super(errors[0]!.path, errors[0]!.reason)
    this.message = errors.map((e) => e.message).join('\n')
    this.name = 'ConfigErrors'
  }
}

/** The single errors a ConfigError stands for. */
export function configErrorList(e: ConfigError): readonly ConfigError[] {
  return e instanceof ConfigErrors ? e.errors : [e]
}

/** Gathers the ConfigErrors of one document so all are reported together. */
export class Collector {
  readonly errors: ConfigError[] = []

  /** fn's value, or `fallback` after recording the ConfigError it threw. */
  take<T>(fn: () => T, fallback: T): T {
    try {
      return fn()
    } catch (e) {
      this.add(e)
      return fallback
    }
  }

  add(e: unknown): void {
    if (!(e instanceof ConfigError)) throw e
    this.errors.push(...configErrorList(e))
  }

  /** Throws what was gathered: the one ConfigError, or a ConfigErrors. */
  check(): void {
    if (this.errors.length === 1) throw this.errors[0]!
    if (this.errors.length > 1) throw new ConfigErrors(this.errors)
  }
}

export type Env = Record<string, string | undefined>

export interface LoadOptions {
  /** YAML file; absent = defaults + env only. */
  file?: string
  /** Defaults to process.env. */
  env?: Env
  /** Relative paths (data_dir, sqlite_path) resolve against this; default process.cwd(). */
  cwd?: string
}

/** Reads the YAML file (if any), applies env overrides and defaults, validates. Throws ConfigError. */
export function loadConfig(opts: LoadOptions = {}): ServerConfig {
  const raw = opts.file === undefined ? {} : readConfigFile(opts.file)
  return parseConfig(raw, opts.env ?? process.env, opts.cwd ?? process.cwd())
}

/** The parsed YAML document of a config file ({} when empty). Throws ConfigError. */
export function readConfigFile(file: string): unknown {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new ConfigError(file, `cannot read: ${(e as Error).message}`)
  }
  try {
    return parseYaml(text) ?? {}
  } catch (e) {
    throw new ConfigError(file, `invalid YAML: ${(e as Error).message}`)
  }
}

type Raw = Record<string, unknown>

const TOP_KEYS = [
  'dc_id', 'dc_ids', 'host', 'tcp_ports', 'ws_port', 'ws_path', 'data_dir', 'store', 'api_ids',
  'public_addresses', 'unknown_method_error', 'telegram', 'limits', 'proxy_protocol',
  'upstreams', 'routes', 'unrouted', 'backend_api', 'teamgram', 'http', 'tls', 'mtproxy', 'log', 'admin', 'tracing',
  // read by loadClusterConfig (src/config/cluster.ts) for `mtgate gateway` / `mtgate session`
  'cluster',
] as const

/** Raw paths (dotted snake_case keys) the environment set, each with its variable. */
export type EnvSources = Map<string, string>

/** Env forms the sections read themselves (web.ts, mtproxy.ts), by the raw path each sets. */
const SECTION_ENV: readonly [string, string][] = [
  ['MTGATE_HTTP', 'http.enabled'],
  ['MTGATE_HTTP_PORT', 'http.port'],
  ['MTGATE_TLS_CERT', 'tls.cert'],
  ['MTGATE_TLS_KEY', 'tls.key'],
  ['MTGATE_MTPROXY_SECRETS', 'mtproxy.secrets'],
  ['MTGATE_MTPROXY_PLAIN_OBFUSCATED', 'mtproxy.plain_obfuscated'],
  ['MTGATE_TEAMGRAM_SESSION_SERVICE', 'teamgram.session_service'],
]

/**
 * Validates a parsed YAML document (plus env overrides) into a ServerConfig. Throws ConfigError,
 * or ConfigErrors with every error of the document.
 */
export function parseConfig(input: unknown, env: Env = {}, cwd: string = process.cwd()): ServerConfig {
  return parseConfigSources(input, env, cwd).config
}

/** parseConfig, plus which raw paths the environment set. */
export function parseConfigSources(input: unknown, env: Env, cwd: string): { config: ServerConfig; envSources: EnvSources } {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigError('(root)', 'must be a mapping')
  }
  const errors = new Collector()
  const envSources: EnvSources = new Map()
  const note = (name: string, path: string): void => void envSources.set(path, name)
  const raw: Raw = { ...(input as Raw) }
  errors.take(() => checkKeys(raw, TOP_KEYS, ''), undefined)
  applyEnv(raw, env, errors, note)
  errors.take(() => applyWebEnv(raw, env), undefined)
  for (const [name, path] of SECTION_ENV) if (env[name] !== undefined) note(name, path)

  const { dcId, dcIds } = errors.take(() => parseDcs(raw.dc_id, raw.dc_ids), { dcId: DEFAULTS.dcId, dcIds: [...DEFAULTS.dcIds] })
  const host = errors.take(() => {
    const h = str(raw.host, 'host', DEFAULTS.host)
    if (isIP(h) === 0) throw new ConfigError('host', `not an IP address: ${h}`)
    return h
  }, DEFAULTS.host)
  const tcpPorts = errors.take(() => portList(raw.tcp_ports, 'tcp_ports', [...DEFAULTS.tcpPorts]), [...DEFAULTS.tcpPorts])
  const wsPort = errors.take(() => optionalPort(raw.ws_port, 'ws_port', DEFAULTS.wsPort), null)
  errors.take(() => {
    if (wsPort !== null && wsPort !== 0 && tcpPorts.includes(wsPort)) throw new ConfigError('ws_port', `${wsPort} is also a TCP port`)
    if (tcpPorts.length === 0 && wsPort === null) throw new ConfigError('tcp_ports', 'no listener: no TCP port and no ws_port')
  }, undefined)
  const wsPath = errors.take(() => {
    const p = str(raw.ws_path, 'ws_path', DEFAULTS.wsPath)
    if (!p.startsWith('/')) throw new ConfigError('ws_path', 'must start with /')
    return p
  }, DEFAULTS.wsPath)
  const dataDir = resolve(cwd, errors.take(() => str(raw.data_dir, 'data_dir', DEFAULTS.dataDir), DEFAULTS.dataDir))
  const store = errors.take(() => parseStore(raw.store, dataDir, cwd, errors), undefined)
  const apiIds = errors.take(() => intList(raw.api_ids, 'api_ids', []), [])
  const publicAddresses = errors.take(() => parseAddresses(raw.public_addresses, dcIds, host, tcpPorts), [])
  const unknownMethodError = errors.take(() => parseErrorSpec(raw.unknown_method_error), { ...DEFAULTS.unknownMethodError })
  const telegram = errors.take(() => parseTelegram(raw.telegram), { ...DEFAULT_TELEGRAM_CONFIG })
  const limits = errors.take(() => parseLimits(raw.limits), { ...DEFAULT_LIMITS })
  const upstream = errors.take(() => parseUpstreams(raw.upstreams, raw.routes, raw.unrouted), undefined)
  const http = errors.take(() => parseHttp(raw.http, { tcp: tcpPorts, ws: wsPort }), undefined)
  const httpPort = http?.port ?? null
  const listenPorts = [...tcpPorts, ...(wsPort === null ? [] : [wsPort]), ...(httpPort === null ? [] : [httpPort])]
  const proxyProtocol = errors.take(() => parseProxyProtocol(raw.proxy_protocol, listenPorts.filter((p) => p !== 0)), { ports: [], trusted: [] })
  const tls = errors.take(() => parseTls(raw.tls, cwd), null)
  const backendApi = errors.take(() => parseBackendApi(raw.backend_api), null)
  const teamgram = errors.take(() => parseTeamgram(raw.teamgram, env), { sessionService: null, statusService: null, etcd: [], sessionKey: 'interface.session' })
  const mtproxy = errors.take(() => parseMtproxy(raw.mtproxy, env, dcIds), undefined)
  const log = errors.take(() => parseLog(raw.log), undefined)
  const admin = errors.take(() => parseAdmin(raw.admin, env), null)
  const tracing = errors.take(() => parseTracing(raw.tracing), undefined)
  errors.check()
  const config: ServerConfig = {
    dcId,
    dcIds,
    host,
    tcpPorts,
    wsPort,
    wsPath,
    dataDir,
    store: store!,
    apiIds,
    publicAddresses,
    unknownMethodError,
    telegram,
    limits,
    proxyProtocol,
    http: http!,
    tls,
    upstream: upstream!,
    backendApi,
    teamgram,
    mtproxy: mtproxy!,
    log: log!,
    admin,
    tracing: tracing!,
  }
  return { config, envSources }
}

/** `ports`: the listeners' fixed ports (TCP, WebSocket, HTTP). */
function parseProxyProtocol(v: unknown, listening: number[]): ServerConfig['proxyProtocol'] {
  if (v === undefined || v === null) return { ports: [], trusted: [] }
  const raw = mapping(v, 'proxy_protocol')
  checkKeys(raw, ['ports', 'trusted'], 'proxy_protocol.')
  const ports = portList(raw.ports, 'proxy_protocol.ports', [])
  for (const p of ports) if (!listening.includes(p)) throw new ConfigError('proxy_protocol.ports', `${p} is not one of tcp_ports, ws_port or http.port`)
  if (!Array.isArray(raw.trusted) || raw.trusted.some((t) => typeof t !== 'string')) throw new ConfigError('proxy_protocol.trusted', 'must be a list of addresses or CIDR blocks')
  const trusted = raw.trusted as string[]
  try {
    new TrustedProxies(trusted)
  } catch (e) {
    throw new ConfigError('proxy_protocol.trusted', (e as Error).message)
  }
  if (ports.length > 0 && trusted.length === 0) throw new ConfigError('proxy_protocol.trusted', 'no trusted proxy for the PROXY protocol ports')
  return { ports, trusted }
}

function applyEnv(raw: Raw, env: Env, errors: Collector, note: (name: string, path: string) => void): void {
  const set = (name: string, path: string, apply: (v: string) => void): void => {
    const v = env[name]
    if (v === undefined) return
    errors.take(() => apply(v.trim()), undefined)
    note(name, path)
  }
  const list = (v: string, name: string): number[] =>
    v === '' ? [] : v.split(',').map((s) => envInt(s.trim(), name))
  set('MTGATE_DC_ID', 'dc_id', (v) => (raw.dc_id = envInt(v, 'MTGATE_DC_ID')))
  set('MTGATE_DC_IDS', 'dc_ids', (v) => (raw.dc_ids = list(v, 'MTGATE_DC_IDS')))
  set('MTGATE_HOST', 'host', (v) => (raw.host = v))
  set('MTGATE_TCP_PORTS', 'tcp_ports', (v) => (raw.tcp_ports = list(v, 'MTGATE_TCP_PORTS')))
  set('MTGATE_WS_PORT', 'ws_port', (v) => (raw.ws_port = envPort(v, 'MTGATE_WS_PORT')))
  set('MTGATE_DATA_DIR', 'data_dir', (v) => (raw.data_dir = v))
  set('MTGATE_API_IDS', 'api_ids', (v) => (raw.api_ids = list(v, 'MTGATE_API_IDS')))
  set('MTGATE_PUBLIC_ADDRESSES', 'public_addresses', (v) => {
    raw.public_addresses = v === '' ? [] : v.split(',').map((item) => {
      const at = item.trim().lastIndexOf(':')
      if (at <= 0) throw new ConfigError('MTGATE_PUBLIC_ADDRESSES', `expected ip:port, got ${item}`)
      const ip = item.trim().slice(0, at).replace(/^\[|\]$/g, '')
      return { ip, port: envInt(item.trim().slice(at + 1), 'MTGATE_PUBLIC_ADDRESSES') }
    })
  })
  if (raw.store !== undefined) raw.store = normalizeStore(raw.store)
  applyStoreEnv(raw, env, errors, note)
  applyLogEnv(raw, env, errors, note)
  applyTracingEnv(raw, env, errors, note)
}

/** An env form of a port a listener may go without: '' or 'off' → null, else a port (0–65535). */
export function envPort(v: string, name: string): number | null {
  if (v === '' || v === 'off') return null
  if (!/^\d+$/.test(v) || Number(v) > 65535) throw new ConfigError(name, `not a port: ${JSON.stringify(v)}`)
  return Number(v)
}

function envInt(v: string, name: string): number {
  if (!/^-?\d+$/.test(v)) throw new ConfigError(name, `not an integer: ${JSON.stringify(v)}`)
  return Number(v)
}

/**
 * dc_ids: the DCs this deployment answers as (default 1–5, plus dc_id). dc_id: the DC of a
 * connection that names none (default 2, or the first of dc_ids when 2 is not one of them).
 */
function parseDcs(rawId: unknown, rawIds: unknown): { dcId: number; dcIds: number[] } {
  const dcInt = (v: unknown, path: string): number => int(v, path, 0, 1, MAX_DC_ID)
  if (rawIds === undefined || rawIds === null) {
    const dcId = rawId === undefined ? DEFAULTS.dcId : dcInt(rawId, 'dc_id')
    const dcIds: number[] = [...DEFAULTS.dcIds]
    if (!dcIds.includes(dcId)) dcIds.push(dcId)
    return { dcId, dcIds }
  }
  if (!Array.isArray(rawIds) || rawIds.length === 0) throw new ConfigError('dc_ids', 'must be a non-empty list of DC ids')
  const dcIds = rawIds.map((v, i) => dcInt(v, `dc_ids[${i}]`))
  if (new Set(dcIds).size !== dcIds.length) throw new ConfigError('dc_ids', 'duplicate DC id')
  if (rawId === undefined) return { dcId: dcIds.includes(DEFAULTS.dcId) ? DEFAULTS.dcId : dcIds[0]!, dcIds }
  const dcId = dcInt(rawId, 'dc_id')
  if (!dcIds.includes(dcId)) throw new ConfigError('dc_id', `${dcId} is not one of dc_ids (${dcIds.join(', ')})`)
  return { dcId, dcIds }
}

/** Largest DC id: test-mode DCs are announced as id + 10000 in an int16. */
const MAX_DC_ID = 1000

/**
 * help.getConfig's dc_options. Default: for every served DC, host (127.0.0.1 for 0.0.0.0) with
 * every TCP port. An entry without dc_id is listed for every served DC; every served DC needs one.
 */
function parseAddresses(v: unknown, dcIds: readonly number[], host: string, tcpPorts: number[]): PublicAddress[] {
  const mk = (ip: string, p: number, id: number): PublicAddress => ({
    ip,
    port: p,
    dcId: id,
    ipv6: isIP(ip) === 6,
    mediaOnly: false,
    tcpoOnly: false,
    static: false,
    thisPortOnly: false,
  })
  if (v === undefined || (Array.isArray(v) && v.length === 0)) {
    const ip = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host
    return dcIds.flatMap((id) => tcpPorts.map((p, i) => ({ ...mk(ip, p, id), listener: i })))
  }
  if (!Array.isArray(v)) throw new ConfigError('public_addresses', 'must be a list')
  const out = v.flatMap((item, i) => {
    const path = `public_addresses[${i}]`
    const raw = mapping(item, path)
    checkKeys(raw, ['ip', 'port', 'dc_id', 'ipv6', 'media_only', 'tcpo_only', 'static', 'this_port_only'], path + '.')
    const ip = str(raw.ip, path + '.ip', '')
    if (isIP(ip) === 0) throw new ConfigError(path + '.ip', `not an IP address: ${ip}`)
    const p = port(raw.port, path + '.port', 0, 1)
    const ids = raw.dc_id === undefined ? dcIds : [int(raw.dc_id, path + '.dc_id', 0, 1, MAX_DC_ID)]
    if (!dcIds.includes(ids[0]!)) throw new ConfigError(path + '.dc_id', `${ids[0]} is not one of dc_ids (${dcIds.join(', ')})`)
    return ids.map((id) => {
      const a = mk(ip, p, id)
      a.ipv6 = bool(raw.ipv6, path + '.ipv6', isIP(ip) === 6)
      a.mediaOnly = bool(raw.media_only, path + '.media_only', false)
      a.tcpoOnly = bool(raw.tcpo_only, path + '.tcpo_only', false)
      a.static = bool(raw.static, path + '.static', false)
      a.thisPortOnly = bool(raw.this_port_only, path + '.this_port_only', false)
      return a
    })
  })
  const bare = dcIds.filter((id) => !out.some((a) => a.dcId === id && !a.mediaOnly))
  if (bare.length > 0) throw new ConfigError('public_addresses', `no address for dc ${bare.join(', ')} (every DC of dc_ids needs one)`)
  return out
}

function parseErrorSpec(v: unknown): { code: number; message: string } {
  const raw = mapping(v, 'unknown_method_error')
  checkKeys(raw, ['code', 'message'], 'unknown_method_error.')
  const code = int(raw.code, 'unknown_method_error.code', DEFAULTS.unknownMethodError.code, 300, 599)
  const message = str(raw.message, 'unknown_method_error.message', DEFAULTS.unknownMethodError.message)
  if (!/^[A-Z0-9_]+$/.test(message)) throw new ConfigError('unknown_method_error.message', 'must match [A-Z0-9_]+')
  return { code, message }
}

const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())

function parseTelegram(v: unknown): TelegramConfigValues {
  const raw = mapping(v, 'telegram')
  const keys = Object.keys(DEFAULT_TELEGRAM_CONFIG).concat('tmpSessions')
  checkKeys(raw, keys.map(snake), 'telegram.')
  const out: TelegramConfigValues = { ...DEFAULT_TELEGRAM_CONFIG }
  const o = out as unknown as Record<string, unknown>
  for (const key of keys) {
    const rv = raw[snake(key)]
    if (rv === undefined) continue
    const path = 'telegram.' + snake(key)
    const def = o[key]
    if (typeof def === 'string') o[key] = str(rv, path, def)
    else if (typeof def === 'boolean') o[key] = bool(rv, path, def)
    else o[key] = int(rv, path, 0, key === 'expiresSeconds' ? 1 : 0, 2147483647)
  }
  return out
}

function parseLimits(v: unknown): ServerLimits {
  const raw = mapping(v, 'limits')
  const keys = Object.keys(DEFAULT_LIMITS) as (keyof ServerLimits)[]
  checkKeys(raw, keys.map(snake), 'limits.')
  const out: ServerLimits = { ...DEFAULT_LIMITS }
  for (const key of keys) {
    out[key] = int(raw[snake(key)], 'limits.' + snake(key), DEFAULT_LIMITS[key], 1, Number.MAX_SAFE_INTEGER)
  }
  if (out.maxFrameBytes < 1024) throw new ConfigError('limits.max_frame_bytes', 'must be at least 1024')
  if (raw.max_inflated_bytes === undefined) out.maxInflatedBytes = out.maxFrameBytes
  return out
}

// ---- value readers ----

/** Throws a ConfigError for an unknown key (a ConfigErrors for several). */
export function checkKeys(raw: Raw, allowed: readonly string[], prefix: string): void {
  const errors = new Collector()
  for (const k of Object.keys(raw)) {
    if (!allowed.includes(k)) errors.add(new ConfigError(prefix + k, `unknown key (allowed: ${allowed.join(', ')})`))
  }
  errors.check()
}

export function mapping(v: unknown, path: string): Raw {
  if (v === undefined || v === null) return {}
  if (typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(path, 'must be a mapping')
  return v as Raw
}

export function str(v: unknown, path: string, def: string): string {
  if (v === undefined) return def
  if (typeof v !== 'string' || v === '') throw new ConfigError(path, 'must be a non-empty string')
  return v
}

export function bool(v: unknown, path: string, def: boolean): boolean {
  if (v === undefined) return def
  if (typeof v !== 'boolean') throw new ConfigError(path, 'must be true or false')
  return v
}

export function int(v: unknown, path: string, def: number, min: number, max: number): number {
  if (v === undefined) return def
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new ConfigError(path, 'must be an integer')
  if (v < min || v > max) throw new ConfigError(path, `must be in ${min}..${max}`)
  return v
}

/** A port to bind: 0 asks the OS for any free port (tests, benchmarks). */
function port(v: unknown, path: string, def: number, min = 0): number {
  return int(v, path, def, min, 65535)
}

/** A port a listener may go without: `off`, null (or false) disables it (null is returned). */
export function optionalPort(v: unknown, path: string, def: number | null): number | null {
  if (v === undefined) return def
  if (v === null || v === 'off' || v === false) return null
  if (typeof v === 'string') throw new ConfigError(path, `must be a port or off, got ${JSON.stringify(v)}`)
  return port(v, path, 0)
}

function intList(v: unknown, path: string, def: number[]): number[] {
  if (v === undefined || v === null) return def
  if (!Array.isArray(v)) throw new ConfigError(path, 'must be a list of integers')
  return v.map((x, i) => int(x, `${path}[${i}]`, 0, -2147483648, 2147483647))
}

export function oneOf<T extends string>(v: unknown, path: string, allowed: readonly T[], def: T): T {
  if (v === undefined) return def
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(path, `must be one of ${allowed.join(', ')}`)
  }
  return v as T
}

function portList(v: unknown, path: string, def: number[]): number[] {
  if (v === undefined) return def
  if (!Array.isArray(v)) throw new ConfigError(path, 'must be a list of ports')
  const ports = v.map((x, i) => port(x, `${path}[${i}]`, 0))
  if (new Set(ports.filter((p) => p !== 0)).size !== ports.filter((p) => p !== 0).length) throw new ConfigError(path, 'duplicate port')
  return ports
}
