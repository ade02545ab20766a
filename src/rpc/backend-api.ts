/**
 * mtgate.upstream.v1.Mtgate: what backends call on mtgate (proto/mtgate_upstream.proto) — push
 * updates, answer a deferred query, ask who is online, watch presence. The service is the same in
 * `mtgate serve` and on cluster session nodes; a BackendApiHost says how each does the work.
 *
 * Bad requests get INVALID_ARGUMENT with the reason (and a log line); a push's `updates` must be a
 * boxed Updates of the newest layer, since each session gets it converted to its client's layer.
 */
import * as grpc from '@grpc/grpc-js'
import type {
  PbGetOnlineReply,
  PbGetOnlineRequest,
  PbOnlineKey,
  PbPresenceEvent,
  PbPushReply,
  PbPushRpcResultRequest,
  PbPushUpdatesRequest,
  PbWatchPresenceRequest,
} from '../cluster/generated/proto.js'
import { big } from '../cluster/proto.js'
import type { PushTarget } from '../session/api.js'
import type { OnlineKey, PresenceChange } from '../session/presence.js'
import { decode } from '../tl/index.js'
import type { Logger } from '../util/log.js'
import type { DeferredKey } from './deferred-results.js'
import { upstreamProto } from './upstream-proto.js'

/** An online key and the node holding its sessions. */
export interface NodeOnlineKey extends OnlineKey {
  nodeId: string
}

export interface BackendApiHost {
  /** Pushes a boxed Updates (newest layer) to the target's sessions; resolves how many got it. */
  push(target: PushTarget, updates: Buffer): Promise<number>
  /** Completes a deferred query; false when none waits under that key. */
  pushRpcResult(k: DeferredKey, reply: { result: Buffer } | { rpcError: { code: number; message: string } }): Promise<boolean>
  /** The online keys of these users. */
  online(userIds: bigint[]): Promise<NodeOnlineKey[]>
  /** This node's online keys now, then every change here until the returned function is called. */
  watch(fn: (change: PresenceChange & { nodeId: string }) => void): { snapshot: NodeOnlineKey[]; stop(): void }
}

/** The constructors of type Updates (the same in every layer). */
const UPDATES = new Set(['updatesTooLong', 'updateShortMessage', 'updateShortChatMessage', 'updateShort', 'updatesCombined', 'updates', 'updateShortSentMessage'])

/** GetOnline asks for at most this many users at once. */
const MAX_USERS = 10_000
/** A WatchPresence stream whose client does not read gets this much queued, then it is ended. */
const MAX_WATCH_BUFFER = 4 << 20

class BadRequest extends Error {}

/** Checks that `updates` is a boxed Updates object. */
function checkUpdates(updates: Buffer): void {
  let name: string
  try {
    name = decode(updates)._
  } catch (e) {
    throw new BadRequest(`updates: not TL of the newest layer (${(e as Error).message})`)
  }
  if (!UPDATES.has(name)) throw new BadRequest(`updates: ${name} is not of type Updates`)
}

function pushTarget(req: PbPushUpdatesRequest): PushTarget {
  switch (req.target) {
    case 'userId': {
      const except = big(req.exceptAuthKeyId)
      return except === 0n ? { userId: big(req.userId) } : { userId: big(req.userId), exceptAuthKeyId: except }
    }
    case 'authKeyId':
      return { authKeyId: big(req.authKeyId) }
    case 'session':
      if (req.session === null) break
      return { authKeyId: big(req.session.authKeyId), sessionId: big(req.session.sessionId) }
  }
  throw new BadRequest('no target (user_id, auth_key_id or session)')
}

function pbKey(k: NodeOnlineKey): PbOnlineKey {
  return { userId: String(k.userId ?? 0n), authKeyId: String(k.authKeyId), sessions: k.sessions, nodeId: k.nodeId }
}

/**
 * A call carrying this header with the value `local` asks a cluster node for its own sessions only
 * (how session nodes ask each other); backends never send it.
 */
export const SCOPE_HEADER = 'mtgate-scope'

/**
 * The Mtgate service implementation over `host` (`local` for calls with SCOPE_HEADER local).
 * `streams` gets an `end` function of every open WatchPresence stream (removed when it ends), for
 * the server to end them when it stops.
 */
