/**
 * What the admin status page (GET /, /status, /status.json) shows of one process: live connections
 * by transport, sessions, auth keys, the cluster nodes it knows, uptime and version, and the last
 * warn/error log lines. Read at request time from what the process keeps anyway: the gateway
 * front's connections, the session manager's sizes, the etcd membership, the logger's
 * RecentProblems. A process fills in the parts it has (observeGateway, observeSessions,
 * observeMembership); what it has not is null.
 */
import { existsSync, readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { dirname, join } from 'node:path'
import type { ConnectionInfo } from '../transport/connection.js'
import { recentProblems, type ProblemLine, type RecentProblems } from '../util/log.js'

/** The rows of the connections table, in this order; each connection is counted in exactly one. */
export const TRANSPORT_ROWS = ['tcp abridged', 'tcp intermediate', 'tcp padded', 'tcp full', 'tcp obfuscated', 'tcp fake-tls', 'websocket', 'http'] as const
export type TransportRow = (typeof TRANSPORT_ROWS)[number]

/** The status page row of a TCP or WebSocket connection (HTTP channels are counted apart). */
export function transportRow(c: Pick<ConnectionInfo, 'transport' | 'codec' | 'obfuscated' | 'fakeTls'>): TransportRow {
  if (c.transport === 'ws') return 'websocket'
  if (c.fakeTls) return 'tcp fake-tls'
  if (c.obfuscated) return 'tcp obfuscated'
  return `tcp ${c.codec}`
}

/** What a gateway front offers the status page. */
export interface FrontSource {
  connectionInfos(): Iterable<ConnectionInfo>
  connectionsByTransport(): { http: number; httpHeld: number }
  handshakeStats: { keysCreated: number }
}

/** What a session layer offers the status page. */
export interface SessionsSource {
  sessions: { sessionCount: number; keyCount: number }
}

/** What a cluster node's registry offers the status page. */
export interface MembershipSource {
  members(): Array<{ id: string; role: string; address: string; startedAt: number }>
  readonly etcdReachable: boolean
}

export interface StatusIdentity {
  /** serve: the whole server in one process; gateway / session: a cluster node. */
  role: 'serve' | 'gateway' | 'session'
  /** The cluster node id, or the gateway id of `mtgate serve`. */
  node: string
}

export interface NodeStatus {
  id: string
  role: string
  address: string
  startedAt: string
  self: boolean
}

export interface StatusSnapshot {
  role: StatusIdentity['role']
  node: string
  host: string
  pid: number
  version: string
  now: string
  startedAt: string
  uptimeSeconds: number
  /** null on a process without client listeners (a session node). */
  connections: { total: number; byTransport: Array<{ transport: TransportRow; count: number }>; httpRequestsHeld: number } | null
  /** Sessions in memory; null where the session layer runs elsewhere (a gateway node). */
  sessions: number | null
  authKeys: {
    /** Keys loaded in the session layer (null: not on this process). */
    loaded: number | null
    /** Key exchanges completed since start (null: no gateway here). */
    createdSinceStart: number | null
  }
  /** The nodes this process knows: the etcd membership on a cluster node, itself on serve. */
  nodes: NodeStatus[]
  /** Whether etcd answered the registry's last call (null: not a cluster node). */
  etcdReachable: boolean | null
  /** Newest first. */
  recentErrors: Array<Omit<ProblemLine, 'time'> & { time: string }>
}

export class StatusBoard {
  private front: FrontSource | undefined
  private sessionSide: SessionsSource | undefined
  private membership: MembershipSource | undefined
  private readonly startedAt = Date.now()

  constructor(
    private readonly identity: StatusIdentity,
    private readonly problems: RecentProblems = recentProblems,
  ) {}

  observeGateway(front: FrontSource): void {
    this.front = front
  }

  observeSessions(side: SessionsSource): void {
    this.sessionSide = side
  }

  observeMembership(registry: MembershipSource): void {
    this.membership = registry
  }

  snapshot(): StatusSnapshot {
    const now = Date.now()
    const { role, node } = this.identity
    const started = new Date(this.startedAt).toISOString()
    const nodes = this.membership
      ? this.membership.members().map((n) => ({ id: n.id, role: n.role, address: n.address, startedAt: new Date(n.startedAt).toISOString(), self: n.id === node }))
      : [{ id: node, role, address: `${hostname()} pid ${process.pid}`, startedAt: started, self: true }]
    nodes.sort((a, b) => a.role.localeCompare(b.role) || a.id.localeCompare(b.id))
    return {
      role,
      node,
      host: hostname(),
      pid: process.pid,
      version: VERSION,
      now: new Date(now).toISOString(),
      startedAt: started,
      uptimeSeconds: Math.floor((now - this.startedAt) / 1000),
      connections: this.front ? connections(this.front) : null,
      sessions: this.sessionSide ? this.sessionSide.sessions.sessionCount : null,
      authKeys: {
        loaded: this.sessionSide ? this.sessionSide.sessions.keyCount : null,
        createdSinceStart: this.front ? this.front.handshakeStats.keysCreated : null,
      },
      nodes,
      etcdReachable: this.membership ? this.membership.etcdReachable : null,
      recentErrors: this.problems
        .list()
        .reverse()
        .map((p) => ({ ...p, time: new Date(p.time).toISOString() })),
    }
  }
}

function connections(front: FrontSource): NonNullable<StatusSnapshot['connections']> {
  const counts = new Map<TransportRow, number>(TRANSPORT_ROWS.map((r) => [r, 0]))
  for (const c of front.connectionInfos()) {
    const row = transportRow(c)
    counts.set(row, counts.get(row)! + 1)
  }
  const http = front.connectionsByTransport()
  counts.set('http', http.http)
  const byTransport = TRANSPORT_ROWS.map((transport) => ({ transport, count: counts.get(transport)! }))
  return { total: byTransport.reduce((a, r) => a + r.count, 0), byTransport, httpRequestsHeld: http.httpHeld }
}

/** The version in mtgate's package.json (the first one found above this file), or "unknown". */
function packageVersion(): string {
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    const p = join(dir, 'package.json')
    if (existsSync(p)) {
      try {
        const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string }
        if (pkg.name === 'mtgate' && typeof pkg.version === 'string') return pkg.version
      } catch {
        // not ours: keep looking
      }
    }
    if (dirname(dir) === dir) return 'unknown'
  }
}

const VERSION = packageVersion()
