import type { AdminSettings } from './admin.js'
import type { TracingSettings } from './tracing.js'
import type { MtproxySecret } from '../transport/mtproxy-secret.js'

/**
 * The server configuration (`mtgate serve --config file.yaml`, env overrides, defaults).
 * TS names are camelCase; the YAML file uses the snake_case names documented in defaults.ts.
 */

export type StoreBackend = 'memory' | 'sqlite' | 'mysql'
export type CacheBackend = 'none' | 'redis'

export interface StoreSettings {
  backend: StoreBackend
  cache: CacheBackend
  /** SQLite file; default `<dataDir>/mtgate.sqlite`. */
  sqlitePath: string
  /** Passed through to the store factory (host, port, user, password, database, ...). */
  mysql?: Record<string, unknown>
  /** Passed through to the store factory (host, port, password, db, ...). */
  redis?: Record<string, unknown>
  /** Teamgram's cache Redis (same fields as redis), whose entries mysql writes invalidate. */
  teamgramCache?: Record<string, unknown>
  lruSize?: number
  cacheTtlSeconds?: number
}

/** One entry of help.getConfig's dc_options (clients connect to these). */
export interface PublicAddress {
  ip: string
  port: number
  /** One of the served DCs (ServerConfig.dcIds). */
  dcId: number
  /** Index in tcpPorts of the listener this default address names (its port is 0 until that listener is bound). */
  listener?: number
  ipv6: boolean
  mediaOnly: boolean
  tcpoOnly: boolean
  static: boolean
  thisPortOnly: boolean
}

/** Values help.getConfig reports (the client-side limits of the `config` constructor). */
export interface TelegramConfigValues {
  /** config.expires = now + expiresSeconds. */
  expiresSeconds: number
  testMode: boolean
  dcTxtDomainName: string
  meUrlPrefix: string
  chatSizeMax: number
  megagroupSizeMax: number
  forwardedCountMax: number
  onlineUpdatePeriodMs: number
  offlineBlurTimeoutMs: number
  offlineIdleTimeoutMs: number
  onlineCloudTimeoutMs: number
  notifyCloudDelayMs: number
  notifyDefaultDelayMs: number
  pushChatPeriodMs: number
  pushChatLimit: number
  editTimeLimit: number
  revokeTimeLimit: number
  revokePmTimeLimit: number
  ratingEDecay: number
  stickersRecentLimit: number
  channelsReadMediaPeriod: number
  tmpSessions?: number
  callReceiveTimeoutMs: number
  callRingTimeoutMs: number
  callConnectTimeoutMs: number
  callPacketTimeoutMs: number
  captionLengthMax: number
  messageLengthMax: number
  webfileDcId: number
  /** help.getNearestDc's `country`. */
  country: string
}

/** Server-side limits (the YAML names are the snake_case of these; documented in defaults.ts). */
export interface ServerLimits {
  /**
   * Max simultaneous client connections over all listeners (further ones are closed at accept);
   * lowered at start to what the open-file limit leaves, with a warning.
   */
  maxConnections: number
  /** Max transport frame (bytes); bigger frames → -404 and close. */
  maxFrameBytes: number
  /** Total bytes every gzip_packed of one packet may inflate to; more → the connection is closed. */
  maxInflatedBytes: number
  /**
   * Bytes a connection may make the server expand (gzip_packed inflation, resent answers) per
   * second, with a burst of 2 × maxInflatedBytes; more → the connection is closed.
   */
  inflateBytesPerSecond: number
  /** The transport header (tag or 64-byte obfuscated init) must arrive within this, ms. */
  headerTimeoutMs: number
  /** A connection must send a valid packet (decrypting, or an answered handshake message) within this, ms. */
  firstPacketTimeoutMs: number
  /** Connections silent for this long are closed, ms. */
  idleTimeoutMs: number
  /**
   * A frame must be complete frameTimeoutMs after its first byte, plus its bytes received so far
   * at minFrameBytesPerSecond (a sender slower than that runs out of time).
   */
  frameTimeoutMs: number
  minFrameBytesPerSecond: number
  /** Bytes held in incomplete frames over all connections; above it the slowest senders are closed. */
  readBufferTotalBytes: number
  /** Open connections per client address, and per IPv4 /24 or IPv6 /64. */
  maxConnectionsPerIp: number
  maxConnectionsPerPrefix: number
  /** New connections per second (token bucket: rate and burst) per address and per prefix. */
  newConnectionsPerSecondPerIp: number
  newConnectionsBurstPerIp: number
  newConnectionsPerSecondPerPrefix: number
  newConnectionsBurstPerPrefix: number
  /** Handshakes started (req_pq) per second (token bucket: rate and burst) per address and per prefix; more → -429. */
  handshakesPerSecondPerIp: number
  handshakesBurstPerIp: number
  handshakesPerSecondPerPrefix: number
  handshakesBurstPerPrefix: number
  /** Auth keys kept in the gateway's in-memory key cache. */
  authKeyCacheSize: number
  /** Idle sessions are dropped after this many seconds without traffic. */
  sessionIdleSeconds: number
  /**
   * Unacknowledged outgoing messages (answers and pushes) kept per session, e.g. while it has no
   * connection; the oldest are dropped beyond (session layer's outbox bound).
   */
  pushQueueMax: number
  /** On shutdown, wait at most this long for in-flight RPCs before closing connections. */
  drainTimeoutMs: number
  /** Expired temporary auth keys (and their bindings, salts) are removed from the store this often. */
  expireTempIntervalSeconds: number
}

export interface RpcErrorSpec {
  code: number
  message: string
}

export type UpstreamKind = 'mtgate' | 'teamgram-bff'