export function mtgateService(host: BackendApiHost, parentLog: Logger, streams = new Set<() => void>(), local = host): grpc.UntypedServiceImplementation {
  const log = parentLog.child({ mod: 'backend-api' })
  function unary<Req, Res>(name: string, fn: (req: Req, host: BackendApiHost) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, cb) => {
      fn(call.request, call.metadata.get(SCOPE_HEADER)[0] === 'local' ? local : host).then(
        (res) => cb(null, res),
        (e: unknown) => {
          const bad = e instanceof BadRequest
          log.warn({ rpc: name, peer: call.getPeer(), err: (e as Error).message }, bad ? 'backend api: bad request' : 'backend api: call failed')
          cb({ code: bad ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL, details: (e as Error).message })
        },
      )
    }
  }
  return {
    Push: unary('Push', async (req: PbPushUpdatesRequest, host): Promise<PbPushReply> => {
      const target = pushTarget(req)
      checkUpdates(req.updates)
      const n = await host.push(target, req.updates)
      return { sessions: String(n), delivered: n > 0 }
    }),
    PushRpcResult: unary('PushRpcResult', async (req: PbPushRpcResultRequest, host): Promise<PbPushReply> => {
      const k: DeferredKey = { authKeyId: big(req.authKeyId), sessionId: big(req.sessionId), msgId: big(req.msgId) }
      let reply: { result: Buffer } | { rpcError: { code: number; message: string } }
      if (req.outcome === 'result') reply = { result: req.result }
      else if (req.outcome === 'rpcError' && req.rpcError !== null) reply = { rpcError: req.rpcError }
      else throw new BadRequest('neither result nor rpc_error')
      const delivered = await host.pushRpcResult(k, reply)
      return { sessions: delivered ? '1' : '0', delivered }
    }),
    GetOnline: unary('GetOnline', async (req: PbGetOnlineRequest, host): Promise<PbGetOnlineReply> => {
      if (req.userIds.length > MAX_USERS) throw new BadRequest(`user_ids: ${req.userIds.length} > ${MAX_USERS}`)
      return { keys: (await host.online(req.userIds.map(big))).map(pbKey) }
    }),
    WatchPresence: (call: grpc.ServerWritableStream<PbWatchPresenceRequest, PbPresenceEvent>) => {
      const users = call.request.userIds.length === 0 ? undefined : new Set(call.request.userIds.map(big))
      const wanted = (userId: bigint | undefined): boolean => users === undefined || (userId !== undefined && users.has(userId))
      let ended = false
      const write = (key: NodeOnlineKey, online: boolean, snapshot: boolean, atMs: number): void => {
        if (ended || !wanted(key.userId)) return
        if (call.writableLength > MAX_WATCH_BUFFER) {
          log.warn({ peer: call.getPeer() }, 'backend api: WatchPresence client does not read; ending its stream')
          end({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'presence events not read' })
          return
        }
        call.write({ key: pbKey(key), online, snapshot, atMs: String(atMs) })
      }
      const w = host.watch((c) => write(c, c.online, false, c.atMs))
      const end = (status?: Partial<grpc.StatusObject>): void => {
        if (ended) return
        ended = true
        streams.delete(stopping)
        w.stop()
        // grpc-js ends a server stream with this status once what is queued is written
        if (status !== undefined) call.emit('error', Object.assign(new Error(status.details), status))
      }
      const stopping = (): void => end({ code: grpc.status.UNAVAILABLE, details: 'mtgate stopping' })
      streams.add(stopping)
      const now = Date.now()
      for (const k of w.snapshot) write(k, true, true, now)
      call.on('cancelled', () => end())
      call.on('close', () => end())
      call.on('error', () => end())
    },
  }
}

export interface BackendApiServer {
  /** host:port bound (the configured port, or the one given for port 0). */
  address: string
  close(): Promise<void>
}

/** Serves the Mtgate service alone on `address` (mtgate serve's backend_api). */
export async function serveBackendApi(address: string, host: BackendApiHost, log: Logger): Promise<BackendApiServer> {
  const server = new grpc.Server()
  const streams = new Set<() => void>()
  server.addService(upstreamProto().mtgate, mtgateService(host, log, streams))
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))))
  const bound = `${address.slice(0, address.lastIndexOf(':'))}:${port}`
  return {
    address: bound,
    close: () =>
      new Promise<void>((resolve) => {
        for (const end of [...streams]) end()
        const t = setTimeout(() => server.forceShutdown(), 2000)
        server.tryShutdown(() => {
          clearTimeout(t)
          resolve()
        })
      }),
  }
}
