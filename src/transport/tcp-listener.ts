import { EventEmitter } from 'node:events'
import { createServer, type Server, type Socket } from 'node:net'
import { acceptSocket, nextConnectionId, resolveAcceptorOptions, type AcceptorOptions, type ResolvedAcceptorOptions } from './acceptor.js'
import { TcpByteSocket } from './byte-socket.js'
import { TrustedProxies } from './proxy-protocol.js'
import type { Connection } from './connection.js'

export interface TcpListenerOptions extends AcceptorOptions {
  /** Address to bind (default 127.0.0.1). */
  host?: string
  /** Ports to listen on, one server each, all with auto-detected transports (0 = any free port). */
  ports: readonly number[]
  /**
   * PROXY protocol (v1 and v2): on these of `ports`, connections from `trusted` addresses (CIDR
   * blocks) must start with a PROXY header, whose client address is the connection's; a PROXY
   * header from any other address is refused.
   */
  proxyProtocol?: { ports: readonly number[]; trusted: readonly string[] }
}

export interface ListenerEvents {
  connection: [conn: Connection]
}

/** MTProto over TCP on one or more ports; every transport auto-detected per connection. */
export class TcpListener extends EventEmitter<ListenerEvents> {
  private readonly opts: ResolvedAcceptorOptions
  private readonly servers: Server[] = []
  private readonly sockets = new Set<Socket>()
  private readonly trusted: TrustedProxies | undefined
  /** accept() failures by errno code (EMFILE, ENFILE, ...); accepting goes on after each. */
  readonly acceptErrors: Record<string, number> = {}

  constructor(private readonly config: TcpListenerOptions) {
    super()
    this.opts = resolveAcceptorOptions(config, 'tcp-listener')
    const pp = config.proxyProtocol
    if (pp !== undefined && pp.ports.length > 0) {
      for (const p of pp.ports) if (!config.ports.includes(p)) throw new RangeError(`PROXY protocol port ${p} is not one of the listener's ports`)
      this.trusted = new TrustedProxies(pp.trusted)
    }
  }

  /** Starts listening; resolves with the bound ports (in the order given). */
  async listen(): Promise<number[]> {
    const host = this.config.host ?? '127.0.0.1'
    const ports: number[] = []
    for (const p of this.config.ports) {
      const proxied = this.config.proxyProtocol?.ports.includes(p) === true
      // the bound port, given to each connection (asking the socket would keep its address per connection)
      let port = p
      const server = createServer((s) => this.onSocket(s, proxied, port))
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(p, host, () => {
          server.off('error', reject)
          resolve()
        })
      })
      server.on('error', (e: NodeJS.ErrnoException) => this.onServerError(e))
      this.servers.push(server)
      const addr = server.address()
      port = typeof addr === 'object' && addr !== null ? addr.port : p
      ports.push(port)
    }
    this.opts.log.info({ host, ports }, 'tcp listening')
    return ports
  }

  /** Number of open sockets (detected or not). */
  get connectionCount(): number {
    return this.sockets.size
  }

  /**
   * A listening server's error: accept() failing (EMFILE / ENFILE when descriptors run out) is
   * counted and logged (rate-limited); the server keeps listening and accepts again once
   * descriptors free up.
   */
  private onServerError(e: NodeJS.ErrnoException): void {
    const code = e.code ?? 'unknown'
    this.acceptErrors[code] = (this.acceptErrors[code] ?? 0) + 1
    const fd = code === 'EMFILE' || code === 'ENFILE'
    this.opts.limitedLog.error(`accept_${code}`, { err: e.message, code, open: this.sockets.size, count: this.acceptErrors[code] }, fd ? 'accept failed: out of file descriptors (raise the open-file limit or lower limits.max_connections)' : 'tcp server error')
  }

  private onSocket(s: Socket, proxied: boolean, port: number): void {
    // the byte socket takes it out of `sockets` when it closes
    this.sockets.add(s)
    const proxy = proxied ? (this.trusted!.has(s.remoteAddress ?? '') ? 'expect' : 'refuse') : undefined
    acceptSocket(new TcpByteSocket(s, port, this.sockets), nextConnectionId(), this.opts, { requireObfuscation: false, proxy, fakeTls: true }, (c) => this.emit('connection', c))
  }

  /** Stops listening and destroys every open socket. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await Promise.all(this.servers.map((srv) => new Promise<void>((r) => srv.close(() => r()))))
    this.servers.length = 0
  }
}
