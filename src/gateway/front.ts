/**
 * The client-facing front of a gateway: TCP and WebSocket listeners, the Gateway pipeline
 * (handshake for auth_key_id 0, the EncryptedPath otherwise) and the set of live connections.
 * `mtgate serve` (src/server) and `mtgate gateway` (src/cluster) both build it with GatewaySide
 * (RSA keys, handshake, EncryptedPath, listeners from config); they differ only in what sits behind
 * the EncryptedPath (the session layer in process, or session nodes over gRPC).
 */
import { mkdirSync } from 'node:fs'
import type { MtproxySettings, ServerConfig, ServerLimits } from '../config/types.js'
import type { RandomSource } from '../crypto/random.js'
import { InlineCrypto, type HandshakeCrypto } from '../handshake/crypto-backend.js'
import { CryptoPool } from '../handshake/crypto-pool.js'
import { fingerprintHex } from '../handshake/rsa-key.js'
import { loadOrCreateKeySet, type RsaKeySet } from '../handshake/rsa-keyset.js'
import { HandshakeService } from '../handshake/server.js'
import type { AuthKeyStore } from '../store/types.js'
import { connectionsAllowedBy, createMtproxyReplay, ReadBudget, SourceLimiter, TcpListener, WsListener, type AcceptorOptions, type Connection, type ConnectionInfo, type WsListenerOptions } from '../transport/index.js'
import type { Clock } from '../util/clock.js'
import { LogLimiter } from '../util/log-limiter.js'
import type { Logger } from '../util/log.js'
import { EncryptedPath } from './encrypted.js'
import { Gateway } from './gateway.js'
import { HTTP_CHANNEL_LIMITS } from './http-channel.js'
import { HttpFront } from './http-front.js'

export interface ListenAddress {
  /** 'ws': WebSocket (and HTTP when enabled) on one port; 'http': a port serving only HTTP. */
  kind: 'tcp' | 'ws' | 'http'
  host: string
  port: number
  tls: boolean
}

export interface GatewayFrontOptions {
  handshake: HandshakeService
  encrypted: EncryptedPath
  host: string
  tcpPorts: readonly number[]
  /** null: no WebSocket listener. */
  wsPort: number | null
  wsPath: string
  http: ServerConfig['http']
  tls: ServerConfig['tls']
  /** The DCs served, and the DC of a connection that names none. */
  dcIds: readonly number[]
  dcId: number
  limits: ServerLimits
  proxyProtocol: ServerConfig['proxyProtocol']
  /** MTProxy secrets served on every listener (none: clients without secrets only). */
  mtproxy?: MtproxySettings
  clock: Clock
  /** Clock of the transport timers (idle, handshake timeouts); defaults to `clock`. */
  transportClock?: Clock
  random: RandomSource
  log: Logger
}

export class GatewayFront {
  /** Open TCP and WebSocket connections by id (the Gateway hands the encrypted path a connection id); a closed one leaves in the Gateway's onClose. */
  private readonly live = new Map<string, Connection>()
  private readonly gateway: Gateway
  private tcp: TcpListener | undefined
  /** The WebSocket port and the HTTP-only port. */
  private readonly web: WsListener[] = []
  private readonly http: HttpFront
  private refusing: string | undefined
  /** Connections closed on arrival because the front was draining (refuseNew). */
  refusedDraining = 0
  readonly addresses: ListenAddress[] = []
  /** Source limits and the read budget, shared by every listener of this front. */
  readonly sources: SourceLimiter
  readonly readBudget: ReadBudget

