/**
 * A backend's client of mtgate's Mtgate service (proto/mtgate_upstream.proto), promisified, for
 * tests: what a backend in another language does with its generated stubs.
 */
import * as grpc from '@grpc/grpc-js'
import type {
  PbGetOnlineReply,
  PbGetOnlineRequest,
  PbPresenceEvent,
  PbPushReply,
  PbPushRpcResultRequest,
  PbPushUpdatesRequest,
  PbWatchPresenceRequest,
} from '../../src/cluster/generated/proto.js'
import { upstreamProto, type MtgateClient } from '../../src/rpc/upstream-proto.js'

export interface MtgateApi {
  push(req: Partial<PbPushUpdatesRequest>): Promise<PbPushReply>
  pushRpcResult(req: Partial<PbPushRpcResultRequest>): Promise<PbPushReply>
  getOnline(userIds: bigint[]): Promise<PbGetOnlineReply>
  /** Opens a WatchPresence stream; `events` fills as they come. */
  watch(userIds?: bigint[]): { events: PbPresenceEvent[]; stream: grpc.ClientReadableStream<PbPresenceEvent>; ended: Promise<grpc.StatusObject | Error> }
  close(): void
}

export function mtgateApi(address: string): MtgateApi {
  const c: MtgateClient = new (upstreamProto().MtgateClient)(address, grpc.credentials.createInsecure())
  type Unary<Req, Res> = (req: Req, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => unknown
  const p = <Req, Res>(fn: Unary<Req, Res>, req: Req): Promise<Res> =>
    new Promise((resolve, reject) => fn.call(c, req, new grpc.Metadata(), {}, (err, res) => (err ? reject(err) : resolve(res!))))
  return {
    push: (req) => p(c.Push, req),
    pushRpcResult: (req) => p(c.PushRpcResult, req),
    getOnline: (userIds) => p(c.GetOnline, { userIds: userIds.map(String) }),
    watch(userIds = []) {
      const stream = c.WatchPresence({ userIds: userIds.map(String) })
      const events: PbPresenceEvent[] = []
      stream.on('data', (e: PbPresenceEvent) => events.push(e))
      const ended = new Promise<grpc.StatusObject | Error>((resolve) => {
        stream.on('status', resolve)
        stream.on('error', resolve)
      })
      return { events, stream, ended }
    },
    close: () => c.close(),
  }
}
