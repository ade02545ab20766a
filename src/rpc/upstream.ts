/**
 * The upstream RPC bridge: methods without a TypeScript handler go, by config `routes` (longest
 * method-name prefix wins), to a backend implementing proto/mtgate_upstream.proto over gRPC (kind
 * `mtgate`), or to Teamgram's BFF services (kind `teamgram-bff`, teamgram/bff.ts: the same
 * targets, in-flight bound, deadlines, retries and deferral, Teamgram's messages on the wire). The
 * query goes re-encoded in the newest TL layer with the caller's metadata; the result comes back in
 * the newest layer and the session layer converts it to the client's.
 *
 * Trouble never hangs a call and never hurts the session: the call ends at its deadline at the
 * latest. Answers mtgate gives by itself (clients retry both):
 *   -503 Timeout   the deadline passed, or the upstream already has max_in_flight calls (backpressure:
 *                  nothing is sent to it); Telegram's own answer for a backend that did not answer
 *                  in time, which clients retry after a pause.
 *   500 INTERNAL   the upstream is unreachable, failed the call (a gRPC status), or replied with
 *                  something that is neither a result of the method nor a well-formed rpc_error.
 * Each of these is logged with its reason (method, upstream, target; never key material).
 *
 * A call that was never delivered (no connection to the target could be made) is tried on the
 * upstream's other targets while its deadline lasts; a call that may have reached a backend is not
 * sent again. A reply may also ask to close the connection or destroy the authorization after the
 * answer (RpcOutcome.after), or defer the answer to a later Mtgate.PushRpcResult (DeferredResults).
 */
import * as grpc from '@grpc/grpc-js'
import type { PbRpcError, PbTransport } from '../cluster/generated/proto.js'
import type { InvokeReplyIn, InvokeRequestIn } from './upstream-wire.js'
import type { RpcErrorSpec, UpstreamRouting } from '../config/types.js'
import { clientIpPort, type RpcCall, type RpcOutcome, type TransportKind } from '../session/api.js'
import { checkResult, checkResultBytes, encode, encodingLayer, NEWEST_LAYER, type TlMethodName } from '../tl/index.js'
import type { TraceHeaders } from '../admin/tracing.js'
import type { Logger } from '../util/log.js'
import { DeferredResults, type DeferredKey } from './deferred-results.js'
import { UPSTREAM_ERRORS } from './errors.js'
import { TeamgramBff, teamgramDeadlineMs } from './teamgram/bff.js'
import { setTeamgramDropListener } from './teamgram/codec.js'
import { teamgramFakeResult } from './teamgram/fake-results.js'
import { Upstream, type UpstreamTarget } from './upstream-targets.js'

export { upstreamProto, type UpstreamClient } from './upstream-proto.js'
export { UPSTREAM_CHANNEL_OPTIONS } from './upstream-targets.js'

export { UPSTREAM_ERRORS } from './errors.js'

interface Route {
  upstream: Upstream
  deadlineMs: number
  /** The route set its own deadline_ms (else a teamgram-bff upstream gives Teamgram's long methods 60 s). */
  ownDeadline: boolean
}

export interface UpstreamBridgeOptions {
  /** The answer to methods no route matches when `unrouted` names no upstream. */
  unknownMethodError: RpcErrorSpec
  log: Logger
  /** The trace context of a call's span (config tracing), sent as gRPC metadata of unary calls. */
  traceHeaders?: (call: RpcCall) => TraceHeaders | undefined
  /** RpcMetadata.server_id of calls to teamgram-bff upstreams (default `mtgate`). */
  serverId?: string
}

export class UpstreamBridge {
  private readonly upstreams = new Map<string, Upstream>()
  /** Longest prefix first. */
  private readonly routes: { prefix: string; route: Route }[]
  private readonly unrouted: Route | undefined
  private readonly log: Logger
  private readonly deferred = new DeferredResults()
  private readonly teamgram: TeamgramBff
  /** Some upstream is a teamgram-bff one: unrouted methods may get Teamgram's fake results. */
  private readonly hasTeamgram: boolean

