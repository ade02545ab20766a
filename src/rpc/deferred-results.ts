/**
 * Queries a backend deferred (InvokeReply.deferred): each waits, keyed by (auth key, session,
 * msg_id), until Mtgate.PushRpcResult completes it or its result timeout passes. At most
 * `max` wait at once; the oldest is timed out first when more come.
 */
import type { RpcOutcome } from '../session/api.js'

export interface DeferredKey {
  authKeyId: bigint
  sessionId: bigint
  msgId: bigint
}

/** What completes a waiting query: the backend's result bytes or rpc_error, turned into an outcome by `finish`. */
type Finish = (reply: { result: Buffer } | { rpcError: { code: number; message: string } }) => RpcOutcome

interface Waiting {
  resolve(o: RpcOutcome): void
  finish: Finish
  timer: NodeJS.Timeout
}

function keyOf(k: DeferredKey): string {
  return `${k.authKeyId}:${k.sessionId}:${k.msgId}`
}

export class DeferredResults {
  private readonly waiting = new Map<string, Waiting>()

  constructor(private readonly max = 100_000) {}

  /**
   * Waits for the query's result; resolves `onTimeout()` after `timeoutMs`. A second wait on the same
   * key (a re-sent query deferred again) replaces the first, which gets `onTimeout()` at once.
   */
  wait(k: DeferredKey, timeoutMs: number, finish: Finish, onTimeout: () => RpcOutcome): Promise<RpcOutcome> {
    const id = keyOf(k)
    this.take(id)?.resolve(onTimeout())
    if (this.waiting.size >= this.max) {
      const oldest = this.waiting.keys().next().value!
      this.take(oldest)!.resolve(onTimeout())
    }
    return new Promise<RpcOutcome>((resolve) => {
      const timer = setTimeout(() => {
        if (this.take(id) !== undefined) resolve(onTimeout())
      }, timeoutMs)
      timer.unref()
      this.waiting.set(id, { resolve, finish, timer })
    })
  }

  /** Completes a waiting query; false when none waits under that key. */
  complete(k: DeferredKey, reply: Parameters<Finish>[0]): boolean {
    const w = this.take(keyOf(k))
    if (w === undefined) return false
    w.resolve(w.finish(reply))
    return true
  }

  get size(): number {
    return this.waiting.size
  }

  /** Ends every wait with `outcome` (the bridge is closing). */
  cancelAll(outcome: RpcOutcome): void {
    for (const id of [...this.waiting.keys()]) this.take(id)!.resolve(outcome)
  }

  private take(id: string): Waiting | undefined {
    const w = this.waiting.get(id)
    if (w === undefined) return undefined
    this.waiting.delete(id)
    clearTimeout(w.timer)
    return w
  }
}