  private constructor(private readonly o: GatewayFrontOptions) {
    const { encrypted, limits } = o
    const fit = connectionsAllowedBy(limits.maxConnections)
    if (fit.clamped) {
      o.log.warn({ maxConnections: limits.maxConnections, openFileLimit: fit.limit, clampedTo: fit.max }, 'limits.max_connections is above what the open-file limit allows; lowered (raise ulimit -n to serve more)')
    }
    // ServerLimits carries every SourceLimits field under the same name
    this.sources = new SourceLimiter({ ...limits, maxConnections: fit.max })
    this.readBudget = new ReadBudget(limits.readBufferTotalBytes)
    this.gateway = new Gateway({
      handshake: o.handshake,
      clock: o.clock,
      log: o.log.child({ mod: 'gateway' }),
      dcIds: o.dcIds,
      dcId: o.dcId,
      onEncrypted: (conn, p, dcId) => {
        const c = this.live.get(conn.id)
        if (c !== undefined) encrypted.onPacket(c, p.payload, p.quickAck, dcId)
      },
      // the key's first encrypted packet then needs no lookup
      onKeyCreated: (conn, created) => {
        encrypted.warm(created.record)
        this.http.keyCreated(conn, created.record.id, created.dcId)
      },
      onClose: (conn) => {
        this.live.delete(conn.id)
        encrypted.connectionClosed(conn.id)
      },
    })
    this.http = new HttpFront({
      encrypted,
      acceptUnencrypted: (c) => this.gateway.accept(c),
      dcId: o.dcId,
      limits: { ...HTTP_CHANNEL_LIMITS, maxWaitCapMs: o.http.maxWaitMs, idleMs: limits.idleTimeoutMs },
      // a channel is a session's connection: no more of them than connections
      maxChannels: fit.max,
      clock: o.clock,
      log: o.log.child({ mod: 'http' }),
    })
  }

  /** Binds every listener; on failure closes what was bound and throws. */
  static async listen(o: GatewayFrontOptions): Promise<GatewayFront> {
    const front = new GatewayFront(o)
    const l = o.limits
    const clock = o.transportClock ?? o.clock
    const log = o.log.child({ mod: 'transport' })
    const acceptor = {
      clock,
      random: o.random,
      log,
      limits: {
        maxFrameSize: l.maxFrameBytes,
        headerTimeoutMs: l.headerTimeoutMs,
        firstPacketTimeoutMs: l.firstPacketTimeoutMs,
        idleTimeoutMs: l.idleTimeoutMs,
        frameTimeoutMs: l.frameTimeoutMs,
        minFrameBytesPerSecond: l.minFrameBytesPerSecond,
      },
      sources: front.sources,
      readBudget: front.readBudget,
      limitedLog: new LogLimiter(log, undefined, clock),
      ...mtproxyOptions(o.mtproxy),
    }
    try {
      if (o.tcpPorts.length > 0) {
        const pp = o.proxyProtocol
        front.tcp = new TcpListener({ ...acceptor, host: o.host, ports: [...o.tcpPorts], proxyProtocol: { ports: pp.ports.filter((p) => o.tcpPorts.includes(p)), trusted: pp.trusted } })
        for (const port of await front.tcp.listen()) front.addresses.push({ kind: 'tcp', host: o.host, port, tls: false })
        front.tcp.on('connection', (c) => front.accept(c))
      }
      const web = { ...acceptor, host: o.host, tls: o.tls ?? undefined }
      const http = o.http.enabled ? { corsOrigin: o.http.corsOrigin } : undefined
      const proxied = (port: number): WsListenerOptions['proxyProtocol'] => (o.proxyProtocol.ports.includes(port) ? { trusted: o.proxyProtocol.trusted } : undefined)
      if (o.wsPort !== null) await front.listenWeb('ws', { ...web, port: o.wsPort, paths: [o.wsPath], http, proxyProtocol: proxied(o.wsPort) })
      if (o.http.port !== null) await front.listenWeb('http', { ...web, port: o.http.port, paths: [], http, proxyProtocol: proxied(o.http.port) })
    } catch (e) {
      await front.closeListeners()
      throw e
    }
    return front
  }

  private async listenWeb(kind: 'ws' | 'http', options: WsListenerOptions): Promise<void> {
    const l = new WsListener(options)
    this.web.push(l)
    this.addresses.push({ kind, host: options.host ?? '127.0.0.1', port: await l.listen(), tls: options.tls !== undefined })
    l.on('connection', (c) => this.accept(c))
    l.on('exchange', (x) => this.http.onExchange(x))
  }