  constructor(
    config: UpstreamRouting,
    private readonly o: UpstreamBridgeOptions,
  ) {
    this.log = o.log.child({ mod: 'upstream' })
    for (const s of config.upstreams) this.upstreams.set(s.name, new Upstream(s))
    this.teamgram = new TeamgramBff({ log: this.log, deferred: this.deferred, serverId: o.serverId ?? 'mtgate' })
    this.hasTeamgram = config.upstreams.some((u) => u.kind === 'teamgram-bff')
    if (this.hasTeamgram) setTeamgramDropListener((what) => this.log.warn({ what }, 'Teamgram codec: cannot map this (dropped, or its neutral value given); logged once, counted in teamgramDrops'))
    const route = (name: string, deadlineMs?: number): Route => {
      const upstream = this.upstreams.get(name)
      if (upstream === undefined) throw new Error(`upstream bridge: no upstream ${name}`)
      return { upstream, deadlineMs: deadlineMs ?? upstream.settings.deadlineMs, ownDeadline: deadlineMs !== undefined }
    }
    this.routes = [...config.routes].sort((a, b) => b.prefix.length - a.prefix.length).map((r) => ({ prefix: r.prefix, route: route(r.upstream, r.deadlineMs) }))
    this.unrouted = config.unrouted === null ? undefined : route(config.unrouted)
  }

  /** The route of `method` (longest matching prefix, else `unrouted`), undefined when none. */
  routeOf(method: string): { upstream: string; deadlineMs: number } | undefined {
    const r = this.match(method)
    return r && { upstream: r.upstream.settings.name, deadlineMs: r.deadlineMs }
  }

  private match(method: string): Route | undefined {
    return this.routes.find((x) => method.startsWith(x.prefix))?.route ?? this.unrouted
  }

  /** How many targets of upstream `name` have their connection up. */
  connectedTargets(name: string): number {
    return this.upstreams.get(name)?.connected ?? 0
  }

  /** Calls in flight to upstream `name`. */
  inFlight(name: string): number {
    return this.upstreams.get(name)?.inFlight ?? 0
  }

  /** Replaces the targets of upstream `name` (service discovery). */
  setTargets(name: string, targets: readonly string[]): void {
    const u = this.upstreams.get(name)
    if (u === undefined) throw new Error(`upstream bridge: no upstream ${name}`)
    u.setTargets(targets)
  }

  /** Queries waiting for a deferred result. */
  get deferredCount(): number {
    return this.deferred.size
  }

  /**
   * Mtgate.PushRpcResult: completes the deferred query (auth key, session, msg_id); false when no
   * such query waits (answered already, timed out, never deferred).
   */
  completeDeferred(k: DeferredKey, reply: { result: Buffer } | { rpcError: PbRpcError }): boolean {
    return this.deferred.complete(k, reply)
  }

