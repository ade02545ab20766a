/**
 * The upstream RPC bridge: methods without a TypeScript handler go, by config `routes` (longest
 * method-name prefix wins), to a backend implementing proto/mtgate_upstream.proto over gRPC. The
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
 */
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { CHANNEL_OPTIONS } from '../cluster/grpc.js'
import { protoDir } from '../cluster/proto.js'
import { LOADER_OPTIONS, type PbInvokeReply, type PbInvokeRequest, type PbTransport } from '../cluster/generated/proto.js'
import type { RpcErrorSpec, UpstreamRouting, UpstreamSettings } from '../config/types.js'
import type { RpcCall, RpcOutcome, TransportKind } from '../session/api.js'
import { decodeResult, encode, type TlMethodName } from '../tl/index.js'
import type { Logger } from '../util/log.js'

export interface UpstreamClient extends grpc.Client {
  Invoke(req: PbInvokeRequest, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: PbInvokeReply) => void): grpc.ClientUnaryCall
}

interface LoadedUpstream {
  service: grpc.ServiceDefinition
  Client: new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => UpstreamClient
}

let loaded: LoadedUpstream | undefined

/** mtgate.upstream.v1.Upstream: its definition (for servers) and client constructor (loaded once). */
export function upstreamProto(): LoadedUpstream {
  if (loaded) return loaded
  const pkg = protoLoader.loadSync('mtgate_upstream.proto', { ...LOADER_OPTIONS, includeDirs: [protoDir()] })
  const service = pkg['mtgate.upstream.v1.Upstream'] as unknown as grpc.ServiceDefinition
  loaded = { service, Client: grpc.makeGenericClientConstructor(service, 'Upstream') as unknown as LoadedUpstream['Client'] }
  return loaded
}

export const UPSTREAM_ERRORS = {
  timeout: { code: -503, message: 'Timeout' },
  internal: { code: 500, message: 'INTERNAL' },
  requestInvalid: { code: 400, message: 'INPUT_REQUEST_INVALID' },
} as const

/**
 * Channels to backends: big messages and quick reconnects as between mtgate nodes, but keepalive
 * pings no more often than the 5 minutes gRPC servers accept by default (Go's and C-core's
 * enforcement answers more frequent pings with GOAWAY too_many_pings), and only during calls.
 */
export const UPSTREAM_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  ...CHANNEL_OPTIONS,
  'grpc.keepalive_time_ms': 300_000,
  'grpc.keepalive_timeout_ms': 20_000,
  'grpc.keepalive_permit_without_calls': 0,
}

/** One configured upstream: a channel per target, round-robin, a bound on the calls in flight. */
class Upstream {
  readonly clients: { target: string; client: UpstreamClient }[]
  private next = 0
  inFlight = 0

  constructor(readonly settings: UpstreamSettings) {
    const { Client } = upstreamProto()
    this.clients = settings.targets.map((target) => ({ target, client: new Client(target, grpc.credentials.createInsecure(), UPSTREAM_CHANNEL_OPTIONS) }))
    // connect now, so that the first calls find out which targets are up
    for (const c of this.clients) c.client.getChannel().getConnectivityState(true)
  }

  /**
   * The next target round-robin among those with a connection up; when none is up, among those not
   * known to be failing; when all are failing, the next one (the call fails at once: 500 INTERNAL).
   */
  pick(): { target: string; client: UpstreamClient } {
    const n = this.clients.length
    const { READY, TRANSIENT_FAILURE } = grpc.connectivityState
    for (const usable of [(s: grpc.connectivityState) => s === READY, (s: grpc.connectivityState) => s !== TRANSIENT_FAILURE]) {
      for (let i = 0; i < n; i++) {
        const c = this.clients[(this.next + i) % n]!
        if (usable(c.client.getChannel().getConnectivityState(false))) {
          this.next = (this.next + i + 1) % n
          return c
        }
      }
    }
    const c = this.clients[this.next % n]!
    this.next = (this.next + 1) % n
    return c
  }

  close(): void {
    for (const c of this.clients) c.client.close()
  }
}

interface Route {
  upstream: Upstream
  deadlineMs: number
}

export interface UpstreamBridgeOptions {
  /** The answer to methods no route matches when `unrouted` names no upstream. */
  unknownMethodError: RpcErrorSpec
  log: Logger
}

export class UpstreamBridge {
  private readonly upstreams = new Map<string, Upstream>()
  /** Longest prefix first. */
  private readonly routes: { prefix: string; route: Route }[]
  private readonly unrouted: Route | undefined
  private readonly log: Logger

