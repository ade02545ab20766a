/**
 * RPC routing: a typed handler registry that implements the session layer's RpcDispatcher.
 *
 *   router.handle('help.getConfig', async (req, ctx) => ({ _: 'config', ... }))
 *
 * Handler results are typed by the generated TlMethodResult map. A thrown RpcError becomes
 * rpc_error; any other exception becomes rpc_error 500 INTERNAL plus a log line (never a crash).
 * Methods with no handler go to the fallback (e.g. an upstream forwarder) or get the
 * configured rpc_error (default 400 INPUT_METHOD_INVALID, as Telegram answers unknown methods).
 */
import type { RpcCall, RpcContext, RpcDispatcher, RpcOutcome } from '../session/api.js'
import { resultEncoders, type TlMethodResult, type TlObjectByName } from '../tl/index.js'
import type { Logger } from '../util/log.js'
import { rootLogger } from '../util/log.js'
import { RpcError, RpcErrors } from './errors.js'

/** Every TL function name that has a result type. */
export type MethodName = keyof TlMethodResult & keyof TlObjectByName & string

export type Handler<M extends MethodName> = (
  req: TlObjectByName[M],
  ctx: RpcContext,
) => Promise<TlMethodResult[M]> | TlMethodResult[M]

/** The handler type of every method (indexing it keeps literal `_` values of returned objects). */
export type HandlerMap = { [M in MethodName]: Handler<M> }

/** Called for methods without a handler (e.g. forward upstream). */
export type Fallback = (call: RpcCall) => Promise<RpcOutcome>

export interface RouterOptions {
  /** rpc_error for methods with no handler and no fallback. */
  unknownMethodError?: { code: number; message: string }
  /** Allowed initConnection api_id values; empty or absent = any. */
  apiIds?: readonly number[]
  log?: Logger
}

type AnyHandler = (req: never, ctx: RpcContext) => unknown

export class RpcRouter implements RpcDispatcher {
  private readonly handlers = new Map<string, AnyHandler>()
  private fallback: Fallback | undefined
  private readonly unknown: { code: number; message: string }
  private readonly apiIds: ReadonlySet<number> | undefined
  private readonly log: Logger
  private running = 0

  constructor(opts: RouterOptions = {}) {
    this.unknown = opts.unknownMethodError ?? { code: 400, message: 'INPUT_METHOD_INVALID' }
    this.apiIds = opts.apiIds !== undefined && opts.apiIds.length > 0 ? new Set(opts.apiIds) : undefined
    this.log = (opts.log ?? rootLogger).child({ mod: 'rpc' })
  }

  /** Registers (or replaces) the handler of `method`. */
  handle<M extends MethodName>(method: M, handler: HandlerMap[M]): this {
    this.handlers.set(method, handler as AnyHandler)
    return this
  }

  has(method: string): boolean {
    return this.handlers.has(method)
  }

  /** Methods with no handler go here instead of getting the unknown-method error. */
  setFallback(fallback: Fallback | undefined): void {
    this.fallback = fallback
  }

  /** Calls dispatched and not yet answered (drain waits for 0). */
  get inFlight(): number {
    return this.running
  }

  /** Told of every answered call (metrics): the call, its outcome and how long it took (seconds). */
  observer: ((call: RpcCall, outcome: RpcOutcome, seconds: number) => void) | undefined

  async dispatch(call: RpcCall): Promise<RpcOutcome> {
    this.running++
    const t0 = this.observer === undefined ? 0 : performance.now()
    try {
      const outcome = await this.route(call)
      this.observer?.(call, outcome, (performance.now() - t0) / 1000)
      return outcome
    } finally {
      this.running--
    }
  }

  private async route(call: RpcCall): Promise<RpcOutcome> {
    const { ctx } = call
    if (this.apiIds !== undefined) {
      if (ctx.client === undefined) {
        this.log.info({ method: call.method, authKeyId: ctx.authKeyId.toString(16) }, 'rejected: no initConnection yet while api_ids is restricted')
        return errorOutcome(RpcErrors.connectionNotInited())
      }
      if (!this.apiIds.has(ctx.client.apiId)) {
        this.log.info({ method: call.method, apiId: ctx.client.apiId, addr: ctx.connection.clientAddr }, 'rejected: api_id not allowed')
        return errorOutcome(RpcErrors.apiIdInvalid())
      }
    }
    const handler = call.query === undefined ? undefined : this.handlers.get(call.method)
    try {
      if (handler === undefined) {
        if (this.fallback !== undefined) return await this.fallback(call)
        this.log.debug({ method: call.method, known: call.query !== undefined }, 'no handler for method')
        return { kind: 'error', code: this.unknown.code, message: this.unknown.message }
      }
      const result = await (handler as (req: unknown, ctx: RpcContext) => unknown)(call.query, ctx)
      const boxed = result !== null && typeof result === 'object' && typeof (result as { _?: unknown })._ === 'string'
      if (!boxed && (result === null || result === undefined || !(call.method in resultEncoders))) {
        throw new TypeError(`handler of ${call.method} returned a non-TL value`)
      }
      return { kind: 'result', result: result as Extract<RpcOutcome, { kind: 'result' }>['result'], method: call.method }
    } catch (e) {
      if (e instanceof RpcError) {
        this.log.debug({ method: call.method, code: e.code, error: e.errorMessage }, 'rpc_error from handler')
        return errorOutcome(e)
      }
      this.log.error({ method: call.method, err: e }, 'handler failed: answering 500 INTERNAL')
      return errorOutcome(RpcErrors.internal())
    }
  }
}

function errorOutcome(e: RpcError): RpcOutcome {
  return { kind: 'error', code: e.code, message: e.errorMessage }
}
