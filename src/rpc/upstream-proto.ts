/** The gRPC services of proto/mtgate_upstream.proto: Upstream (a backend's) and Mtgate (ours), loaded once. */
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { protoDir } from '../cluster/proto.js'
import { decodeInvokeReply, encodeInvokeRequest, type InvokeReplyIn, type InvokeRequestIn } from './upstream-wire.js'
import {
  LOADER_OPTIONS,
  type PbGetOnlineReply,
  type PbGetOnlineRequest,
  type PbPresenceEvent,
  type PbPushReply,
  type PbPushRpcResultRequest,
  type PbPushUpdatesRequest,
  type PbWatchPresenceRequest,
} from '../cluster/generated/proto.js'

export interface UpstreamClient extends grpc.Client {
  Invoke(req: InvokeRequestIn, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: InvokeReplyIn) => void): grpc.ClientUnaryCall
  InvokeStream(meta: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientDuplexStream<InvokeRequestIn, InvokeReplyIn>
}

type Cb<T> = (err: grpc.ServiceError | null, res?: T) => void

/** A client of mtgate.upstream.v1.Mtgate (session nodes asking each other; tests acting as backends). */
export interface MtgateClient extends grpc.Client {
  Push(req: Partial<PbPushUpdatesRequest>, meta: grpc.Metadata, opts: grpc.CallOptions, cb: Cb<PbPushReply>): grpc.ClientUnaryCall
  PushRpcResult(req: Partial<PbPushRpcResultRequest>, meta: grpc.Metadata, opts: grpc.CallOptions, cb: Cb<PbPushReply>): grpc.ClientUnaryCall
  GetOnline(req: Partial<PbGetOnlineRequest>, meta: grpc.Metadata, opts: grpc.CallOptions, cb: Cb<PbGetOnlineReply>): grpc.ClientUnaryCall
  WatchPresence(req: Partial<PbWatchPresenceRequest>, meta?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientReadableStream<PbPresenceEvent>
}

interface LoadedUpstream {
  /** mtgate.upstream.v1.Upstream, for backends' servers (tests); our client writes requests with encodeInvokeRequest. */
  service: grpc.ServiceDefinition
  Client: new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => UpstreamClient
  /** mtgate.upstream.v1.Mtgate, which mtgate serves to backends. */
  mtgate: grpc.ServiceDefinition
  MtgateClient: new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => MtgateClient
}

let loaded: LoadedUpstream | undefined

export function upstreamProto(): LoadedUpstream {
  if (loaded) return loaded
  const pkg = protoLoader.loadSync('mtgate_upstream.proto', { ...LOADER_OPTIONS, includeDirs: [protoDir()] })
  const service = pkg['mtgate.upstream.v1.Upstream'] as unknown as grpc.ServiceDefinition
  const mtgate = pkg['mtgate.upstream.v1.Mtgate'] as unknown as grpc.ServiceDefinition
  loaded = {
    service,
    Client: grpc.makeGenericClientConstructor(handEncoded(service), 'Upstream') as unknown as LoadedUpstream['Client'],
    mtgate,
    MtgateClient: grpc.makeGenericClientConstructor(mtgate, 'Mtgate') as unknown as LoadedUpstream['MtgateClient'],
  }
  return loaded
}

/** The Upstream service with InvokeRequest written and InvokeReply read by upstream-wire.ts. */
function handEncoded(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const hand = { requestSerialize: encodeInvokeRequest, responseDeserialize: decodeInvokeReply }
  return { ...service, Invoke: { ...service.Invoke!, ...hand }, InvokeStream: { ...service.InvokeStream!, ...hand } }
}
