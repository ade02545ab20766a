/**
 * The `teamgram-bff` upstream kind: a call goes as Teamgram's session sends it to a BFF service —
 * gRPC `/mtproto.<Service>/<method>` with the query as Teamgram's `TL_<method>` message and the
 * caller in the `rpc_metadata` header (base64 of metadata.RpcMetadata) — and the reply message
 * comes back as the method's TL result in the newest layer.
 *
 * A gRPC status in Teamgram's MTProto range (303…500) is the query's rpc_error; 700
 * (ErrNotReturnClient) means the answer comes later by session.pushRpcResultData. Other failures
 * are the bridge's (deadline, unreachable). The user binding follows Teamgram's session
 * (onRpcResult): the sign-in results bind the authorization's user, auth.logOut unbinds, and
 * SESSION_PASSWORD_NEEDED_<id> is answered as SESSION_PASSWORD_NEEDED.
 */
import * as grpc from '@grpc/grpc-js'
import type { RpcCall, RpcOutcome } from '../../session/api.js'
import { clientIpPort } from '../../session/api.js'
import { decode, decodeResult as decodeTl, type TlMethodName } from '../../tl/index.js'
import type { Logger } from '../../util/log.js'
import type { DeferredKey, DeferredResults } from '../deferred-results.js'
import { UPSTREAM_ERRORS } from '../errors.js'
import type { UpstreamTarget } from '../upstream-targets.js'
import { decodeResult, encodeQuery, grpcPath } from './codec.js'
import { asBytes, PbWriter } from './protobuf.js'

/** Teamgram's gRPC status codes that are MTProto error codes (mtproto.toMTProtoErrorCod). */
const RPC_ERROR_CODES = new Set([303, 400, 401, 403, 404, 406, 420, 500])
/** mtproto.ErrNotReturnClient: the answer comes later, by session.pushRpcResultData. */
export const NOT_RETURN_CLIENT = 700

/** Teamgram's bff proxy gives these 60 s instead of 5 s. */
const LONG_METHODS = new Set(['messages.sendMedia', 'messages.sendMultiMedia', 'messages.uploadMedia', 'messages.editMessage'])
export const TEAMGRAM_LONG_DEADLINE_MS = 60_000

/** The deadline of `method` on a teamgram-bff upstream whose routes set none. */
export function teamgramDeadlineMs(method: string, upstreamDeadlineMs: number): number {
  return LONG_METHODS.has(method) ? Math.max(upstreamDeadlineMs, TEAMGRAM_LONG_DEADLINE_MS) : upstreamDeadlineMs
}

/** The base64 `rpc_metadata` header of a call: metadata.RpcMetadata as Teamgram's session fills it. */
export function rpcMetadata(call: RpcCall, serverId: string, nowMs = Date.now()): string {
  const { ctx } = call
  const c = ctx.client
  const w = new PbWriter()
  const put = (num: number, v: bigint | number | string | undefined): void => {
    if (v === undefined || v === 0 || v === 0n || v === '') return
    if (typeof v === 'string') w.bytes(num, v)
    else w.uint(num, v)
  }
  put(1, serverId)
  put(3, clientIpPort(ctx.connection.clientAddr).ip)
  put(4, ctx.authKeyId)
  put(5, ctx.sessionId)
  put(8, Math.floor(nowMs / 1000))
  put(11, ctx.userId)
  put(12, ctx.msgId)
  put(14, ctx.layer)
  put(15, c?.langPack)
  put(21, c?.langPack)
  put(22, ctx.permAuthKeyId ?? ctx.authKeyId)
  put(23, c?.langCode)
  return w.finish().toString('base64')
}

/** The key a deferred Teamgram call waits under: Teamgram's sync names the permanent key. */
export function teamgramDeferredKey(call: RpcCall): DeferredKey {
  const { ctx } = call
  return { authKeyId: ctx.permAuthKeyId ?? ctx.authKeyId, sessionId: ctx.sessionId, msgId: ctx.msgId }
}

/** Binds or unbinds the user as Teamgram's session does after `result` of `call`. */
export function bindFromResult(call: RpcCall, result: unknown): void {
  const r = result as { _?: string; user?: { id?: bigint }; authorization?: { _?: string; user?: { id?: bigint } } } | undefined
  const authUser = (a: typeof r): bigint | undefined => (a?._ === 'auth.authorization' ? a.user?.id : undefined)
  let id: bigint | undefined
  switch (call.method) {
    case 'auth.logOut':
      call.ctx.userId = undefined
      return
    case 'auth.signIn':
    case 'auth.signUp':
    case 'auth.importAuthorization':
    case 'auth.finishPasskeyLogin':
    case 'auth.checkPassword':
    case 'auth.recoverPassword':
      id = authUser(r)
      break
    case 'auth.sendCode':
      if (r?._ === 'auth.sentCodeSuccess') id = authUser(r.authorization as typeof r)
      break
    case 'auth.exportLoginToken':
      if (r?._ === 'auth.loginTokenSuccess') id = authUser(r.authorization as typeof r)
      break
  }
  if (id !== undefined && id !== 0n) call.ctx.userId = id
}

