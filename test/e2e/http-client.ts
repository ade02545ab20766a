/**
 * A minimal MTProto-over-HTTP client for end-to-end checks no client library can be steered into
 * (http_wait timings, a session moving between TCP and HTTP): each POST carries one message, each
 * response one packet, decrypted and unpacked here. Keep-alive through an http(s) Agent.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { randomBytes } from 'node:crypto'
import { AuthKey, openMessage, sealMessage } from '../../src/crypto/message.js'
import type { PlainRpc } from '../../src/handshake/client.js'
import { buildUnencrypted } from '../../src/gateway/unencrypted.js'
import { ID_MSG_CONTAINER, parseContainer } from '../../src/session/envelope.js'
import { decode, encode, type TlObject } from '../../src/tl/index.js'

export interface HttpReply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

/** One server message of a response (containers unpacked). */
export interface ServerMessage {
  msgId: bigint
  seqNo: number
  body: Buffer
  obj: TlObject | undefined
  /** An rpc_result's answer (decoded when it is a known object). */
  result?: TlObject | undefined
}

const ID_RPC_RESULT = 0xf35c6d01

export class HttpMtClient {
  private readonly agent: HttpAgent
  private lastMsgId = 0n
  /** Content messages sent (their seqnos); another client of the same session moves it on. */
  content = 0
  key: AuthKey | undefined
  salt = 0n
  sessionId = randomBytes(8).readBigInt64LE()

  constructor(
    readonly url: string,
    private readonly ca?: Buffer,
  ) {
    this.agent = url.startsWith('https:') ? new HttpsAgent({ keepAlive: true, ca }) : new HttpAgent({ keepAlive: true })
  }

  /** One POST (or another method) of raw bytes. */
  post(body: Buffer, opts: { path?: string; method?: string; headers?: Record<string, string> } = {}): Promise<HttpReply> {
    const u = new URL(opts.path ?? '/api', this.url)
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { method: opts.method ?? 'POST', agent: this.agent, headers: { 'Content-Length': String(body.length), ...opts.headers } })
    return new Promise((resolve, reject) => {
      req.on('error', reject)
      req.on('response', (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
        res.on('error', reject)
      })
      req.end(body)
    })
  }

  /** The key exchange's transport: unencrypted messages, one per POST. */
  readonly plain: PlainRpc = {
    call: async (body) => {
      const r = await this.post(buildUnencrypted(this.nextMsgId(), body))
      if (r.status !== 200) throw new Error(`unencrypted call: HTTP ${r.status}`)
      const len = r.body.readUInt32LE(16)
      return r.body.subarray(20, 20 + len)
    },
  }

  /** Uses `key` from now on (a new session id unless kept). */
  useKey(key: Buffer, salt: bigint): void {
    this.key = new AuthKey(key)
    this.salt = salt
  }

  /**
   * Sends one message (`content`: a query, with an odd seqno) and returns what the response
   * carries: its messages (a container unpacked), or the HTTP status when it is not 200.
   */
  async send(body: Buffer, content: boolean): Promise<{ status: number; messages: ServerMessage[]; msgId: bigint }> {
    const key = this.key
    if (key === undefined) throw new Error('no key')
    const msgId = this.nextMsgId()
    const seqNo = content ? this.content++ * 2 + 1 : this.content * 2
    const packet = sealMessage(key, { salt: this.salt, sessionId: this.sessionId, msgId, seqNo, body }, 'client')
    const r = await this.post(packet)
    if (r.status !== 200) return { status: r.status, messages: [], msgId }
    return { status: 200, messages: this.open(r.body), msgId }
  }

  /** http_wait alone (a long poll). */
  poll(maxDelay: number, waitAfter: number, maxWait: number): Promise<{ status: number; messages: ServerMessage[] }> {
    return this.send(encode({ _: 'http_wait', max_delay: maxDelay, wait_after: waitAfter, max_wait: maxWait }), false)
  }

  /**
   * Messages from `first` and then from long polls (one packet per response) until one satisfies
   * `pred`; all of them, in order.
   */
  async until(first: ServerMessage[], pred: (m: ServerMessage) => boolean, maxPolls = 8): Promise<ServerMessage[]> {
    const all = [...first]
    for (let i = 0; !all.some(pred) && i < maxPolls; i++) all.push(...(await this.poll(0, 0, 5000)).messages)
    return all
  }

  /** Decrypts one response packet; bad_server_salt updates the salt. */
  open(packet: Buffer): ServerMessage[] {
    const plain = openMessage(this.key!, packet, 'server', Buffer.alloc(32))
    const msgId = plain.readBigInt64LE(16)
    const seqNo = plain.readInt32LE(24)
    const body = plain.subarray(32, 32 + plain.readInt32LE(28))
    const list = body.readUInt32LE(0) === ID_MSG_CONTAINER ? parseContainer(body, msgId) : [{ msgId, seqNo, body }]
    return list.map((m) => {
      if (m.body.readUInt32LE(0) === ID_RPC_RESULT) return { ...m, obj: undefined, result: tryDecode(m.body.subarray(12)) }
      const obj = tryDecode(m.body)
      if (obj?._ === 'bad_server_salt') this.salt = obj.new_server_salt
      return { ...m, obj }
    })
  }

  close(): void {
    this.agent.destroy()
  }

  private nextMsgId(): bigint {
    let id = (BigInt(Date.now()) << 32n) / 1000n
    id -= id % 4n
    if (id <= this.lastMsgId) id = this.lastMsgId + 4n
    this.lastMsgId = id
    return id
  }
}

function tryDecode(body: Buffer): TlObject | undefined {
  try {
    return decode(body)
  } catch {
    return undefined
  }
}