/** One upstream RPC backend: its addresses, called round-robin. */
export interface UpstreamSettings {
  name: string
  /**
   * The protocol: `mtgate` (proto/mtgate_upstream.proto) or `teamgram-bff` (Teamgram's BFF services,
   * proto/teamgram: one gRPC method per TL method, the query and result as Teamgram's messages).
   */
  kind: UpstreamKind
  /** host:port of every instance (empty with `discovery`). */
  targets: string[]
  /** Instances found in etcd instead: every key under `<key>/` holds one host:port. */
  discovery?: UpstreamDiscovery
  /** Deadline of a call, ms (a route may set its own). */
  deadlineMs: number
  /** Calls in flight to this upstream at most; more are answered -503 Timeout at once. */
  maxInFlight: number
  /** How long a query the backend deferred (InvokeReply.deferred) waits for PushRpcResult, ms. */
  resultTimeoutMs: number
  /** Calls go on one InvokeStream per target instead of one unary Invoke each. */
  stream: boolean
}

/**
 * etcd service discovery (go-zero's, as Teamgram's services register): each key `<key>/<anything>`
 * holds one instance's host:port (or JSON with an `address`), read every `intervalMs`.
 */
export interface UpstreamDiscovery {
  etcd: string[]
  key: string
  intervalMs: number
}

export interface TeamgramSettings {
  /** session.RPCSession served on this host:port (also the `gateway` reported and registered); null: not served. */
  sessionService: string | null
  /** Teamgram's status service (status.RPCStatus): online sessions reported to it; null: not reported. */
  statusService: UpstreamSettings | null
  /** etcd where sessionService is registered as go-zero does (`<sessionKey>/<lease id>` = host:port); empty: not registered. */
  etcd: string[]
  sessionKey: string
}

/** Methods whose name starts with `prefix` (or is it) go to `upstream`; the longest prefix wins. */
export interface UpstreamRoute {
  prefix: string
  upstream: string
  /** Overrides the upstream's deadlineMs. */
  deadlineMs?: number
}

export interface UpstreamRouting {
  upstreams: UpstreamSettings[]
  /** Longest prefix first. */
  routes: UpstreamRoute[]
  /** Where methods no route matches go: an upstream name, or null for unknown_method_error. */
  unrouted: string | null
}

/** MTProxy secrets served (src/config/mtproxy.ts). */
export interface MtproxySettings {
  secrets: MtproxySecret[]
  /** Serve clients without a secret (unkeyed obfuscated2, unobfuscated transports). */
  plainObfuscated: boolean
  /** DCs a secret's client may ask for in its init; others get -444. */
  dcIds: number[]
  /** Fake-TLS: accepted difference between a ClientHello's timestamp and now, seconds. */
  tlsMaxSkewSeconds: number
  /** ClientHellos and secret-keyed inits remembered against replays (each). */
  replayCacheSize: number
}

export interface ServerConfig {
  /**
   * The DC of a connection that names none (config.this_dc for it); one of dcIds. A connection
   * names its DC in the obfuscated header (TDLib, mtcute, tgnet) or its key exchange.
   */
  dcId: number
  /** The DCs this deployment answers as: key exchanges and help.getConfig's dc_options cover each. */
  dcIds: number[]
  /** Bind address of every listener. */
  host: string
  /** TCP ports; every transport (abridged, intermediate, padded, full, obfuscated) auto-detected. */
  tcpPorts: number[]
  /** WebSocket port (path wsPath, subprotocol `binary`); null disables it. */
  wsPort: number | null
  wsPath: string
  /** RSA keys and the SQLite file live here. */
  dataDir: string
  store: StoreSettings
  /** api_id values initConnection may carry; empty = any. */
  apiIds: number[]
  /** dc_options of help.getConfig; default: host (127.0.0.1 for 0.0.0.0) with every TCP port. */
  publicAddresses: PublicAddress[]
  /** rpc_error for methods without a handler. */
  unknownMethodError: RpcErrorSpec
  telegram: TelegramConfigValues
  limits: ServerLimits
  /**
   * PROXY protocol v1/v2 on these TCP ports: connections from the `trusted` proxies (addresses or
   * CIDR blocks) must start with a PROXY header and get the client's address from it; a PROXY
   * header from anyone else is refused.
   */
  proxyProtocol: { ports: number[]; trusted: string[] }
  /** MTProto over HTTP (POST /api) on wsPort, and on a port of its own when `port` is set. */
  http: HttpSettings
  /** Certificate of the web listeners (wss://, https://); null: plain ws:// and http://. */
  tls: TlsSettings | null
  /** Upstream RPC backends and which methods go to them (no upstream: none). */
  upstream: UpstreamRouting
  /** host:port where `mtgate serve` serves mtgate.upstream.v1.Mtgate to backends; null: not served. */
  backendApi: string | null
  /** Teamgram's session service, status reports and etcd registration. */
  teamgram: TeamgramSettings
  mtproxy: MtproxySettings
  log: LogSettings
  /** The admin HTTP port (/metrics, /healthz, /readyz); null: none. */
  admin: AdminSettings | null
  /** OpenTelemetry traces of the RPCs (off while otlpEndpoint is null). */
  tracing: TracingSettings
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

/** The process logger (src/util/log.ts): stderr, one JSON object a line or a pretty line. */
export interface LogSettings {
  /** Absent: MTGATE_LOG_LEVEL as read at start, else info. */
  level?: LogLevel
  format: 'json' | 'pretty'
}

export interface HttpSettings {
  enabled: boolean
  /** A port serving only HTTP (besides wsPort); null: none. */
  port: number | null
  corsOrigin: string
  /** Longest a request is held for its session's next message, whatever http_wait asks. */
  maxWaitMs: number
}

/** PEM files, read when listening and again on SIGHUP. */
export interface TlsSettings {
  cert: string
  key: string
}
