import { DEFAULT_HANDSHAKE_RATE } from '../handshake/limits.js'
import { DEFAULT_EXPANSION_LIMITS } from '../session/expansion.js'
import { DEFAULT_LIMITS as TRANSPORT, DEFAULT_SOURCE_LIMITS } from '../transport/index.js'
import type { ServerLimits, TelegramConfigValues } from './types.js'

/**
 * Defaults. A YAML config file uses these snake_case keys (every key optional):
 *
 * ```yaml
 * dc_ids: [1, 2, 3, 4, 5]  # the DCs this deployment answers as (key exchanges, dc_options)
 * dc_id: 2                 # the DC of a connection that names none (obfuscated header, key exchange)
 * host: 127.0.0.1          # bind address of every listener (0.0.0.0 to serve other machines)
 * tcp_ports: [10443, 5222] # every TCP transport auto-detected on each
 * ws_port: 11443           # off (or null) disables WebSocket; http.port takes off too
 * ws_path: /apiws
 * data_dir: ./data
 * store:                  # or just the backend: `store: mysql`
 *   backend: sqlite        # memory | sqlite | mysql
 *   cache: none            # none | redis
 *   sqlite_path: ./data/mtgate.sqlite
 *   mysql: { host: 127.0.0.1, port: 3306, user: root, password: '', database: mtgate }  # each of these is the default
 *   #  or mysql: { url: 'mysql://user:pass@host:3306/mtgate' } (a field beside url wins over it)
 *   #  other keys: socketPath, connectionLimit, opTimeoutMs, ssl (src/store/mysql.ts)
 *   redis: { host: 127.0.0.1, port: 6379 }
 *   #  or redis: { url: 'redis://:pass@host:6379/0' } (rediss:// for TLS); other keys: username,
 *   #  password, db, keyPrefix, commandTimeoutMs, tls (src/store/redis-cache.ts)
 *   # store.mysql and store.redis are checked whichever backend and cache are chosen
 *   lru_size: 100000
 *   cache_ttl_seconds: 3600
 * api_ids: []              # allowed initConnection api_id values; empty = any
 * public_addresses:        # help.getConfig dc_options; an entry without dc_id serves every DC
 *   - { ip: 203.0.113.5, port: 443 }
 *   - { ip: 203.0.113.6, port: 443, dc_id: 4, media_only: true }
 * proxy_protocol:          # PROXY protocol v1/v2 (haproxy send-proxy / send-proxy-v2) on these ports
 *   ports: [10443]
 *   trusted: [10.0.0.0/8]  # only these may (and must) send the header; the client address comes from it
 * mtproxy:                 # MTProxy secrets: plain, dd, ee (fake-TLS); src/config/mtproxy.ts
 *   secrets: [dd0123456789abcdef0123456789abcdef]
 *   plain_obfuscated: true # false: clients without a secret are refused
 * unknown_method_error: { code: 400, message: INPUT_METHOD_INVALID }
 * telegram:                # help.getConfig values (snake_case of the config constructor's fields)
 *   expires_seconds: 3600
 *   chat_size_max: 200
 * limits:
 *   max_connections: 100000             # lowered to fit the open-file limit (warned at start)
 *   max_frame_bytes: 2097152
 *   max_inflated_bytes: 2097152         # all gzip_packed of one packet together; more → close
 *   inflate_bytes_per_second: 16777216  # per connection, burst 2 × max_inflated_bytes; more → close
 *   header_timeout_ms: 10000            # transport tag / obfuscated init
 *   first_packet_timeout_ms: 15000      # until a packet decrypts or the handshake answers one
 *   idle_timeout_ms: 300000
 *   frame_timeout_ms: 20000             # a frame must finish within this + (its bytes so far
 *   min_frame_bytes_per_second: 4096    #   at this rate) after its first byte
 *   read_buffer_total_bytes: 268435456  # partial frames of all connections; slowest closed above
 *   max_connections_per_ip: 256
 *   max_connections_per_prefix: 1024    # IPv4 /24, IPv6 /64
 *   new_connections_per_second_per_ip: 16
 *   new_connections_burst_per_ip: 64
 *   new_connections_per_second_per_prefix: 64
 *   new_connections_burst_per_prefix: 256
 *   handshakes_per_second_per_ip: 8        # req_pq token buckets; empty → -429
 *   handshakes_burst_per_ip: 64
 *   handshakes_per_second_per_prefix: 16
 *   handshakes_burst_per_prefix: 128
 *   auth_key_cache_size: 100000
 *   session_idle_seconds: 900
 *   push_queue_max: 256
 *   drain_timeout_ms: 5000
 *   expire_temp_interval_seconds: 60   # store sweep of expired temp auth keys
 * log:                     # stderr
 *   level: info            # fatal | error | warn | info | debug | trace | silent
 *   format: json           # json (one object a line) | pretty (one readable line each)
 * tracing:                 # OpenTelemetry spans of the RPCs, off without otlp_endpoint (src/config/tracing.ts)
 *   otlp_endpoint: http://127.0.0.1:4318/v1/traces
 *   service_name: mtgate
 *   sample_ratio: 1        # 0..1
 * ```
 *
 * Every error of a file is reported (one line each, naming its key; `mtgate serve` exits 2), and
 * `mtgate config --explain` prints every effective value with its source (default, file, env).
 *
 * Environment overrides (applied after the file): MTGATE_DC_ID, MTGATE_DC_IDS (comma list), MTGATE_HOST, MTGATE_TCP_PORTS
 * (comma list), MTGATE_WS_PORT ('' or 'off' disables), MTGATE_DATA_DIR, MTGATE_STORE,
 * MTGATE_CACHE, MTGATE_SQLITE_PATH, MTGATE_MYSQL_URL (mysql://user:pass@host:port/db),
 * MTGATE_REDIS_URL (redis://[:pass@]host:port[/db]), MTGATE_API_IDS (comma list),
 * MTGATE_PUBLIC_ADDRESSES (comma list of ip:port), MTGATE_MTPROXY_SECRETS (comma list),
 * MTGATE_MTPROXY_PLAIN_OBFUSCATED, MTGATE_HTTP, MTGATE_HTTP_PORT, MTGATE_TLS_CERT, MTGATE_TLS_KEY,
 * MTGATE_LOG_LEVEL, MTGATE_LOG_FORMAT, MTGATE_OTLP_ENDPOINT, MTGATE_TRACING_SERVICE_NAME,
 * MTGATE_TRACING_SAMPLE_RATIO, MTGATE_TEAMGRAM_SESSION_SERVICE. MTGATE_STORE=mysql with MTGATE_MYSQL_URL is a whole store.
 */
