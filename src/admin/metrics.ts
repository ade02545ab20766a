/**
 * The Prometheus metrics of one process (`mtgate serve`, a gateway node or a session node), in a
 * registry of its own. Most values are read at scrape time (collect callbacks) from counters the
 * code keeps anyway: EncryptedPath.stats, SourceLimiter.stats, Gateway.stats, the session manager's
 * sizes. RPC latency comes from the router's observer, store latency from a wrapper around the store.
 * Label values are bounded: transports, refusal reasons, transport error codes, TL method names of
 * the schema (anything else is "other"), store operations. The admin status page (`status`) reads
 * the same sources the observe* calls hand in.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { EncryptedPath } from '../gateway/encrypted.js'
import type { GatewayFront } from '../gateway/front.js'
import type { RpcRouter } from '../rpc/router.js'
import type { SessionManager } from '../session/manager.js'
import type { AuthKeyStore } from '../store/types.js'
import { transportErrorsSent } from '../transport/errors.js'
import { StatusBoard, type StatusIdentity } from './status.js'

/** The AuthKeyStore operations timed by instrumentStore. */
const STORE_OPS = ['put', 'get', 'bind', 'getBinding', 'destroy', 'expireTemp', 'saveSalts', 'loadSalts', 'saveState', 'loadState'] as const

/** Seconds: from a cached lookup to a slow remote store. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** What the session side of a process offers to the metrics. */
export interface SessionSource {
  router: RpcRouter
  sessions: SessionManager
  stats: { pushes: number }
}

export class MtgateMetrics {
  readonly registry = new Registry()
  /** The status page's figures, over the sources observeGateway and observeSessions are given. */
  readonly status: StatusBoard
  private readonly storeSeconds: Histogram<'op'>
  private readonly storeErrors: Counter<'op'>

  constructor(identity: StatusIdentity = { role: 'serve', node: `pid-${process.pid}` }) {
    this.status = new StatusBoard(identity)
    collectDefaultMetrics({ register: this.registry })
    const registers = [this.registry]
    this.storeSeconds = new Histogram({ name: 'mtgate_store_operation_duration_seconds', help: 'Auth key store operations, by operation', labelNames: ['op'], buckets: LATENCY_BUCKETS, registers })
    this.storeErrors = new Counter({ name: 'mtgate_store_errors_total', help: 'Auth key store operations that failed, by operation', labelNames: ['op'], registers })
    new Counter({
      name: 'mtgate_transport_errors_sent_total',
      help: 'Transport error packets sent to clients, by code',
      labelNames: ['code'],
      registers,
      collect() {
        this.reset()
        for (const [code, n] of transportErrorsSent) this.inc({ code: String(code) }, n)
      },
    })
  }