  /**
   * The router's fallback: forwards `call` to its upstream and turns the reply into an outcome.
   * With a teamgram-bff upstream configured, a method no route matches gets Teamgram's fake result
   * (fake-results.ts) when it has one and `unrouted` is a teamgram-bff upstream or none.
   */
  async dispatch(call: RpcCall): Promise<RpcOutcome> {
    const routed = this.routes.find((x) => call.method.startsWith(x.prefix))?.route
    const route = routed ?? this.unrouted
    if (routed === undefined && this.hasTeamgram && call.query !== undefined && (route === undefined || route.upstream.settings.kind === 'teamgram-bff')) {
      const fake = teamgramFakeResult(call.method, call.query as unknown as Record<string, unknown>)
      if (fake !== undefined) return { kind: 'result', result: fake as Extract<RpcOutcome, { kind: 'result' }>['result'], method: call.method }
    }
    if (route === undefined) return { kind: 'error', ...this.o.unknownMethodError }
    const up = route.upstream
    const name = up.settings.name
    if (call.query === undefined) {
      this.log.info({ method: call.method, upstream: name }, 'query not decoded in any known layer: answering 400 INPUT_REQUEST_INVALID')
      return { kind: 'error', ...UPSTREAM_ERRORS.requestInvalid }
    }
    if (up.inFlight >= up.settings.maxInFlight) {
      this.log.warn({ method: call.method, upstream: name, inFlight: up.inFlight }, 'upstream at max_in_flight: answering -503 Timeout')
      return { kind: 'error', ...UPSTREAM_ERRORS.timeout }
    }
    const teamgram = up.settings.kind === 'teamgram-bff'
    const timeoutMs = teamgram && !route.ownDeadline ? teamgramDeadlineMs(call.method, route.deadlineMs) : route.deadlineMs
    const deadlineMs = Date.now() + timeoutMs
    const send = teamgram ? this.teamgram.prepare(call, deadlineMs, up.settings.resultTimeoutMs, name) : this.mtgateSender(call, deadlineMs, name)
    if (typeof send !== 'function') return send
    const tried = new Set<string>()
    up.inFlight++
    try {
      for (;;) {
        const t = up.pick(tried)
        if (t === undefined) {
          this.log.warn({ method: call.method, upstream: name, tried: tried.size }, 'upstream has no reachable target: answering 500 INTERNAL')
          return { kind: 'error', ...UPSTREAM_ERRORS.internal }
        }
        tried.add(t.target)
        try {
          return await send(t)
        } catch (e) {
          const err = e as grpc.ServiceError
          // a server cutting the call at the deadline (Go's) may be heard as CANCELLED first
          if (err.code === grpc.status.DEADLINE_EXCEEDED || (err.code === grpc.status.CANCELLED && Date.now() >= deadlineMs - DEADLINE_SLACK_MS)) {
            this.log.warn({ method: call.method, upstream: name, target: t.target, deadlineMs: timeoutMs }, 'upstream did not answer within the deadline: answering -503 Timeout')
            return { kind: 'error', ...UPSTREAM_ERRORS.timeout }
          }
          if (neverDelivered(err) && Date.now() < deadlineMs && tried.size < up.clients.length) {
            this.log.info({ method: call.method, upstream: name, target: t.target, err: err.details }, 'upstream target unreachable, call not delivered: trying another target')
            continue
          }
          const reason = err.code === grpc.status.UNAVAILABLE ? 'upstream unreachable' : 'upstream call failed'
          this.log.warn({ method: call.method, upstream: name, target: t.target, grpcCode: err.code, err: err.details ?? err.message }, `${reason}: answering 500 INTERNAL`)
          return { kind: 'error', ...UPSTREAM_ERRORS.internal }
        }
      }
    } finally {
      up.inFlight--
    }
  }

  /** The sender of `call` to an mtgate upstream (an InvokeRequest), or the outcome at once. */
  private mtgateSender(call: RpcCall, deadlineMs: number, upstream: string): RpcOutcome | ((t: UpstreamTarget) => Promise<RpcOutcome>) {
    let query: Buffer
    try {
      query = encode(call.query!)
    } catch (e) {
      this.log.error({ method: call.method, err: (e as Error).message }, 'query does not encode in the newest layer: answering 500 INTERNAL')
      return { kind: 'error', ...UPSTREAM_ERRORS.internal }
    }
    const req = request(call, query, deadlineMs, this.o.traceHeaders?.(call))
    const resultTimeoutMs = this.upstreams.get(upstream)!.settings.resultTimeoutMs
    return async (t) => this.outcome(call, await t.invoke(req), upstream, t.target, resultTimeoutMs)
  }

  private outcome(call: RpcCall, reply: InvokeReplyIn, upstream: string, target: string, resultTimeoutMs: number): RpcOutcome | Promise<RpcOutcome> {
    if (reply.unbindUser) call.ctx.userId = undefined
    if (reply.bindUserId !== 0n) call.ctx.userId = reply.bindUserId
    const after = reply.destroyAuthKey ? 'destroyAuthKey' : reply.closeConnection ? 'closeConnection' : undefined
    const withAfter = (o: RpcOutcome): RpcOutcome => (after === undefined ? o : { ...o, after })
    if (reply.deferred) {
      if (reply.outcome !== undefined) return withAfter(this.bad(call, upstream, target, 'deferred with an outcome'))
      const { ctx } = call
      return this.deferred.wait(
        { authKeyId: ctx.authKeyId, sessionId: ctx.sessionId, msgId: ctx.msgId },
        resultTimeoutMs,
        (r) => withAfter(this.finish(call, r, upstream, target)),
        () => {
          this.log.warn({ method: call.method, upstream, resultTimeoutMs }, 'deferred result did not come within result_timeout_ms: answering -503 Timeout')
          return { kind: 'error', ...UPSTREAM_ERRORS.timeout }
        },
      )
    }
    if (reply.outcome === 'rpcError') return withAfter(this.finish(call, { rpcError: reply.rpcError }, upstream, target))
    if (reply.outcome === 'result') return withAfter(this.finish(call, { result: reply.result }, upstream, target))
    return withAfter(this.bad(call, upstream, target, 'neither result nor rpc_error'))
  }

