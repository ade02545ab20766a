import { EventEmitter } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http'
import { createServer as createTlsServer, type Server as HttpsServer } from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { acceptSocket, admitSource, nextConnectionId, resolveAcceptorOptions, type AcceptorOptions, type ResolvedAcceptorOptions } from './acceptor.js'
import { WsByteSocket } from './byte-socket.js'
import type { Connection } from './connection.js'
import { HttpApi, type HttpApiOptions, type HttpExchange } from './http-api.js'

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
  private readonly clients = new Set<WebSocket>()
  private readonly paths: Set<string>
  private readonly http: HttpApi | undefined

  constructor(private readonly config: WsListenerOptions) {
    super()
    this.opts = resolveAcceptorOptions(config, 'ws-listener')
    this.paths = new Set(config.paths ?? ['/apiws', '/apiws_test'])
    if (config.http !== undefined) {
      const http = { maxBodyBytes: this.opts.limits.maxFrameSize, ...config.http }
      this.http = new HttpApi(http, this.opts.limitedLog, (x) => this.emit('exchange', x))
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
    // source limits apply to the TCP connection, before any HTTP (or TLS) is read
    server.on('connection', (socket: Socket) => {
      const release = admitSource(socket.remoteAddress ?? '?', this.opts)
      if (release === null) socket.destroy()
      else if (release !== undefined) socket.once('close', release)
    })
    server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.config.port, this.config.host ?? '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
    this.server = server
    const addr = server.address()
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

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? '').split('?')[0] ?? ''
    const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim())
    const refuse = (status: number, reason: string): void => {
      this.opts.limitedLog.warn('ws_upgrade_refused', { path, remote: req.socket.remoteAddress, err: reason }, 'websocket upgrade refused')
      socket.end(`HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : 'Bad Request'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    }
    if (!this.paths.has(path)) return refuse(404, 'unknown path')
    if (!protocols.includes('binary')) return refuse(400, 'subprotocol "binary" not offered')
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.clients.add(ws)
      ws.once('close', () => this.clients.delete(ws))
      const local = req.socket.localPort ?? 0
      const bs = new WsByteSocket(ws, req.socket.remoteAddress ?? '?', req.socket.remotePort ?? 0, local)
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
      await new Promise<void>((r) => server.close(() => r()))
    }
  }
}

function readTls(files: TlsFiles): { cert: Buffer; key: Buffer } {
  return { cert: readFileSync(files.cert), key: readFileSync(files.key) }
}