export const DEFAULTS = {
  dcId: 2,
  dcIds: [1, 2, 3, 4, 5],
  host: '127.0.0.1',
  tcpPorts: [10443, 5222],
  wsPort: 11443,
  wsPath: '/apiws',
  dataDir: './data',
  storeBackend: 'sqlite',
  cacheBackend: 'none',
  sqliteFile: 'mtgate.sqlite',
  unknownMethodError: { code: 400, message: 'INPUT_METHOD_INVALID' },
} as const

/** Values as Telegram's production config reports them (2024), trimmed to the required fields. */
export const DEFAULT_TELEGRAM_CONFIG: TelegramConfigValues = {
  expiresSeconds: 3600,
  testMode: false,
  dcTxtDomainName: 'apv3.stel.com',
  meUrlPrefix: 'https://t.me/',
  chatSizeMax: 200,
  megagroupSizeMax: 200000,
  forwardedCountMax: 100,
  onlineUpdatePeriodMs: 210000,
  offlineBlurTimeoutMs: 5000,
  offlineIdleTimeoutMs: 30000,
  onlineCloudTimeoutMs: 300000,
  notifyCloudDelayMs: 30000,
  notifyDefaultDelayMs: 1500,
  pushChatPeriodMs: 60000,
  pushChatLimit: 2,
  editTimeLimit: 172800,
  revokeTimeLimit: 2147483647,
  revokePmTimeLimit: 2147483647,
  ratingEDecay: 2419200,
  stickersRecentLimit: 200,
  channelsReadMediaPeriod: 604800,
  callReceiveTimeoutMs: 20000,
  callRingTimeoutMs: 90000,
  callConnectTimeoutMs: 30000,
  callPacketTimeoutMs: 10000,
  captionLengthMax: 1024,
  messageLengthMax: 4096,
  webfileDcId: 4,
  country: 'ZZ',
}

/** The limits of each layer are that layer's own defaults. */
export const DEFAULT_LIMITS: ServerLimits = {
  ...DEFAULT_SOURCE_LIMITS,
  maxFrameBytes: TRANSPORT.maxFrameSize,
  maxInflatedBytes: DEFAULT_EXPANSION_LIMITS.perPacket,
  inflateBytesPerSecond: DEFAULT_EXPANSION_LIMITS.perSecond,
  headerTimeoutMs: TRANSPORT.headerTimeoutMs,
  firstPacketTimeoutMs: TRANSPORT.firstPacketTimeoutMs,
  idleTimeoutMs: TRANSPORT.idleTimeoutMs,
  frameTimeoutMs: TRANSPORT.frameTimeoutMs,
  minFrameBytesPerSecond: TRANSPORT.minFrameBytesPerSecond,
  readBufferTotalBytes: 256 * 1024 * 1024,
  handshakesPerSecondPerIp: DEFAULT_HANDSHAKE_RATE.perSecondPerIp,
  handshakesBurstPerIp: DEFAULT_HANDSHAKE_RATE.burstPerIp,
  handshakesPerSecondPerPrefix: DEFAULT_HANDSHAKE_RATE.perSecondPerPrefix,
  handshakesBurstPerPrefix: DEFAULT_HANDSHAKE_RATE.burstPerPrefix,
  authKeyCacheSize: 100_000,
  sessionIdleSeconds: 900,
  pushQueueMax: 256,
  drainTimeoutMs: 5000,
  expireTempIntervalSeconds: 60,
}
