/** In-process plumbing for handshake tests: a PlainRpc straight into ConnectionHandshakes. */
import { decodeUnencryptedBody } from '../../src/handshake/messages.js'
import type { PlainRpc } from '../../src/handshake/client.js'
import type { ConnectionHandshakes, CreatedKey, HandshakeService } from '../../src/handshake/server.js'

export class TransportErrorReply extends Error {
  constructor(readonly code: number, readonly reason: string) {
    super(`transport error ${code} (${reason})`)
  }
}

export class Loopback implements PlainRpc {
  readonly conn: ConnectionHandshakes
  readonly sent: Buffer[] = []
  readonly answers: Buffer[] = []
  readonly created: CreatedKey[] = []

  constructor(service: HandshakeService, ip = '10.0.0.1') {
    this.conn = service.connection(ip)
  }

  async call(body: Buffer): Promise<Buffer> {
    this.sent.push(Buffer.from(body))
    const decoded = decodeUnencryptedBody(body)
    if (decoded.kind !== 'request') throw new TransportErrorReply(-404, 'not a handshake method')
    const step = await this.conn.handle(decoded.req, body)
    if (step.kind === 'error') throw new TransportErrorReply(step.code, step.reason)
    if (step.created) this.created.push(step.created)
    this.answers.push(step.body)
    return step.body
  }
}
