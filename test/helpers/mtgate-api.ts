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
import { upstreamProto } from '../../src/rpc/upstream.js'

type Cb<T> = (err: grpc.ServiceError | null, res?: T) => void
interface RawMtgateClient extends grpc.Client {
  Push(req: Partial<PbPushUpdatesRequest>, cb: Cb<PbPushReply>): void
  PushRpcResult(req: Partial<PbPushRpcResultRequest>, cb: Cb<PbPushReply>): void
  GetOnline(req: Partial<PbGetOnlineRequest>, cb: Cb<PbGetOnlineReply>): void
  WatchPresence(req: Partial<PbWatchPresenceRequest>): grpc.ClientReadableStream<PbPresenceEvent>
}

export interface MtgateApi {
  push(req: Partial<PbPushUpdatesRequest>): Promise<PbPushReply>
  pushRpcResult(req: Partial<PbPushRpcResultRequest>): Promise<PbPushReply>
  getOnline(userIds: bigint[]): Promise<PbGetOnlineReply>
  /** Opens a WatchPresence stream; `events` fills as they come. */
  watch(userIds?: bigint[]): { events: PbPresenceEvent[]; stream: grpc.ClientReadableStream<PbPresenceEvent>; ended: Promise<grpc.StatusObject | Error> }
  close(): void
}

export function mtgateApi(address: string): MtgateApi {
  const c = new (upstreamProto().MtgateClient)(address, grpc.credentials.createInsecure()) as unknown as RawMtgateClient
  const p = <Req, Res>(fn: (req: Req, cb: Cb<Res>) => void, req: Req): Promise<Res> =>
    new Promise((resolve, reject) => fn.call(c, req, (err, res) => (err ? reject(err) : resolve(res!))))
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
