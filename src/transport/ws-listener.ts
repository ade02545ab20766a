import { EventEmitter } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http'
import { createServer as createTlsServer, type Server as HttpsServer } from 'node:https'
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { acceptSocket, admitSource, nextConnectionId, resolveAcceptorOptions, type AcceptorOptions, type ResolvedAcceptorOptions } from './acceptor.js'
import { WsByteSocket } from './byte-socket.js'
import type { Connection } from './connection.js'
import { HttpApi, type HttpApiOptions, type HttpExchange, type Peer } from './http-api.js'
import { readProxyPreamble, TrustedProxies } from './proxy-protocol.js'

/** PEM files of a TLS listener (read at listen() and again at reloadTls()). */
export interface TlsFiles {
  cert: string
  key: string
}

export interface WsListenerOptions extends AcceptorOptions {
  host?: string
  port: number
  /** Upgrade paths served (default ['/apiws', '/apiws_test']); empty: no WebSocket on this port. */
  paths?: readonly string[]
  /** Require obfuscation inside the WebSocket, as the spec does (default true). */
  requireObfuscation?: boolean
  /** MTProto over HTTP POSTs on this port too (maxBodyBytes defaults to the frame limit). */
  http?: Partial<HttpApiOptions>
  /** Serve TLS (wss:// and https://) with this certificate. */
  tls?: TlsFiles
  /**
   * PROXY protocol (v1 and v2) on this port: connections from `trusted` addresses (CIDR blocks)
   * must start with a PROXY header (before TLS and HTTP), whose client address is the one the
   * source limits, logs and sessions see; a PROXY header from any other address is refused.
   */
  proxyProtocol?: { trusted: readonly string[] }
}

export interface WebListenerEvents {
  /** A WebSocket carrying an MTProto byte stream, past its transport header. */
  connection: [conn: Connection]
  /** One MTProto-over-HTTP request. */
  exchange: [x: HttpExchange]
}

/**
 * MTProto over WebSocket and HTTP on one port, plain or TLS. WebSocket: HTTP upgrade on /apiws
 * with subprotocol `binary`; the binary messages carry the same (obfuscated) byte stream as TCP,
 * decoded by the same acceptor and codecs. HTTP: `POST /api` (http-api.ts), one packet each way.
 */
export class WsListener extends EventEmitter<WebListenerEvents> {
  private readonly opts: ResolvedAcceptorOptions
  private readonly wss: WebSocketServer
  private server: Server | HttpsServer | null = null
  /** In front of `server` when the port takes PROXY headers. */
  private front: NetServer | null = null
  private readonly clients = new Set<WebSocket>()
  /** Client addresses from PROXY headers, by TCP socket. */
  private readonly proxied = new WeakMap<Socket, Peer>()
  private readonly paths: Set<string>
  private readonly http: HttpApi | undefined

  constructor(private readonly config: WsListenerOptions) {
    super()
    this.opts = resolveAcceptorOptions(config, 'ws-listener')
    this.paths = new Set(config.paths ?? ['/apiws', '/apiws_test'])
    if (config.http !== undefined) {
      const http = { maxBodyBytes: this.opts.limits.maxFrameSize, ...config.http }
      this.http = new HttpApi(http, this.opts.limitedLog, (s) => this.peer(s), (x) => this.emit('exchange', x))
    }
    this.wss = new WebSocketServer({
      noServer: true,
      // One message may carry the 64-byte init plus a maximal frame, or a client's batch of frames.
      maxPayload: 2 * this.opts.limits.maxReadBuffer + 64,
      handleProtocols: (protocols) => (protocols.has('binary') ? 'binary' : false),
      perMessageDeflate: false,
    })
  }