  constructor(
    config: UpstreamRouting,
    private readonly o: UpstreamBridgeOptions,
  ) {
    this.log = o.log.child({ mod: 'upstream' })
    for (const s of config.upstreams) this.upstreams.set(s.name, new Upstream(s))
    const route = (name: string, deadlineMs?: number): Route => {
      const upstream = this.upstreams.get(name)
      if (upstream === undefined) throw new Error(`upstream bridge: no upstream ${name}`)
      return { upstream, deadlineMs: deadlineMs ?? upstream.settings.deadlineMs }
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
    const u = this.upstreams.get(name)
    return u === undefined ? 0 : u.clients.filter((c) => c.client.getChannel().getConnectivityState(false) === grpc.connectivityState.READY).length
  }

  /** Calls in flight to upstream `name`. */
  inFlight(name: string): number {
    return this.upstreams.get(name)?.inFlight ?? 0
  }

  /** The router's fallback: forwards `call` to its upstream and turns the reply into an outcome. */
  async dispatch(call: RpcCall): Promise<RpcOutcome> {
    const route = this.match(call.method)
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
    let query: Buffer
    try {
      query = encode(call.query)
    } catch (e) {
      this.log.error({ method: call.method, err: (e as Error).message }, 'query does not encode in the newest layer: answering 500 INTERNAL')
      return { kind: 'error', ...UPSTREAM_ERRORS.internal }
    }
    const deadlineMs = Date.now() + route.deadlineMs
    const { target, client } = up.pick()
    up.inFlight++
    let reply: PbInvokeReply
    try {
      reply = await invoke(client, request(call, query, deadlineMs))
    } catch (e) {
      const err = e as grpc.ServiceError
      if (err.code === grpc.status.DEADLINE_EXCEEDED) {
        this.log.warn({ method: call.method, upstream: name, target, deadlineMs: route.deadlineMs }, 'upstream did not answer within the deadline: answering -503 Timeout')
        return { kind: 'error', ...UPSTREAM_ERRORS.timeout }
      }
      const reason = err.code === grpc.status.UNAVAILABLE ? 'upstream unreachable' : 'upstream call failed'
      this.log.warn({ method: call.method, upstream: name, target, grpcCode: err.code, err: err.details ?? err.message }, `${reason}: answering 500 INTERNAL`)
      return { kind: 'error', ...UPSTREAM_ERRORS.internal }
    } finally {
      up.inFlight--
    }
    return this.outcome(call, reply, name, target)
  }

  private outcome(call: RpcCall, reply: PbInvokeReply, upstream: string, target: string): RpcOutcome {
    if (reply.unbindUser) call.ctx.userId = undefined
    const bind = BigInt(reply.bindUserId || 0)
    if (bind !== 0n) call.ctx.userId = bind
    const bad = (why: string): RpcOutcome => {
      this.log.warn({ method: call.method, upstream, target, why }, 'bad upstream reply: answering 500 INTERNAL')
      return { kind: 'error', ...UPSTREAM_ERRORS.internal }
    }
    if (reply.outcome === 'rpcError') {
      const e = reply.rpcError
      if (e === null || e === undefined || !Number.isInteger(e.code) || e.code < -32768 || e.code > 32767 || !/^[A-Za-z0-9_]+$/.test(e.message)) {
        return bad(`malformed rpc_error ${JSON.stringify(e)}`)
      }
      return { kind: 'error', code: e.code, message: e.message }
    }
    if (reply.outcome !== 'result') return bad('neither result nor rpc_error')
    try {
      const result = decodeResult(call.method as TlMethodName, reply.result)
      return { kind: 'result', result: result as Extract<RpcOutcome, { kind: 'result' }>['result'], method: call.method }
    } catch (e) {
      return bad(`result is not a ${call.method} result: ${(e as Error).message}`)
    }
  }

  /** Closes every channel; calls in progress fail (500 INTERNAL). */
  close(): void {
    for (const u of this.upstreams.values()) u.close()
  }
}

/** One Invoke with the request's deadline as the gRPC deadline. */
function invoke(client: UpstreamClient, req: PbInvokeRequest): Promise<PbInvokeReply> {
  return new Promise((resolve, reject) => {
    client.Invoke(req, new grpc.Metadata(), { deadline: new Date(Number(req.deadlineMs)) }, (err, res) => (err ? reject(err) : resolve(res!)))
  })
}

/** The InvokeRequest of a call (query: the boxed query in the newest layer; deadlineMs: unix ms). */
export function request(call: RpcCall, query: Buffer, deadlineMs: number): PbInvokeRequest {
  const { ctx } = call
  const addr = ctx.connection.clientAddr
  const colon = addr.lastIndexOf(':')
  const c = ctx.client
  return {
    authKeyId: ctx.authKeyId.toString(),
    permAuthKeyId: (ctx.permAuthKeyId ?? 0n).toString(),
    sessionId: ctx.sessionId.toString(),
    msgId: ctx.msgId.toString(),
    userId: (ctx.userId ?? 0n).toString(),
    layer: ctx.layer ?? 0,
    client: c === undefined ? null : { apiId: c.apiId, deviceModel: c.deviceModel, systemVersion: c.systemVersion, appVersion: c.appVersion, systemLangCode: c.systemLangCode, langPack: c.langPack, langCode: c.langCode },
    clientIp: colon < 0 ? addr : addr.slice(0, colon).replace(/^\[|\]$/g, ''),
    clientPort: colon < 0 ? 0 : Number(addr.slice(colon + 1)) || 0,
    dcId: ctx.connection.dcId,
    deadlineMs: String(deadlineMs),
    method: call.method,
    constructorId: query.readUInt32LE(0),
    query,
    withoutUpdates: ctx.withoutUpdates,
    transport: TRANSPORTS[ctx.connection.transport],
    gatewayId: ctx.connection.gatewayId,
  }
}

const TRANSPORTS: Record<TransportKind, PbTransport> = { tcp: 'TRANSPORT_TCP', ws: 'TRANSPORT_WEBSOCKET', http: 'TRANSPORT_HTTP' }
