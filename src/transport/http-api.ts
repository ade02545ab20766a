/**
 * MTProto over HTTP (the transport TDLib's HttpTransport, Telethon's ConnectionHttp and web
 * clients' `/apiw1` use): each `POST /api` carries one MTProto packet as its body and its response
 * carries one packet back. What a response carries and when is decided above (the gateway's HTTP
 * channels: answers queued per session, long poll per `http_wait`); this module only parses and
 * answers requests: paths, CORS, body limits, keep-alive and transport errors as HTTP statuses.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { LogLimiter } from '../util/log-limiter.js'

/** Paths clients post to: TDLib and Telethon `/api`, webogram and tweb `/apiw1` (`_test` on test DCs). */
export const DEFAULT_HTTP_PATHS: readonly string[] = ['/api', '/apiw', '/apiw1', '/api_test', '/apiw_test', '/apiw1_test']

export interface HttpApiOptions {
  paths?: readonly string[]
  /** `Access-Control-Allow-Origin` (default '*': browser clients are served from any origin). */
  corsOrigin?: string
  /** Largest body accepted (one MTProto packet). */
  maxBodyBytes: number
}

/** A client address. */
export interface Peer {
  ip: string
  port: number
}

/** One request in flight: its packet, and the one answer it will get. */
export interface HttpExchange {
  readonly body: Buffer
  /** The TCP (or TLS) connection it came on: requests of one keep-alive connection share it. */
  readonly socket: Socket
  readonly remoteIp: string
  readonly remotePort: number
  readonly localPort: number
  /** The client went away before the answer (the answer is then dropped). */
  readonly gone: boolean
  /** respond() or fail() was called. */
  readonly answered: boolean
  /** Answers with one packet (200). False when the exchange was already answered or the client is gone. */
  respond(packet: Buffer): boolean
  /**
   * Answers with a transport error (-404, -429, -444): the HTTP status is its absolute value
   * (TDLib reads the status) and the body the 4-byte code (what Telethon reads); the connection
   * is closed after it.
   */
  fail(code: number): boolean
  /** Called once when the client goes away unanswered (at once if it already has). */
  onGone(cb: () => void): void
}

const CORS_ALLOW_HEADERS = 'origin, content-type'
const CORS_MAX_AGE = '1728000'

/**
 * Handles the HTTP requests of one listener: a valid POST to a served path becomes an
 * HttpExchange handed to `onExchange`; everything else is answered here (404, 405, 411, 413,
 * 400) with a log line, and OPTIONS gets the CORS preflight answer.
 */
export class HttpApi {
  private readonly paths: ReadonlySet<string>
  private readonly origin: string

  constructor(
    private readonly o: HttpApiOptions,
    private readonly limitedLog: LogLimiter,
    /** The client of a socket (the PROXY header's address when there was one). */
    private readonly peerOf: (socket: Socket) => Peer,
    private readonly onExchange: (x: HttpExchange) => void,
  ) {
    this.paths = new Set(o.paths ?? DEFAULT_HTTP_PATHS)
    this.origin = o.corsOrigin ?? '*'
  }

  /** Whether `url` (origin-form or the absolute form HTTP proxies get) names a served path. */
  serves(url: string | undefined): boolean {
    return this.paths.has(pathOf(url))
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    res.sendDate = false
    const refuse = (status: number, reason: string): void => {
      this.limitedLog.info(`http_${status}`, { path: req.url, method: req.method, remote: this.peerOf(req.socket).ip, err: reason }, 'http request refused')
      req.resume()
      res.writeHead(status, [...this.cors(), ['Connection', 'close'], ['Content-Length', '0']]).end()
    }
    if (!this.serves(req.url)) return refuse(404, 'unknown path')
    if (req.method === 'OPTIONS') {
      req.resume()
      res.writeHead(204, [...this.cors(), ['Access-Control-Allow-Methods', 'POST, OPTIONS'], ['Access-Control-Allow-Headers', CORS_ALLOW_HEADERS], ['Access-Control-Max-Age', CORS_MAX_AGE], ['Content-Length', '0']]).end()
      return
    }
    if (req.method !== 'POST') return refuse(405, `method ${req.method}`)
    const declared = req.headers['content-length']
    const max = this.o.maxBodyBytes
    if (declared !== undefined && Number(declared) > max) return refuse(413, `body of ${declared} bytes`)
    const chunks: Buffer[] = []
    let size = 0
    let failed = false
    req.on('data', (c: Buffer) => {
      if (failed) return
      size += c.length
      if (size > max) {
        failed = true
        refuse(413, `body over ${max} bytes`)
        return
      }
      chunks.push(c)
    })
    req.on('end', () => {
      if (failed) return
      if (size < 8) return refuse(400, `body of ${size} bytes: not an MTProto packet`)
      this.onExchange(new Exchange(req, res, Buffer.concat(chunks, size), this.cors(), this.peerOf(req.socket)))
    })
  }

