/**
 * The `cluster:` section of the YAML config (for `mtgate gateway` / `mtgate session`; `mtgate serve`
 * accepts the same file and ignores the section). The rest of the file goes through parseConfig, so
 * one file (with MTGATE_NODE_ID per node) can serve every process.
 *
 *   cluster:
 *     node_id: session-1                  # unique per node, [A-Za-z0-9._-]
 *     etcd: [http://127.0.0.1:2379]       # endpoints (or one string)
 *     etcd_prefix: /mtgate/nodes/         # optional
 *     lease_ttl: 10                       # seconds; a dead node disappears after this
 *     listen: 127.0.0.1:7101              # this node's gRPC server (session: service; both: health)
 *     advertise: 127.0.0.1:7101           # what peers dial (default: listen)
 *     call_timeout_ms: 3000               # deadline of every unary call
 *     stream_queue_max: 20000             # items queued per stream before refusing
 *     stream_pause_timeout_ms: 10000      # client sockets paused behind a full stream: closed after this
 *     tls: { ca: ca.pem, cert: node.pem, key: node.key }   # optional mTLS between nodes (and to etcd)
 *
 * Env overrides: MTGATE_NODE_ID, MTGATE_ETCD (comma-separated), MTGATE_CLUSTER_LISTEN,
 * MTGATE_CLUSTER_ADVERTISE.
 */
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { resolve } from 'node:path'
import { Collector, ConfigError, parseConfig, readConfigFile, type Env } from './load.js'
import type { ServerConfig } from './types.js'

export interface ClusterTls {
  ca: Buffer
  cert: Buffer
  key: Buffer
}

export interface ClusterSettings {
  nodeId: string
  etcd: string[]
  etcdPrefix: string
  leaseTtlSec: number
  /** host:port the gRPC server binds. */
  listen: string
  /** host:port peers dial. */
  advertise: string
  callTimeoutMs: number
  streamQueueMax: number
  /** Gateway: client connections paused behind a stream above its high-water mark are closed after this. */
  streamPauseTimeoutMs: number
  tls: ClusterTls | undefined
}

export interface ClusterConfig {
  server: ServerConfig
  cluster: ClusterSettings
}

type Raw = Record<string, unknown>

const KEYS = ['node_id', 'etcd', 'etcd_prefix', 'lease_ttl', 'listen', 'advertise', 'call_timeout_ms', 'stream_queue_max', 'stream_pause_timeout_ms', 'tls']

/** Reads a YAML file (or takes a parsed document) with a `cluster:` section. Throws ConfigError (ConfigErrors: all of them). */
export function loadClusterConfig(opts: { file?: string; doc?: unknown; env?: Env; cwd?: string } = {}): ClusterConfig {
  const env = opts.env ?? process.env
  const cwd = opts.cwd ?? process.cwd()
  const doc: unknown = opts.file !== undefined ? readConfigFile(opts.file) : (opts.doc ?? {})
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError('(root)', 'must be a mapping')
  const errors = new Collector()
  const server = errors.take(() => parseConfig(doc, env, cwd), undefined)
  const cluster = errors.take(() => parseClusterSection((doc as Raw).cluster, env, cwd), undefined)
  errors.check()
  return { server: server!, cluster: cluster! }
}