  /** Open client connections by transport (HTTP: sessions with a channel), and HTTP requests held. */
  connectionsByTransport(): { tcp: number; ws: number; http: number; httpHeld: number } {
    let tcp = 0
    for (const c of this.live.values()) if (c.info.transport === 'tcp') tcp++
    return { tcp, ws: this.live.size - tcp, http: this.http.channelCount, httpHeld: this.http.heldCount }
  }

  /** What is known of each open TCP and WebSocket connection (the admin status page). */
  *connectionInfos(): IterableIterator<ConnectionInfo> {
    for (const c of this.live.values()) yield c.info
  }

  /** Key exchanges completed and unencrypted messages rejected (see Gateway.stats). */
  get handshakeStats(): Gateway['stats'] {
    return this.gateway.stats
  }

  /** Client connections (TCP, WebSocket) and sessions with an HTTP channel. */
  get connectionCount(): number {
    return this.live.size + this.http.channelCount
  }

  /** Reads the TLS certificate files again (SIGHUP); throws, keeping the old certificate, when they cannot be used. */
  reloadTls(): void {
    for (const l of this.web) l.reloadTls()
  }

  /** From now on new connections are closed on arrival with `reason` (drain). */
  refuseNew(reason: string): void {
    this.refusing = reason
    this.http.refuseNew()
  }

  /** Closes every client connection and HTTP channel (sessions stay; clients reconnect). Returns how many. */
  closeConnections(reason: string): number {
    const all = [...this.live.values()]
    for (const c of all) c.close(reason)
    return all.length + this.http.closeChannels(reason)
  }

  /**
   * Stops reading client connection `connId` (backpressure from behind the encrypted path, e.g. a
   * full stream to a session node); calls nest, each needs its resumeConnection. False when the
   * connection is gone.
   */
  pauseConnection(connId: string): boolean {
    const c = this.live.get(connId)
    if (c === undefined) return false
    c.pause()
    return true
  }

  /** Undoes one pauseConnection (no-op when the connection is gone). */
  resumeConnection(connId: string): void {
    this.live.get(connId)?.resume()
  }

  /** Closes the listeners (which destroys the sockets they accepted: close connections first). */
  async closeListeners(): Promise<void> {
    await Promise.all([this.tcp?.close(), ...this.web.map((l) => l.close())]).catch((e: unknown) => this.o.log.warn({ err: (e as Error).message }, 'listener close failed'))
  }

  private accept(conn: Connection): void {
    if (this.refusing !== undefined) {
      this.refusedDraining++
      conn.close(this.refusing)
      return
    }
    this.live.set(conn.id, conn)
    this.gateway.accept(conn)
  }
}

/** The acceptor options of the MTProxy settings (one replay cache for every listener). */
function mtproxyOptions(m: MtproxySettings | undefined): Partial<AcceptorOptions> {
  if (m === undefined || m.secrets.length === 0) return {}
  return {
    secrets: m.secrets,
    allowPlainObfuscated: m.plainObfuscated,
    mtproxyDcIds: m.dcIds,
    tlsMaxSkewMs: m.tlsMaxSkewSeconds * 1000,
    replay: createMtproxyReplay(m.replayCacheSize, m.tlsMaxSkewSeconds * 1000),
  }
}

export interface GatewaySideOptions {
  config: ServerConfig
  /** Where the handshake stores new keys. */
  store: AuthKeyStore
  /** Gateway id in InboundMessage. */
  gatewayId: string
  clock: Clock
  /** Clock of the transport timers; default `clock`. */
  transportClock?: Clock
  /** Handshake, transport and inline handshake crypto randomness. */
  random: RandomSource
  /** Message padding of the encrypted path; default message.ts's pooled CSPRNG. */
  paddingRandom?: RandomSource
  log: Logger
  /** Run handshake crypto inline instead of a worker pool. */
  inlineHandshakeCrypto?: boolean
  /** Wraps the handshake crypto backend (tests: fault injection). */
  wrapHandshakeCrypto?: (c: HandshakeCrypto) => HandshakeCrypto
  /** Called with the fingerprint (hex) of a key generated because data_dir/rsa offered none. */
  onKeyCreated?: (fingerprint: string) => void
}

