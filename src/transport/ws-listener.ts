import { EventEmitter } from 'node:events'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { acceptSocket, admitSource, nextConnectionId, resolveAcceptorOptions, type AcceptorOptions, type ResolvedAcceptorOptions } from './acceptor.js'
import { WsByteSocket } from './byte-socket.js'
import type { ListenerEvents } from './tcp-listener.js'

export interface WsListenerOptions extends AcceptorOptions {
  host?: string
  port: number
  /** Upgrade paths served (default ['/apiws', '/apiws_test']). */
  paths?: readonly string[]
  /** Require obfuscation inside the WebSocket, as the spec does (default true). */
  requireObfuscation?: boolean
}

/**
 * MTProto over WebSocket: HTTP upgrade on /apiws with subprotocol `binary`; the binary messages
 * carry the same (obfuscated) byte stream as TCP, decoded by the same acceptor and codecs.
 */
export class WsListener extends EventEmitter<ListenerEvents> {
  private readonly opts: ResolvedAcceptorOptions
  private readonly wss: WebSocketServer
  private server: Server | null = null
  private readonly clients = new Set<WebSocket>()
  private readonly paths: Set<string>

  constructor(private readonly config: WsListenerOptions) {
    super()
    this.opts = resolveAcceptorOptions(config, 'ws-listener')
    this.paths = new Set(config.paths ?? ['/apiws', '/apiws_test'])
    this.wss = new WebSocketServer({
      noServer: true,
      // One message may carry the 64-byte init plus a maximal frame, or a client's batch of frames.
      maxPayload: 2 * this.opts.limits.maxReadBuffer + 64,
      handleProtocols: (protocols) => (protocols.has('binary') ? 'binary' : false),
      perMessageDeflate: false,
    })
  }

  async listen(): Promise<number> {
    // a request must arrive as fast as a transport header would
    const headerMs = this.opts.limits.headerTimeoutMs
    const server = createServer({ headersTimeout: headerMs, requestTimeout: headerMs, connectionsCheckingInterval: Math.max(100, Math.min(headerMs / 2, 30_000)) }, (_req, res) => {
      res.writeHead(404).end()
    })
    // source limits apply to the TCP connection, before any HTTP is parsed
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
    this.opts.log.info({ port, paths: [...this.paths] }, 'websocket listening')
    return port
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