  private cors(): [string, string][] {
    return [['Access-Control-Allow-Origin', this.origin]]
  }
}

/** The path of a request URL; an absolute URL (`POST HTTP://host:80/api`, from TDLib behind an HTTP proxy) gives its path. */
function pathOf(url: string | undefined): string {
  if (url === undefined) return ''
  let path = url
  if (!url.startsWith('/')) {
    try {
      path = new URL(url).pathname
    } catch {
      return ''
    }
  }
  const q = path.indexOf('?')
  return q < 0 ? path : path.slice(0, q)
}

/**
 * The unanswered exchanges of each connection. A pipelined request's response has no socket of its
 * own until the responses before it are written, so its 'close' never fires when the connection
 * drops: the connection's own 'close' marks them gone.
 */
const unanswered = new WeakMap<Socket, Set<Exchange>>()

function track(x: Exchange): void {
  let open = unanswered.get(x.socket)
  if (open === undefined) {
    const set = new Set<Exchange>()
    open = set
    unanswered.set(x.socket, set)
    x.socket.once('close', () => {
      for (const y of [...set]) y.lost()
      set.clear()
    })
  }
  open.add(x)
  // the connection closed while the body was read
  if (x.socket.destroyed) x.lost()
}

class Exchange implements HttpExchange {
  answered = false
  private goneCb: (() => void) | undefined
  gone = false
  readonly socket: Socket
  readonly remoteIp: string
  readonly remotePort: number
  readonly localPort: number

  constructor(
    req: IncomingMessage,
    private readonly res: ServerResponse,
    readonly body: Buffer,
    private readonly cors: [string, string][],
    peer: Peer,
  ) {
    this.socket = req.socket
    this.remoteIp = peer.ip
    this.remotePort = peer.port
    this.localPort = req.socket.localPort ?? 0
    res.once('close', () => this.lost())
    track(this)
  }

  /** @internal The client went away: an unanswered exchange is gone. */
  lost(): void {
    unanswered.get(this.socket)?.delete(this)
    if (this.answered || this.gone) return
    this.gone = true
    this.goneCb?.()
  }

  onGone(cb: () => void): void {
    this.goneCb = cb
    if (this.gone) cb()
  }

  respond(packet: Buffer): boolean {
    return this.write(200, packet, false)
  }

  fail(code: number): boolean {
    const body = Buffer.alloc(4)
    body.writeInt32LE(code)
    return this.write(Math.abs(code), body, true)
  }

  /** Content-Length is the last header: Telethon reads the body right after that line. */
  private write(status: number, body: Buffer, close: boolean): boolean {
    if (this.answered || this.gone || this.res.destroyed) return false
    // the client closed its side (the server ended the connection) or the connection is gone
    if (this.socket.destroyed || !this.socket.writable) {
      this.lost()
      return false
    }
    this.answered = true
    unanswered.get(this.socket)?.delete(this)
    this.res.writeHead(status, [
      ...this.cors,
      ['Content-Type', 'application/octet-stream'],
      ['Cache-Control', 'no-store'],
      ['Pragma', 'no-cache'],
      ['Connection', close ? 'close' : 'keep-alive'],
      ['Content-Length', String(body.length)],
    ])
    this.res.end(body)
    return true
  }
}
