/**
 * Upstream calls on one long-lived InvokeStream per target (config `stream: true`): each request
 * gets a call_id and waits for the reply naming it, or its deadline. A message on an open stream
 * costs grpc-js a fraction of a unary call. When the stream breaks, every call on it fails with the
 * stream's status (the bridge answers 500 INTERNAL, or tries the next target when the stream never
 * got a connection), and the next call opens a new stream.
 */
import * as grpc from '@grpc/grpc-js'
import type { InvokeReplyIn, InvokeRequestIn } from './upstream-wire.js'
import type { UpstreamClient } from './upstream-proto.js'

/** The failure of a call, shaped as grpc-js reports one (code and details). */
export type CallError = Pick<grpc.ServiceError, 'code' | 'details' | 'message'>

function callError(code: grpc.status, details: string): CallError {
  return { code, details, message: `${code} ${grpc.status[code]}: ${details}` }
}

interface Waiting {
  resolve(r: InvokeReplyIn): void
  reject(e: CallError): void
  timer: NodeJS.Timeout
}

interface OpenStream {
  call: grpc.ClientDuplexStream<InvokeRequestIn, InvokeReplyIn>
  waiting: Map<number, Waiting>
}

export class StreamInvoker {
  private open: OpenStream | undefined
  private next = 1

  constructor(private readonly client: UpstreamClient) {}

  /** One call: resolves its reply, rejects with a CallError (DEADLINE_EXCEEDED at req.deadlineMs). */
  invoke(req: InvokeRequestIn): Promise<InvokeReplyIn> {
    const s = this.open ?? this.start()
    const id = this.next++
    return new Promise<InvokeReplyIn>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (s.waiting.delete(id)) reject(callError(grpc.status.DEADLINE_EXCEEDED, 'deadline passed'))
      }, Math.max(0, Number(req.deadlineMs) - Date.now()))
      s.waiting.set(id, { resolve, reject, timer })
      s.call.write({ ...req, callId: id })
    })
  }

  /** Calls waiting for their reply (tests, metrics). */
  get waiting(): number {
    return this.open?.waiting.size ?? 0
  }

  private start(): OpenStream {
    const s: OpenStream = { call: this.client.InvokeStream(new grpc.Metadata()), waiting: new Map() }
    this.open = s
    s.call.on('data', (r: InvokeReplyIn) => {
      const w = s.waiting.get(r.callId)
      if (w === undefined) return // its deadline passed
      s.waiting.delete(r.callId)
      clearTimeout(w.timer)
      w.resolve(r)
    })
    const broke = (e: CallError): void => {
      if (this.open === s) this.open = undefined
      for (const w of s.waiting.values()) {
        clearTimeout(w.timer)
        w.reject(e)
      }
      s.waiting.clear()
    }
    s.call.on('error', (e: grpc.ServiceError) => broke(e))
    s.call.on('end', () => broke(callError(grpc.status.UNAVAILABLE, 'the backend ended the stream')))
    return s
  }

  /** Ends the stream; calls on it fail (CANCELLED). */
  close(): void {
    const s = this.open
    if (s === undefined) return
    this.open = undefined
    for (const w of s.waiting.values()) {
      clearTimeout(w.timer)
      w.reject(callError(grpc.status.CANCELLED, 'upstream closed'))
    }
    s.waiting.clear()
    s.call.cancel()
  }
}
