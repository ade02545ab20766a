/**
 * The upstream sections of the YAML config: backends that implement methods over gRPC
 * (proto/mtgate_upstream.proto) and which methods go to them.
 *
 *   upstreams:
 *     - name: backend
 *       targets: [127.0.0.1:50051, 127.0.0.1:50052]   # called round-robin
 *       deadline_ms: 5000                             # default 5000
 *       max_in_flight: 1024                           # default 1024; more → -503 Timeout at once
 *   routes:                                           # method name or prefix → upstream; longest wins
 *     'messages.': backend
 *     'messages.sendMedia': { upstream: backend, deadline_ms: 60000 }
 *   unrouted: invalid                                 # or an upstream name (default invalid)
 *
 * `invalid`: methods no route matches get unknown_method_error (400 INPUT_METHOD_INVALID). Handlers
 * registered in TypeScript (RpcRouter.handle) win over every route.
 */
import { ConfigError, checkKeys, int, mapping, str } from './load.js'
import type { UpstreamRoute, UpstreamRouting, UpstreamSettings } from './types.js'

export const UPSTREAM_DEFAULTS = { deadlineMs: 5000, maxInFlight: 1024 } as const

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
    checkKeys(raw, ['name', 'targets', 'deadline_ms', 'max_in_flight'], path + '.')
    const name = str(raw.name, path + '.name', '')
    if (name === '' || !NAME.test(name)) throw new ConfigError(path + '.name', 'required, [A-Za-z0-9._-]+')
    if (name === 'invalid') throw new ConfigError(path + '.name', '"invalid" is reserved (unrouted: invalid)')
    if (seen.has(name)) throw new ConfigError(path + '.name', `duplicate upstream ${name}`)
    seen.add(name)
    const targets = typeof raw.targets === 'string' ? [raw.targets] : raw.targets
    if (!Array.isArray(targets) || targets.length === 0) throw new ConfigError(path + '.targets', 'must be a non-empty list of host:port')
    for (const [j, t] of targets.entries()) {
      if (typeof t !== 'string' || !/^.+:\d{1,5}$/.test(t)) throw new ConfigError(`${path}.targets[${j}]`, `expected host:port, got ${JSON.stringify(t)}`)
    }
    return {
      name,
      targets: targets as string[],
      deadlineMs: int(raw.deadline_ms, path + '.deadline_ms', UPSTREAM_DEFAULTS.deadlineMs, 1, MAX_DEADLINE_MS),
      maxInFlight: int(raw.max_in_flight, path + '.max_in_flight', UPSTREAM_DEFAULTS.maxInFlight, 1, 1_000_000),
    }
  })
}