  /** The store with every operation timed (and its failures counted); other members pass through. */
  instrumentStore<S extends AuthKeyStore>(store: S): S {
    const ops = new Set<string | symbol>(STORE_OPS)
    const seconds = this.storeSeconds
    const errors = this.storeErrors
    return new Proxy(store, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target) as unknown
        if (typeof v !== 'function') return v
        if (!ops.has(prop)) return v.bind(target)
        const op = String(prop)
        return (...args: unknown[]) => {
          const end = seconds.startTimer({ op })
          return (v.apply(target, args) as Promise<unknown>).then(
            (r) => {
              end()
              return r
            },
            (e: unknown) => {
              end()
              errors.inc({ op })
              throw e
            },
          )
        }
      },
    })
  }

  /** Client-facing metrics of a gateway: connections, handshakes, encrypted messages, HTTP channels. */
  observeGateway(front: GatewayFront, encrypted: EncryptedPath): void {
    this.status.observeGateway(front)
    const registers = [this.registry]
    new Gauge({
      name: 'mtgate_connections_open',
      help: 'Open client connections by transport (http: sessions with an HTTP channel)',
      labelNames: ['transport'],
      registers,
      collect() {
        const c = front.connectionsByTransport()
        this.set({ transport: 'tcp' }, c.tcp)
        this.set({ transport: 'ws' }, c.ws)
        this.set({ transport: 'http' }, c.http)
      },
    })
    new Gauge({ name: 'mtgate_http_channels', help: 'Sessions with an HTTP channel', registers, collect() { this.set(front.connectionsByTransport().http) } })
    new Gauge({ name: 'mtgate_http_requests_held', help: 'HTTP requests held open for their session\'s next message', registers, collect() { this.set(front.connectionsByTransport().httpHeld) } })
    new Counter({ name: 'mtgate_connections_accepted_total', help: 'Client connections admitted by the source limits', registers, collect() { this.reset(); this.inc(front.sources.stats.admitted) } })
    new Counter({
      name: 'mtgate_connections_refused_total',
      help: 'Client connections refused, by reason (a source limit, or draining)',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset()
        for (const [reason, n] of Object.entries(front.sources.stats.refused)) this.inc({ reason }, n)
        this.inc({ reason: 'draining' }, front.refusedDraining)
      },
    })
    new Counter({ name: 'mtgate_handshakes_completed_total', help: 'Auth key exchanges completed (keys created)', registers, collect() { this.reset(); this.inc(front.handshakeStats.keysCreated) } })
    new Counter({
      name: 'mtgate_handshakes_failed_total',
      help: 'Unencrypted (key exchange) messages rejected with the connection closed, by reason',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset()
        for (const [reason, n] of front.handshakeStats.rejected) this.inc({ reason }, n)
      },
    })
    new Counter({ name: 'mtgate_messages_received_total', help: 'Encrypted packets from clients decrypted', registers, collect() { this.reset(); this.inc(encrypted.stats.decrypted) } })
    new Counter({ name: 'mtgate_messages_sent_total', help: 'Encrypted packets sent to clients', registers, collect() { this.reset(); this.inc(encrypted.stats.encrypted) } })
    new Counter({ name: 'mtgate_encrypted_unknown_key_total', help: 'Encrypted packets for an unknown auth key (-404)', registers, collect() { this.reset(); this.inc(encrypted.stats.unknownKey) } })
  }

  /** Session-layer metrics: RPCs (count, outcome, latency), pushes, sessions and loaded keys. */
  observeSessions(side: SessionSource): void {
    this.status.observeSessions(side)
    const registers = [this.registry]
    const calls = new Counter({ name: 'mtgate_rpc_calls_total', help: 'RPCs answered, by method and outcome (ok, or rpc_error_<code>)', labelNames: ['method', 'outcome'], registers })
    const seconds = new Histogram({ name: 'mtgate_rpc_duration_seconds', help: 'RPC latency (dispatch to answer), by method', labelNames: ['method'], buckets: LATENCY_BUCKETS, registers })
    side.router.observer = (call, outcome, s) => {
      // a query our schema decodes has a schema method name; anything else is one label value
      const method = call.query === undefined ? 'other' : call.method
      calls.inc({ method, outcome: outcome.kind === 'error' ? `rpc_error_${outcome.code}` : 'ok' })
      seconds.observe({ method }, s)
    }
    new Counter({ name: 'mtgate_pushes_total', help: 'Pushes asked of this process', registers, collect() { this.reset(); this.inc(side.stats.pushes) } })
    new Gauge({ name: 'mtgate_sessions', help: 'Sessions in memory', registers, collect() { this.set(side.sessions.sessionCount) } })
    new Gauge({ name: 'mtgate_auth_keys_loaded', help: 'Auth keys loaded in the session layer', registers, collect() { this.set(side.sessions.keyCount) } })
    new Gauge({ name: 'mtgate_rpc_in_flight', help: 'RPCs dispatched and not answered yet', registers, collect() { this.set(side.router.inFlight) } })
  }
}
