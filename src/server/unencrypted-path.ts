/**
 * The gateway's unencrypted path (auth_key_id = 0): message framing checks, then the handshake
 * state machine of the connection (src/handshake). Stop-gap adapter until src/gateway's pipeline
 * lands; it only frames — every handshake decision is HandshakeService's.
 *
 * Unencrypted message: auth_key_id(8) = 0, message_id(8), message_data_length(4), message_data.
 */
import { HandshakeService, type ConnectionHandshakes } from '../handshake/server.js'
import { decodeRequest } from '../handshake/messages.js'
import { ServerMsgIdGenerator, checkClientMsgId } from '../session/msg-id.js'
import type { Clock } from '../util/clock.js'
import type { Logger } from '../util/log.js'

export interface UnencryptedConn {
  readonly id: string
  readonly remoteAddress: string
  readonly info: { readonly remoteIp: string }
  send(payload: Buffer): unknown
  close(reason: string, transportError?: number): void
}

export interface UnencryptedPathOptions {
  handshake: HandshakeService
  clock: Clock
  log: Logger
}

export class UnencryptedPath {
  private readonly perConn = new Map<string, ConnectionHandshakes>()
  private readonly msgIds: ServerMsgIdGenerator

  constructor(private readonly opts: UnencryptedPathOptions) {
    this.msgIds = new ServerMsgIdGenerator(opts.clock)
  }

  onPacket(conn: UnencryptedConn, payload: Buffer): void {
    if (payload.length < 20) return this.reject(conn, 'unencrypted message shorter than its header')
    const msgId = payload.readBigInt64LE(8)
    const len = payload.readInt32LE(16)
    if (len < 0 || len !== payload.length - 20) return this.reject(conn, `message_data_length ${len} does not match ${payload.length - 20}`)
    if (checkClientMsgId(msgId, this.opts.clock.now()) !== 0) {
      // A client with a wrong clock cannot be told its time before it has a key: log and go on,
      // as Telegram does (its msg_id only has to be unique within the exchange).
      this.opts.log.debug({ conn: conn.id, msgId: msgId.toString(16) }, 'unencrypted message_id outside the time window')
    }
    if ((msgId & 3n) !== 0n) return this.reject(conn, 'unencrypted message_id not divisible by 4')
    const body = payload.subarray(20)
    let req
    try {
      req = decodeRequest(body)
    } catch (e) {
      return this.reject(conn, `unencrypted body is not TL: ${(e as Error).message}`)
    }
    if (req === undefined) return this.reject(conn, 'unencrypted message is not a handshake method')
    let hs = this.perConn.get(conn.id)
    if (hs === undefined) {
      hs = this.opts.handshake.connection(conn.info.remoteIp)
      this.perConn.set(conn.id, hs)
    }
    hs.handle(req, body).then(
      (step) => {
        if (step.kind === 'error') {
          this.opts.log.info({ conn: conn.id, reason: step.reason, code: step.code }, 'handshake step failed: closing')
          conn.close(`handshake: ${step.reason}`, step.code)
          return
        }
        const out = Buffer.allocUnsafe(20 + step.body.length)
        out.writeBigInt64LE(0n, 0)
        out.writeBigInt64LE(this.msgIds.next(true), 8)
        out.writeInt32LE(step.body.length, 16)
        step.body.copy(out, 20)
        conn.send(out)
      },
      (e: unknown) => {
        this.opts.log.error({ conn: conn.id, err: e }, 'handshake failed unexpectedly: closing')
        conn.close('handshake error', -404)
      },
    )
  }

  connectionClosed(conn: { readonly id: string }): void {
    const hs = this.perConn.get(conn.id)
    if (hs === undefined) return
    this.perConn.delete(conn.id)
    hs.close()
  }

  private reject(conn: UnencryptedConn, reason: string): void {
    this.opts.log.info({ conn: conn.id, addr: conn.remoteAddress, reason }, 'bad unencrypted message: -404 and close')
    conn.close(reason, -404)
  }
}