  /** The outcome of a backend's result bytes or rpc_error for `call`. */
  private finish(call: RpcCall, r: { result: Buffer } | { rpcError: PbRpcError | null }, upstream: string, target: string): RpcOutcome {
    if ('rpcError' in r) {
      const e = r.rpcError
      if (e === null || !Number.isInteger(e.code) || e.code < -32768 || e.code > 32767 || !/^[A-Za-z0-9_]+$/.test(e.message)) {
        return this.bad(call, upstream, target, `malformed rpc_error ${JSON.stringify(e)}`)
      }
      return { kind: 'error', code: e.code, message: e.message }
    }
    try {
      // a client in the newest layer gets the backend's bytes as they are: they are only checked
      if (encodingLayer(call.ctx.layer) === NEWEST_LAYER) {
        checkResultBytes(call.method as TlMethodName, r.result)
        return { kind: 'raw', body: r.result }
      }
      const result = checkResult(call.method as TlMethodName, r.result)
      return { kind: 'result', result: result as Extract<RpcOutcome, { kind: 'result' }>['result'], method: call.method }
    } catch (e) {
      return this.bad(call, upstream, target, `result is not a ${call.method} result: ${(e as Error).message}`)
    }
  }

  private bad(call: RpcCall, upstream: string, target: string, why: string): RpcOutcome {
    this.log.warn({ method: call.method, upstream, target, why }, 'bad upstream reply: answering 500 INTERNAL')
    return { kind: 'error', ...UPSTREAM_ERRORS.internal }
  }

  /** Closes every channel; calls in progress fail (500 INTERNAL), deferred ones get -503 Timeout. */
  close(): void {
    this.deferred.cancelAll({ kind: 'error', ...UPSTREAM_ERRORS.timeout })
    for (const u of this.upstreams.values()) u.close()
  }
}

/** A call cancelled this close to its deadline ended because of it. */
const DEADLINE_SLACK_MS = 50

/**
 * True when grpc-js failed the call before giving it to any connection (its picker found no
 * connection to the target): nothing reached a backend, so it may go to another target.
 */
function neverDelivered(err: grpc.ServiceError): boolean {
  return err.code === grpc.status.UNAVAILABLE && (err.details ?? '').includes('No connection established')
}

/** The InvokeRequest of a call (query: the boxed query in the newest layer; deadlineMs: unix ms). */
export function request(call: RpcCall, query: Buffer, deadlineMs: number, trace?: TraceHeaders): InvokeRequestIn {
  const { ctx } = call
  const addr = clientIpPort(ctx.connection.clientAddr)
  const c = ctx.client
  return {
    authKeyId: ctx.authKeyId,
    permAuthKeyId: ctx.permAuthKeyId ?? 0n,
    sessionId: ctx.sessionId,
    msgId: ctx.msgId,
    userId: ctx.userId ?? 0n,
    layer: ctx.layer ?? 0,
    client: c === undefined ? null : { apiId: c.apiId, deviceModel: c.deviceModel, systemVersion: c.systemVersion, appVersion: c.appVersion, systemLangCode: c.systemLangCode, langPack: c.langPack, langCode: c.langCode },
    clientIp: addr.ip,
    clientPort: addr.port,
    dcId: ctx.connection.dcId,
    deadlineMs,
    method: call.method,
    constructorId: query.readUInt32LE(0),
    query,
    withoutUpdates: ctx.withoutUpdates,
    transport: TRANSPORTS[ctx.connection.transport],
    gatewayId: ctx.connection.gatewayId,
    callId: 0,
    traceparent: trace?.traceparent ?? '',
    tracestate: trace?.tracestate ?? '',
  }
}

const TRANSPORTS: Record<TransportKind, PbTransport> = { tcp: 'TRANSPORT_TCP', ws: 'TRANSPORT_WEBSOCKET', http: 'TRANSPORT_HTTP' }
