/**
 * The upstream sections of the YAML config: backends that implement methods over gRPC
 * (proto/mtgate_upstream.proto) and which methods go to them.
 *
 *   upstreams:
 *     - name: backend
 *       targets: [127.0.0.1:50051, 127.0.0.1:50052]   # called round-robin
 *       deadline_ms: 5000                             # default 5000
 *       max_in_flight: 1024                           # default 1024; more → -503 Timeout at once
 *       result_timeout_ms: 60000                      # deferred answers (PushRpcResult); default 60000
 *       stream: false                                 # true: calls on one InvokeStream per target
 *     - name: bff                                     # instances found in etcd instead of targets:
 *       kind: teamgram-bff                            # Teamgram's BFF gRPC (default kind: mtgate)
 *       discovery: { etcd: [127.0.0.1:2379], key: bff.bff }   # keys bff.bff/* = host:port
 *   routes:                                           # method name or prefix → upstream; longest wins
 *     'messages.': backend
 *     'messages.sendMedia': { upstream: backend, deadline_ms: 60000 }
 *   unrouted: invalid                                 # or an upstream name (default invalid)
 *
 * `invalid`: methods no route matches get unknown_method_error (400 INPUT_METHOD_INVALID). Handlers
 * registered in TypeScript (RpcRouter.handle) win over every route.
 *
 *   backend_api: 127.0.0.1:7801     # mtgate serve: where backends call mtgate.upstream.v1.Mtgate
 *   teamgram:
 *     session_service: 127.0.0.1:20450   # where Teamgram's sync service calls session.RPCSession
 *                                        # (env MTGATE_TEAMGRAM_SESSION_SERVICE)
 *     status_service: { discovery: { etcd: [127.0.0.1:2379], key: service.status } }   # or targets
 *     etcd: [127.0.0.1:2379]             # session_service registered as <session_key>/<lease id>
 *     session_key: interface.session     # default interface.session
 */
import { ConfigError, bool, checkKeys, int, mapping, str } from './load.js'
import type { TeamgramSettings, UpstreamDiscovery, UpstreamKind, UpstreamRoute, UpstreamRouting, UpstreamSettings } from './types.js'

const KINDS: readonly UpstreamKind[] = ['mtgate', 'teamgram-bff']

export const UPSTREAM_DEFAULTS = { deadlineMs: 5000, maxInFlight: 1024, resultTimeoutMs: 60_000, discoveryIntervalMs: 1000 } as const

const NAME = /^[A-Za-z0-9._-]+$/
/** A TL method name or a prefix of one (namespace with its dot, or a whole name). */
const PREFIX = /^[A-Za-z][A-Za-z0-9_.]*$/
const MAX_DEADLINE_MS = 3_600_000

export function parseUpstreams(rawUpstreams: unknown, rawRoutes: unknown, rawUnrouted: unknown): UpstreamRouting {
  const upstreams = parseList(rawUpstreams)
  const names = new Set(upstreams.map((u) => u.name))
  const known = (name: string, path: string): string => {
    if (!names.has(name)) throw new ConfigError(path, `unknown upstream ${JSON.stringify(name)} (upstreams: ${[...names].join(', ') || 'none'})`)
    return name
  }
  const routes: UpstreamRoute[] = []
  for (const [prefix, v] of Object.entries(mapping(rawRoutes, 'routes'))) {
    const path = `routes.${prefix}`
    if (!PREFIX.test(prefix)) throw new ConfigError(path, 'must be a method name or a prefix of one (e.g. messages. or help.getConfig)')
    if (typeof v === 'string') {
      routes.push({ prefix, upstream: known(v, path) })
      continue
    }
    const raw = mapping(v, path)
    checkKeys(raw, ['upstream', 'deadline_ms'], path + '.')
    const route: UpstreamRoute = { prefix, upstream: known(str(raw.upstream, path + '.upstream', ''), path + '.upstream') }
    if (raw.deadline_ms !== undefined) route.deadlineMs = int(raw.deadline_ms, path + '.deadline_ms', 0, 1, MAX_DEADLINE_MS)
    routes.push(route)
  }
  routes.sort((a, b) => b.prefix.length - a.prefix.length)
  const u = rawUnrouted === undefined || rawUnrouted === 'invalid' ? null : known(str(rawUnrouted, 'unrouted', ''), 'unrouted')
  return { upstreams, routes, unrouted: u }
}