  async listen(): Promise<number> {
    // a request must arrive as fast as a transport header would; an idle keep-alive connection
    // (HTTP transport) lasts as long as an idle MTProto connection
    const headerMs = this.opts.limits.headerTimeoutMs
    const options: ServerOptions = {
      headersTimeout: headerMs,
      requestTimeout: headerMs,
      keepAliveTimeout: this.opts.limits.idleTimeoutMs,
      connectionsCheckingInterval: Math.max(100, Math.min(headerMs / 2, 30_000)),
    }
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      if (this.http !== undefined) this.http.handle(req, res)
      else res.writeHead(404, { Connection: 'close', 'Content-Length': '0' }).end()
    }
    const tls = this.config.tls
    const server = tls === undefined ? createServer(options, onRequest) : createTlsServer({ ...options, handshakeTimeout: headerMs, ...readTls(tls) }, onRequest)
    server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head))
    // source limits apply to the TCP connection, before any HTTP (or TLS) is read: with PROXY
    // headers, to the address the header gives
    const pp = this.config.proxyProtocol
    let bound: NetServer = server
    if (pp === undefined) {
      server.on('connection', (socket: Socket) => this.admit(socket, socket.remoteAddress ?? '?'))
    } else {
      const trusted = new TrustedProxies(pp.trusted)
      bound = this.front = createNetServer((socket) => {
        readProxyPreamble(
          socket,
          trusted.has(socket.remoteAddress ?? ''),
          headerMs,
          (source) => {
            if (source !== undefined) this.proxied.set(socket, source)
            if (this.admit(socket, source?.ip ?? socket.remoteAddress ?? '?')) server.emit('connection', socket)
          },
          (reason) => this.opts.limitedLog.warn('proxy_header_refused', { remote: socket.remoteAddress, err: reason }, 'rejecting connection'),
        )
      })
    }
    await new Promise<void>((resolve, reject) => {
      bound.once('error', reject)
      bound.listen(this.config.port, this.config.host ?? '127.0.0.1', () => {
        bound.off('error', reject)
        resolve()
      })
    })
    // the HTTP server's timeouts (headers, request) start with its 'listening' (connections tracking)
    if (bound !== server) server.emit('listening')
    this.server = server
    const addr = bound.address()
    const port = typeof addr === 'object' && addr !== null ? addr.port : this.config.port
    this.opts.log.info({ port, websocket: [...this.paths], http: this.http !== undefined, tls: tls !== undefined }, 'web listener listening')
    return port
  }

  /**
   * Reads the certificate files again and serves new connections with them (SIGHUP). A failure
   * (missing or invalid file) throws and keeps the certificate in use.
   */
  reloadTls(): void {
    const tls = this.config.tls
    if (tls === undefined || this.server === null) return
    ;(this.server as HttpsServer).setSecureContext(readTls(tls))
    this.opts.log.info({ cert: tls.cert }, 'tls certificate reloaded')
  }

  /** Admits a TCP connection from `ip` against the source limits; false (destroyed) when refused. */
  private admit(socket: Socket, ip: string): boolean {
    const release = admitSource(ip, this.opts)
    if (release === null) {
      socket.destroy()
      return false
    }
    if (release !== undefined) socket.once('close', release)
    return true
  }

  /**
   * The client of a request's socket: the PROXY header's address, else the peer's. A TLS socket
   * is looked up by the TCP socket under it (`_parent`, set by node:tls for a wrapped socket).
   */
  private peer(socket: Socket): Peer {
    const p = this.proxied.get(socket) ?? this.proxied.get((socket as Socket & { _parent?: Socket })._parent as Socket)
    return p ?? { ip: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 }
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? '').split('?')[0] ?? ''
    const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim())
    const refuse = (status: number, reason: string): void => {
      this.opts.limitedLog.warn('ws_upgrade_refused', { path, remote: this.peer(req.socket).ip, err: reason }, 'websocket upgrade refused')
      socket.end(`HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : 'Bad Request'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    }
    if (!this.paths.has(path)) return refuse(404, 'unknown path')
    if (!protocols.includes('binary')) return refuse(400, 'subprotocol "binary" not offered')
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.clients.add(ws)
      ws.once('close', () => this.clients.delete(ws))
      const { ip, port } = this.peer(req.socket)
      const bs = new WsByteSocket(ws, ip, port, req.socket.localPort ?? 0)
      // admitted with its TCP connection (listen())
      acceptSocket(bs, nextConnectionId(), this.opts, { requireObfuscation: this.config.requireObfuscation ?? true, admitted: true }, (c) => this.emit('connection', c))
    })
  }

  get connectionCount(): number {
    return this.clients.size
  }

  /** Stops listening and terminates every WebSocket. */
  async close(): Promise<void> {
    for (const ws of this.clients) ws.terminate()
    await new Promise<void>((r) => this.wss.close(() => r()))
    const server = this.server
    this.server = null
    if (server !== null) {
      server.closeAllConnections()
      const front = this.front
      this.front = null
      if (front !== null) await new Promise<void>((r) => front.close(() => r()))
      // (with a front, only its timers: it never listened itself)
      await new Promise<void>((r) => server.close(() => r()))
    }
  }
}

function readTls(files: TlsFiles): { cert: Buffer; key: Buffer } {
  return { cert: readFileSync(files.cert), key: readFileSync(files.key) }
}
