import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'

/** The peer broke the carrier's rules (text WebSocket message, oversized or invalid WS frame). */
export class ByteSocketProtocolError extends Error {
  override readonly name = 'ByteSocketProtocolError'
}

/** Called with `this` = the handlers object (a Connection implements it: no closures per socket). */
export interface ByteSocketHandlers {
  onSocketData(chunk: Buffer): void
  /** All queued writes have been flushed. */
  onSocketDrain(): void
  onSocketClose(): void
  onSocketError(err: Error): void
}

/** Until setHandlers: bytes and events are dropped. */
const NO_HANDLERS: ByteSocketHandlers = {
  onSocketData() {},
  onSocketDrain() {},
  onSocketClose() {},
  onSocketError() {},
}

// One set of listener functions shared by every TCP socket: `this` is the net.Socket, whose
// byte socket is found through a symbol property (no closures per connection).
const OWNER = Symbol('mtgate.byteSocket')
interface OwnedSocket extends Socket {
  [OWNER]: TcpByteSocket
}
function onTcpData(this: OwnedSocket, c: Buffer): void {
  this[OWNER].handlers.onSocketData(c)
}
function onTcpDrain(this: OwnedSocket): void {
  this[OWNER].handlers.onSocketDrain()
}
function onTcpClose(this: OwnedSocket): void {
  const owner = this[OWNER]
  owner.openSockets?.delete(this)
  owner.handlers.onSocketClose()
}
function onTcpError(this: OwnedSocket, e: Error): void {
  this[OWNER].handlers.onSocketError(e)
}

/** The byte stream under a Connection: a TCP socket or the binary messages of a WebSocket. */
export interface ByteSocket {
  readonly kind: 'tcp' | 'ws'
  /** The peer's address; replaced by the client's when a trusted proxy sends a PROXY header. */
  remoteAddress: string
  remotePort: number
  readonly localPort: number
  /** Bytes accepted by write() and not yet handed to the kernel. */
  readonly pendingWriteBytes: number
  setHandlers(h: ByteSocketHandlers): void
  write(data: Buffer): void
  pause(): void
  resume(): void
  /** Flush queued writes, then close. */
  end(): void
  /** Close now, dropping queued writes. */
  destroy(): void
}

export class TcpByteSocket implements ByteSocket {
  readonly kind = 'tcp' as const
  /** The peer; a PROXY protocol header from a trusted proxy replaces it with the client's. */
  remoteAddress: string
  remotePort: number
  readonly localPort: number
  /** @internal */
  handlers: ByteSocketHandlers = NO_HANDLERS

  /**
   * `localPort`: the listener's port (the socket's own would cost a cached address per connection).
   * `openSockets`: the listener's set of open sockets, which the socket leaves when it closes
   * (before the handlers hear of it; no 'close' listener of its own per socket).
   */
  constructor(
    private readonly socket: Socket,
    localPort: number,
    /** @internal */
    readonly openSockets?: Set<Socket>,
  ) {
    this.remoteAddress = socket.remoteAddress ?? '?'
    this.remotePort = socket.remotePort ?? 0
    this.localPort = localPort
    socket.setNoDelay(true)
    ;(socket as OwnedSocket)[OWNER] = this
    socket.on('data', onTcpData)
    socket.on('drain', onTcpDrain)
    socket.on('close', onTcpClose)
    socket.on('error', onTcpError)
  }

  get pendingWriteBytes(): number {
    return this.socket.writableLength
  }

  setHandlers(h: ByteSocketHandlers): void {
    this.handlers = h
  }

  write(data: Buffer): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(data)
  }

  pause(): void {
    this.socket.pause()
  }

  resume(): void {
    this.socket.resume()
  }

  end(): void {
    this.socket.end()
  }

  destroy(): void {
    this.socket.destroy()
  }
}

/**
 * A WebSocket carrying the MTProto byte stream in binary messages. Message boundaries mean
 * nothing: frames may span messages and one message may hold several frames.
 */
export class WsByteSocket implements ByteSocket {
  readonly kind = 'ws' as const
  private handlers: ByteSocketHandlers = NO_HANDLERS
  private pending = 0

  constructor(
    private readonly ws: WebSocket,
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly localPort: number,
  ) {
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      if (!isBinary) {
        this.handlers.onSocketError(new ByteSocketProtocolError('text WebSocket message on a binary MTProto stream'))
        this.destroy()
        return
      }
      const chunk = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)
      this.handlers.onSocketData(chunk)
    })
    ws.on('close', () => this.handlers.onSocketClose())
    // ws reports peer protocol violations (bad frames, maxPayload exceeded) as errors.
    ws.on('error', (e) => this.handlers.onSocketError(new ByteSocketProtocolError(e.message)))
  }

  get pendingWriteBytes(): number {
    return this.pending
  }

  setHandlers(h: ByteSocketHandlers): void {
    this.handlers = h
  }

  write(data: Buffer): void {
    if (this.ws.readyState !== this.ws.OPEN) return
    const n = data.length
    this.pending += n
    this.ws.send(data, { binary: true }, () => {
      this.pending -= n
      if (this.pending === 0) this.handlers.onSocketDrain()
    })
  }

  pause(): void {
    this.ws.pause()
  }

  resume(): void {
    this.ws.resume()
  }

  end(): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(1000)
  }

  destroy(): void {
    this.ws.terminate()
  }
}