function parseList(v: unknown): UpstreamSettings[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) throw new ConfigError('upstreams', 'must be a list')
  const seen = new Set<string>()
  return v.map((item, i) => {
    const path = `upstreams[${i}]`
    const raw = mapping(item, path)
    checkKeys(raw, ['name', 'kind', 'targets', 'discovery', 'deadline_ms', 'max_in_flight', 'result_timeout_ms', 'stream'], path + '.')
    const name = str(raw.name, path + '.name', '')
    if (name === '' || !NAME.test(name)) throw new ConfigError(path + '.name', 'required, [A-Za-z0-9._-]+')
    if (name === 'invalid') throw new ConfigError(path + '.name', '"invalid" is reserved (unrouted: invalid)')
    if (seen.has(name)) throw new ConfigError(path + '.name', `duplicate upstream ${name}`)
    seen.add(name)
    const kind = str(raw.kind, path + '.kind', 'mtgate') as UpstreamKind
    if (!KINDS.includes(kind)) throw new ConfigError(path + '.kind', `must be one of ${KINDS.join(', ')}`)
    const settings: UpstreamSettings = {
      name,
      kind,
      targets: [],
      deadlineMs: int(raw.deadline_ms, path + '.deadline_ms', UPSTREAM_DEFAULTS.deadlineMs, 1, MAX_DEADLINE_MS),
      maxInFlight: int(raw.max_in_flight, path + '.max_in_flight', UPSTREAM_DEFAULTS.maxInFlight, 1, 1_000_000),
      resultTimeoutMs: int(raw.result_timeout_ms, path + '.result_timeout_ms', UPSTREAM_DEFAULTS.resultTimeoutMs, 1, 86_400_000),
      stream: bool(raw.stream, path + '.stream', false),
    }
    if (kind === 'teamgram-bff' && settings.stream) throw new ConfigError(path + '.stream', 'Teamgram BFF services are called unary: stream is for kind mtgate')
    if ((raw.targets === undefined) === (raw.discovery === undefined)) throw new ConfigError(path, 'needs targets or discovery (one of them)')
    if (raw.discovery !== undefined) {
      settings.discovery = parseDiscovery(raw.discovery, path + '.discovery')
      return settings
    }
    const targets = typeof raw.targets === 'string' ? [raw.targets] : raw.targets
    if (!Array.isArray(targets) || targets.length === 0) throw new ConfigError(path + '.targets', 'must be a non-empty list of host:port')
    for (const [j, t] of targets.entries()) hostPort(t, `${path}.targets[${j}]`)
    settings.targets = targets as string[]
    return settings
  })
}

function hostPort(v: unknown, path: string): string {
  if (typeof v !== 'string' || !/^.+:\d{1,5}$/.test(v)) throw new ConfigError(path, `expected host:port, got ${JSON.stringify(v)}`)
  return v
}

function parseDiscovery(v: unknown, path: string): UpstreamDiscovery {
  const raw = mapping(v, path)
  checkKeys(raw, ['etcd', 'key', 'interval_ms'], path + '.')
  const etcd = typeof raw.etcd === 'string' ? [raw.etcd] : raw.etcd
  if (!Array.isArray(etcd) || etcd.length === 0) throw new ConfigError(path + '.etcd', 'must be a non-empty list of etcd host:port')
  etcd.forEach((e, i) => hostPort(e, `${path}.etcd[${i}]`))
  const key = str(raw.key, path + '.key', '')
  if (key === '' || key.endsWith('/')) throw new ConfigError(path + '.key', 'required: the service key (instances are the keys under <key>/)')
  return { etcd: etcd as string[], key, intervalMs: int(raw.interval_ms, path + '.interval_ms', UPSTREAM_DEFAULTS.discoveryIntervalMs, 100, 600_000) }
}

