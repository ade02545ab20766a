/**
 * The Mtgate service's work across a cluster, on a session node (BackendApiHost):
 * - Push goes where SessionNode.push sends it (every session node: see there why);
 * - PushRpcResult goes to the node owning the auth key the deferred query came with (the node that
 *   sent the query upstream), asked with SCOPE_HEADER local, then to the other nodes if it missed;
 * - GetOnline asks every session node for its own keys and merges the answers (a node that fails is
 *   logged and left out);
 * - WatchPresence streams this node's keys: each event names its node, and a backend that wants
 *   every key watches every session node (they are registered in etcd).
 */
import * as grpc from '@grpc/grpc-js'
import type { ClusterTls } from '../config/cluster.js'
import type { PbGetOnlineReply, PbPushReply, PbPushRpcResultRequest } from './generated/proto.js'
import { SCOPE_HEADER, type BackendApiHost, type NodeOnlineKey } from '../rpc/backend-api.js'
import type { DeferredKey } from '../rpc/deferred-results.js'
import { upstreamProto, type MtgateClient } from '../rpc/upstream-proto.js'
import type { PushTarget } from '../session/api.js'
import type { Logger } from '../util/log.js'
import { CHANNEL_OPTIONS, clientCredentials, deadline } from './grpc.js'


export interface ClusterBackendApiOptions {
  nodeId: string
  /** This node's own work (SessionSide.localBackendApi). */
  local: BackendApiHost
  /** SessionNode's push to every session node. */
  push(target: PushTarget, body: Buffer): Promise<number>
  /** The other session nodes: id → gRPC address. */
  peers(): ReadonlyMap<string, string>
  /** The node owning an auth key (rendezvous ring). */
  owner(authKeyId: bigint): string
  tls: ClusterTls | undefined
  callTimeoutMs: number
  log: Logger
}

export class ClusterBackendApi implements BackendApiHost {
  private readonly clients = new Map<string, { address: string; client: MtgateClient }>()

  constructor(private readonly o: ClusterBackendApiOptions) {}

  /** This node's own work (calls from other session nodes, SCOPE_HEADER local). */
  get local(): BackendApiHost {
    return this.o.local
  }

  push(target: PushTarget, updates: Buffer): Promise<number> {
    return this.o.push(target, updates)
  }

  async pushRpcResult(k: DeferredKey, reply: { result: Buffer } | { rpcError: { code: number; message: string } }): Promise<boolean> {
    if (await this.o.local.pushRpcResult(k, reply)) return true
    const req: Partial<PbPushRpcResultRequest> = { authKeyId: String(k.authKeyId), sessionId: String(k.sessionId), msgId: String(k.msgId), ...reply }
    const ask = async (node: string): Promise<boolean> => (await this.call<PbPushReply>(node, (c, meta, opts, cb) => c.PushRpcResult(req, meta, opts, cb)))?.delivered ?? false
    const owner = this.o.owner(k.authKeyId)
    if (owner !== this.o.nodeId && (await ask(owner))) return true
    // a teamgram-bff call waits under the permanent key, while the node holding it is the one of the
    // temporary key that sent it: on a miss the other nodes are asked
    const rest = [...this.o.peers().keys()].filter((id) => id !== owner && id !== this.o.nodeId)
    return (await Promise.all(rest.map(ask))).some(Boolean)
  }

  async online(userIds: bigint[]): Promise<NodeOnlineKey[]> {
    const ids = userIds.map(String)
    const remote = await Promise.all([...this.o.peers().keys()].map((id) => this.call<PbGetOnlineReply>(id, (c, meta, opts, cb) => c.GetOnline({ userIds: ids }, meta, opts, cb))))
    const out = await this.o.local.online(userIds)
    for (const r of remote) {
      for (const k of r?.keys ?? []) {
        const userId = BigInt(k.userId)
        out.push({ userId: userId === 0n ? undefined : userId, authKeyId: BigInt(k.authKeyId), sessions: k.sessions, nodeId: k.nodeId })
      }
    }
    return out
  }

  watch(fn: Parameters<BackendApiHost['watch']>[0]): ReturnType<BackendApiHost['watch']> {
    return this.o.local.watch(fn)
  }

  /** One call to a peer's Mtgate service (local scope); undefined when it failed (logged). */
  private call<T>(peerId: string, fn: (c: MtgateClient, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: T) => void) => void): Promise<T | undefined> {
    const address = this.o.peers().get(peerId)
    if (address === undefined) {
      this.o.log.warn({ peer: peerId }, 'backend api: no such session node')
      return Promise.resolve(undefined)
    }
    let c = this.clients.get(peerId)
    if (c === undefined || c.address !== address) {
      c?.client.close()
      c = { address, client: new (upstreamProto().MtgateClient)(address, clientCredentials(this.o.tls), CHANNEL_OPTIONS) }
      this.clients.set(peerId, c)
    }
    const meta = new grpc.Metadata()
    meta.set(SCOPE_HEADER, 'local')
    return new Promise((resolve) =>
      fn(c.client, meta, { deadline: deadline(this.o.callTimeoutMs) }, (err, res) => {
        if (err) this.o.log.warn({ peer: peerId, err: err.message }, 'backend api: a session node failed; its part is missing')
        resolve(err ? undefined : res)
      }),
    )
  }

  close(): void {
    for (const c of this.clients.values()) c.client.close()
    this.clients.clear()
  }
}