/** The outcome of `result` of `call`, the user bound or unbound by it first. */
function boundResult(call: RpcCall, result: unknown): RpcOutcome {
  bindFromResult(call, result)
  return { kind: 'result', result: result as Extract<RpcOutcome, { kind: 'result' }>['result'], method: call.method }
}

/** An rpc_error of `call` as Teamgram's session answers it. */
export function teamgramError(call: RpcCall, code: number, message: string): RpcOutcome {
  if (call.method === 'auth.logOut') call.ctx.userId = undefined
  if (message.startsWith('SESSION_PASSWORD_NEEDED_') && ['auth.sendCode', 'auth.exportLoginToken', 'auth.signIn'].includes(call.method)) message = 'SESSION_PASSWORD_NEEDED'
  return { kind: 'error', code, message: /^[A-Za-z0-9_]+$/.test(message) ? message : 'INTERNAL' }
}

export interface TeamgramBffOptions {
  log: Logger
  deferred: DeferredResults
  /** RpcMetadata.server_id: this gateway's name. */
  serverId: string
}

/** How the bridge speaks to a teamgram-bff upstream (one instance per bridge). */
export class TeamgramBff {
  constructor(private readonly o: TeamgramBffOptions) {}

  /**
   * The sender of `call` (tried per target by the bridge, which handles the failures it rejects
   * with), or the outcome at once when the call cannot go (no such rpc, query not encodable).
   */
  prepare(call: RpcCall, deadlineMs: number, resultTimeoutMs: number, upstream: string): RpcOutcome | ((t: UpstreamTarget) => Promise<RpcOutcome>) {
    const path = grpcPath(call.method)
    if (path === undefined) {
      this.o.log.info({ method: call.method, upstream }, 'Teamgram has no rpc for the method: answering 400 INPUT_METHOD_INVALID')
      return { kind: 'error', code: 400, message: 'INPUT_METHOD_INVALID' }
    }
    let body: Buffer
    try {
      body = encodeQuery(call.query!)
    } catch (e) {
      this.o.log.error({ method: call.method, upstream, err: (e as Error).message }, 'query does not encode as Teamgram protobuf: answering 500 INTERNAL')
      return { kind: 'error', ...UPSTREAM_ERRORS.internal }
    }
    const md = new grpc.Metadata()
    md.set('rpc_metadata', rpcMetadata(call, this.o.serverId))
    return (t) =>
      new Promise<RpcOutcome>((resolve, reject) => {
        t.client.makeUnaryRequest(path, asBytes, asBytes, body, md, { deadline: new Date(deadlineMs) }, (err, res) => {
          if (err === null && res !== undefined) return resolve(this.result(call, res, upstream, t.target))
          const e = err!
          if (RPC_ERROR_CODES.has(e.code)) return resolve(teamgramError(call, e.code, e.details))
          if ((e.code as number) === NOT_RETURN_CLIENT) return resolve(this.defer(call, resultTimeoutMs, upstream))
          reject(e)
        })
      })
  }

  private result(call: RpcCall, reply: Buffer, upstream: string, target: string): RpcOutcome {
    let result: unknown
    try {
      result = decodeResult(call.method, reply)
    } catch (e) {
      this.o.log.warn({ method: call.method, upstream, target, why: (e as Error).message }, 'bad upstream reply: answering 500 INTERNAL')
      return { kind: 'error', ...UPSTREAM_ERRORS.internal }
    }
    return boundResult(call, result)
  }

  /** Waits for session.pushRpcResultData (its TL bytes: the result, or an rpc_error). */
  private defer(call: RpcCall, resultTimeoutMs: number, upstream: string): Promise<RpcOutcome> {
    return this.o.deferred.wait(
      teamgramDeferredKey(call),
      resultTimeoutMs,
      (r) => {
        if ('rpcError' in r) return teamgramError(call, r.rpcError.code, r.rpcError.message)
        try {
          const head = r.result.length >= 4 ? r.result.readUInt32LE(0) : 0
          if (head === RPC_ERROR_ID) {
            const e = decode(r.result) as unknown as { error_code: number; error_message: string }
            return teamgramError(call, e.error_code, e.error_message)
          }
          return boundResult(call, decodeTl(call.method as TlMethodName, r.result))
        } catch (e) {
          this.o.log.warn({ method: call.method, upstream, why: (e as Error).message }, 'pushed rpc result is no result of the method: answering 500 INTERNAL')
          return { kind: 'error', ...UPSTREAM_ERRORS.internal }
        }
      },
      () => {
        this.o.log.warn({ method: call.method, upstream, resultTimeoutMs }, 'deferred result did not come within result_timeout_ms: answering -503 Timeout')
        return { kind: 'error', ...UPSTREAM_ERRORS.timeout }
      },
    )
  }
}

/** rpc_error#2144ca19. */
const RPC_ERROR_ID = 0x2144ca19