/** backend_api: the host:port `mtgate serve` serves the Mtgate service on; null when absent. */
export function parseBackendApi(v: unknown): string | null {
  return v === undefined || v === null ? null : hostPort(v, 'backend_api')
}

/**
 * teamgram: { session_service, status_service, etcd, session_key } (env MTGATE_TEAMGRAM_SESSION_SERVICE
 * wins for session_service). status_service: `{ targets: [...] }` or `{ discovery: { etcd, key } }`,
 * as an upstream's; etcd + session_key: where session_service is registered the go-zero way.
 */
export function parseTeamgram(v: unknown, env: Record<string, string | undefined>): TeamgramSettings {
  const fromEnv = env.MTGATE_TEAMGRAM_SESSION_SERVICE?.trim()
  const raw = v === undefined || v === null ? {} : mapping(v, 'teamgram')
  checkKeys(raw, ['session_service', 'status_service', 'etcd', 'session_key'], 'teamgram.')
  const s = fromEnv !== undefined && fromEnv !== '' ? fromEnv : raw.session_service
  const sessionService = s === undefined || s === null ? null : hostPort(s, fromEnv ? 'MTGATE_TEAMGRAM_SESSION_SERVICE' : 'teamgram.session_service')
  const out: TeamgramSettings = { sessionService, statusService: null, etcd: [], sessionKey: str(raw.session_key, 'teamgram.session_key', 'interface.session') }
  if (out.sessionKey === '' || out.sessionKey.endsWith('/')) throw new ConfigError('teamgram.session_key', 'the service key (registered as <key>/<lease id>)')
  if (raw.status_service !== undefined && raw.status_service !== null) {
    const path = 'teamgram.status_service'
    const st = mapping(raw.status_service, path)
    checkKeys(st, ['targets', 'discovery', 'deadline_ms'], path + '.')
    if ((st.targets === undefined) === (st.discovery === undefined)) throw new ConfigError(path, 'needs targets or discovery (one of them)')
    const targets = typeof st.targets === 'string' ? [st.targets] : (st.targets ?? [])
    if (!Array.isArray(targets)) throw new ConfigError(path + '.targets', 'must be a list of host:port')
    targets.forEach((t, j) => hostPort(t, `${path}.targets[${j}]`))
    out.statusService = {
      name: path,
      kind: 'teamgram-bff',
      targets: targets as string[],
      deadlineMs: int(st.deadline_ms, path + '.deadline_ms', UPSTREAM_DEFAULTS.deadlineMs, 1, 60_000),
      maxInFlight: UPSTREAM_DEFAULTS.maxInFlight,
      resultTimeoutMs: UPSTREAM_DEFAULTS.resultTimeoutMs,
      stream: false,
    }
    if (st.discovery !== undefined) out.statusService.discovery = parseDiscovery(st.discovery, path + '.discovery')
  }
  if (raw.etcd !== undefined) {
    const etcd = typeof raw.etcd === 'string' ? [raw.etcd] : raw.etcd
    if (!Array.isArray(etcd) || etcd.length === 0) throw new ConfigError('teamgram.etcd', 'must be a non-empty list of etcd host:port')
    etcd.forEach((e, i) => hostPort(e, `teamgram.etcd[${i}]`))
    out.etcd = etcd as string[]
  }
  if (sessionService === null && (out.statusService !== null || out.etcd.length > 0)) {
    throw new ConfigError('teamgram.session_service', 'required with status_service or etcd: it is the gateway reported and registered')
  }
  if (sessionService !== null && (out.statusService !== null || out.etcd.length > 0) && /^(0\.0\.0\.0|\[::\]|::):/.test(sessionService)) {
    throw new ConfigError('teamgram.session_service', 'is the gateway reported and registered: an address sync reaches, not a wildcard')
  }
  return out
}