/**
 * The gateway side of `mtgate serve` and of a cluster gateway, built from config: the RSA keys of
 * data_dir/rsa (one generated when none is offered), the handshake service and its crypto backend
 * (worker pool or inline), the EncryptedPath (attach what sits behind it before listen()) and,
 * once listen() has bound them, the GatewayFront listeners.
 */
export class GatewaySide {
  private listening: GatewayFront | undefined

  private constructor(
    private readonly o: GatewaySideOptions,
    readonly rsaKeys: RsaKeySet,
    private readonly crypto: HandshakeCrypto,
    readonly handshake: HandshakeService,
    readonly encrypted: EncryptedPath,
  ) {}

  static create(o: GatewaySideOptions): GatewaySide {
    const { config, clock, random, log } = o
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
    const { keys, created } = loadOrCreateKeySet(config.dataDir)
    if (created) o.onKeyCreated?.(fingerprintHex(created.fingerprint))
    const base: HandshakeCrypto = o.inlineHandshakeCrypto ? new InlineCrypto(keys, random) : new CryptoPool(keys)
    const crypto = o.wrapHandshakeCrypto ? o.wrapHandshakeCrypto(base) : base
    let handshake: HandshakeService
    try {
      handshake = new HandshakeService({
        keys,
        crypto,
        store: o.store,
        dcIds: config.dcIds,
        testMode: config.telegram.testMode,
        rate: {
          perSecondPerIp: config.limits.handshakesPerSecondPerIp,
          burstPerIp: config.limits.handshakesBurstPerIp,
          perSecondPerPrefix: config.limits.handshakesPerSecondPerPrefix,
          burstPerPrefix: config.limits.handshakesBurstPerPrefix,
        },
        clock,
        random,
        log: log.child({ mod: 'handshake' }),
      })
    } catch (e) {
      void crypto.close?.()
      throw e
    }
    void handshake.warmUp()
    const encrypted = new EncryptedPath({
      gatewayId: o.gatewayId,
      clock,
      log: log.child({ mod: 'gateway' }),
      cacheSize: config.limits.authKeyCacheSize,
      random: o.paddingRandom,
    })
    return new GatewaySide(o, keys, crypto, handshake, encrypted)
  }

  /** Binds the configured TCP / WebSocket listeners (throws, with nothing left bound, on failure). */
  async listen(): Promise<GatewayFront> {
    const { config, clock, random, log } = this.o
    this.listening = await GatewayFront.listen({
      handshake: this.handshake,
      encrypted: this.encrypted,
      host: config.host,
      tcpPorts: config.tcpPorts,
      wsPort: config.wsPort,
      wsPath: config.wsPath,
      http: config.http,
      tls: config.tls,
      dcIds: config.dcIds,
      dcId: config.dcId,
      limits: config.limits,
      proxyProtocol: config.proxyProtocol,
      mtproxy: config.mtproxy,
      clock,
      transportClock: this.o.transportClock,
      random,
      log,
    })
    return this.listening
  }

  get front(): GatewayFront {
    if (this.listening === undefined) throw new Error('GatewaySide: not listening')
    return this.listening
  }

  /** Closes every client connection, lets the closes go out (one turn of the event loop), then the listeners. */
  async closeFront(reason: string): Promise<void> {
    this.listening?.closeConnections(reason)
    await new Promise((r) => setImmediate(r))
    await this.listening?.closeListeners()
  }

  /** Stops the handshake service and its crypto backend (after closeFront). */
  async close(): Promise<void> {
    this.handshake.close()
    await this.crypto.close?.()
  }
}
