/**
 * What Telegram Android's network library (tgnet) puts on the wire during a key exchange, played
 * by our own code: the unencrypted handshake through PlainTcpClient with, after every unencrypted
 * message, the random padding tgnet's Connection::sendData appends on (padded) intermediate, and
 * after every answer the unencrypted msgs_ack of Handshake::sendAckRequest.
 */
import { randomBytes } from 'node:crypto'
import { buildUnencrypted } from '../../src/gateway/unencrypted.js'
import type { PlainRpc } from '../../src/handshake/client.js'
import { encode } from '../../src/tl/index.js'
import { PlainTcpClient, TransportErrorPacket } from '../helpers/clients.js'

export class TgnetPlainRpc implements PlainRpc {
  private next = 0
  /** msg_ids of the server's unencrypted answers, in order. */
  readonly answered: bigint[] = []

  /** `paddings`: byte counts appended after each unencrypted message, in turn. */
  constructor(
    readonly client: PlainTcpClient,
    private readonly paddings: readonly number[],
  ) {}

  /** Sends one unencrypted message with the next padding. */
  send(body: Buffer): void {
    const pad = this.paddings[this.next++ % this.paddings.length]!
    this.client.sendRaw(Buffer.concat([buildUnencrypted(this.client.nextMsgId(), body), randomBytes(pad)]))
  }

  /** The unencrypted msgs_ack tgnet sends for each handshake answer. */
  ack(msgIds: bigint[]): void {
    this.send(encode({ _: 'msgs_ack', msg_ids: msgIds }))
  }

  async call(body: Buffer): Promise<Buffer> {
    this.send(body)
    const ans = await this.client.nextPacket()
    if (ans.length === 4) throw new TransportErrorPacket(ans.readInt32LE(0))
    const msgId = ans.readBigInt64LE(8)
    this.answered.push(msgId)
    this.ack([msgId])
    return ans.subarray(20, 20 + ans.readUInt32LE(16))
  }
}