export function parseClusterSection(v: unknown, env: Env = {}, cwd: string = process.cwd()): ClusterSettings {
  if (v === undefined || v === null) v = {}
  if (typeof v !== 'object' || Array.isArray(v)) throw new ConfigError('cluster', 'must be a mapping')
  const raw: Raw = { ...(v as Raw) }
  for (const k of Object.keys(raw)) if (!KEYS.includes(k)) throw new ConfigError('cluster.' + k, `unknown key (allowed: ${KEYS.join(', ')})`)
  if (env.MTGATE_NODE_ID) raw.node_id = env.MTGATE_NODE_ID
  if (env.MTGATE_ETCD) raw.etcd = env.MTGATE_ETCD.split(',').map((s) => s.trim()).filter(Boolean)
  if (env.MTGATE_CLUSTER_LISTEN) raw.listen = env.MTGATE_CLUSTER_LISTEN
  if (env.MTGATE_CLUSTER_ADVERTISE) raw.advertise = env.MTGATE_CLUSTER_ADVERTISE

  if (typeof raw.node_id !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(raw.node_id)) {
    throw new ConfigError('cluster.node_id', 'required; 1-64 of [A-Za-z0-9._-]')
  }
  const etcdRaw = typeof raw.etcd === 'string' ? [raw.etcd] : raw.etcd
  if (!Array.isArray(etcdRaw) || etcdRaw.length === 0) throw new ConfigError('cluster.etcd', 'required: a list of endpoints (http://host:port)')
  const etcd = etcdRaw.map((e, i) => {
    if (typeof e !== 'string' || !/^https?:\/\/[^/]+$/.test(e)) throw new ConfigError(`cluster.etcd[${i}]`, 'must be http(s)://host:port')
    return e
  })
  const etcdPrefix = raw.etcd_prefix === undefined ? '/mtgate/nodes/' : String(raw.etcd_prefix)
  if (!etcdPrefix.startsWith('/') || !etcdPrefix.endsWith('/')) throw new ConfigError('cluster.etcd_prefix', 'must start and end with /')
  const leaseTtlSec = int(raw.lease_ttl, 'cluster.lease_ttl', 10, 2, 3600)
  const listen = hostPort(raw.listen, 'cluster.listen')
  const advertise = raw.advertise === undefined ? listen : hostPort(raw.advertise, 'cluster.advertise')
  // port 0 (tests): the bound port is advertised
  if (advertise.endsWith(':0') && !listen.endsWith(':0')) throw new ConfigError('cluster.advertise', 'port 0 only together with listen on port 0')
  const callTimeoutMs = int(raw.call_timeout_ms, 'cluster.call_timeout_ms', 3000, 50, 600_000)
  const streamQueueMax = int(raw.stream_queue_max, 'cluster.stream_queue_max', 20_000, 16, 10_000_000)
  const streamPauseTimeoutMs = int(raw.stream_pause_timeout_ms, 'cluster.stream_pause_timeout_ms', 10_000, 100, 600_000)
  let tls: ClusterTls | undefined
  if (raw.tls !== undefined && raw.tls !== null) {
    if (typeof raw.tls !== 'object' || Array.isArray(raw.tls)) throw new ConfigError('cluster.tls', 'must be a mapping with ca, cert, key')
    const t = raw.tls as Raw
    const read = (k: 'ca' | 'cert' | 'key'): Buffer => {
      const p = t[k]
      if (typeof p !== 'string' || p === '') throw new ConfigError(`cluster.tls.${k}`, 'required: a PEM file path')
      try {
        return readFileSync(resolve(cwd, p))
      } catch (e) {
        throw new ConfigError(`cluster.tls.${k}`, `cannot read ${p}: ${(e as Error).message}`)
      }
    }
    tls = { ca: read('ca'), cert: read('cert'), key: read('key') }
  }
  return { nodeId: raw.node_id, etcd, etcdPrefix, leaseTtlSec, listen, advertise, callTimeoutMs, streamQueueMax, streamPauseTimeoutMs, tls }
}

function int(v: unknown, path: string, def: number, min: number, max: number): number {
  if (v === undefined) return def
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ConfigError(path, `must be an integer in ${min}..${max}`)
  return v
}

function hostPort(v: unknown, path: string): string {
  if (typeof v !== 'string') throw new ConfigError(path, 'required: host:port')
  const i = v.lastIndexOf(':')
  const host = v.slice(0, i).replace(/^\[|\]$/g, '')
  const port = Number(v.slice(i + 1))
  if (i <= 0 || isIP(host) === 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(path, `not an ip:port: ${v}`)
  return v
}
