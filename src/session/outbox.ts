/**
 * Outgoing content-related messages of one session that the client has not acknowledged yet:
 * queued while the session has no connection, resent (same msg_id, in a new container) when it
 * gets a new one, dropped when acknowledged. Bounded: the oldest entries go first, with a log line.
 */
import type { Logger } from '../util/log.js'

export const OUTBOX_MAX_MESSAGES = 256
export const OUTBOX_MAX_BYTES = 4 * 1024 * 1024

export type OutKind = 'result' | 'push' | 'service'

/**
 * `body`, or a copy with memory of its own when it is a view into a larger buffer. An entry lives
 * until the client acknowledges it (often with its next query, a good part of a second later), and
 * a view keeps all of its buffer alive: a slice of Node's shared 8 KB allocation pool keeps the
 * whole slab, a result sliced out of a backend's reply keeps the reply. Such slabs outlive the young
 * generation and pile up as external memory until a full GC.
 */
function ownMemory(body: Buffer): Buffer {
  if (body.byteLength === body.buffer.byteLength) return body
  const own = Buffer.allocUnsafeSlow(body.length)
  body.copy(own)
  return own
}

export interface OutEntry {
  kind: OutKind
  /** Boxed body (e.g. rpc_result, updates, new_session_created). */
  body: Buffer
  /** Assigned on first send. */
  msgId?: bigint
  seqNo?: number
  /** For results: the client msg_id of the query. */
  reqMsgId?: bigint
  /** True when the body is a response to a client message (msg_id ≡ 1 mod 4). */
  response: boolean
}

export class Outbox {
  private list: OutEntry[] = []
  private bytes = 0

  constructor(
    private readonly log: Logger,
    private readonly maxMessages = OUTBOX_MAX_MESSAGES,
    private readonly maxBytes = OUTBOX_MAX_BYTES,
  ) {}

  get size(): number {
    return this.list.length
  }

  get totalBytes(): number {
    return this.bytes
  }

  /** Entries never sent yet (msgId unassigned); kept by Session when it assigns ids. */
  unsent = 0

  add(e: OutEntry): void {
    e.body = ownMemory(e.body)
    if (e.msgId === undefined) this.unsent++
    if (this.list.length === 0) this.list = [e] // exact-size array for the common single entry
    else this.list.push(e)
    this.bytes += e.body.length
    while (this.list.length > 1 && (this.list.length > this.maxMessages || this.bytes > this.maxBytes)) {
      const old = this.list.shift()!
      this.bytes -= old.body.length
      if (old.msgId === undefined) this.unsent--
      this.log.warn(
        { kind: old.kind, msgId: old.msgId?.toString(), bytes: old.body.length, queued: this.list.length },
        'session outbox full: dropping the oldest unacknowledged message',
      )
    }
  }

  /** Drops the entry with this (sent) msg_id and returns it, if there was one. */
  ack(msgId: bigint): OutEntry | undefined {
    return this.removeAt(this.list.findIndex((e) => e.msgId === msgId))
  }

  byMsgId(msgId: bigint): OutEntry | undefined {
    return this.list.find((e) => e.msgId === msgId)
  }

  byReqMsgId(reqMsgId: bigint): OutEntry | undefined {
    return this.list.find((e) => e.reqMsgId === reqMsgId)
  }

  remove(e: OutEntry): void {
    this.removeAt(this.list.indexOf(e))
  }

  private removeAt(i: number): OutEntry | undefined {
    if (i < 0) return undefined
    const e = this.list[i]!
    this.bytes -= e.body.length
    if (e.msgId === undefined) this.unsent--
    this.list.splice(i, 1)
    return e
  }

  /** All entries in queue order. */
  entries(): readonly OutEntry[] {
    return this.list
  }
}
