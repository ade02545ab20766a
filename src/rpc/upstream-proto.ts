/** The gRPC services of proto/mtgate_upstream.proto: Upstream (a backend's) and Mtgate (ours), loaded once. */
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { protoDir } from '../cluster/proto.js'
import { LOADER_OPTIONS, type PbInvokeReply, type PbInvokeRequest } from '../cluster/generated/proto.js'

export interface UpstreamClient extends grpc.Client {
  Invoke(req: PbInvokeRequest, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: PbInvokeReply) => void): grpc.ClientUnaryCall
  InvokeStream(meta: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientDuplexStream<PbInvokeRequest, PbInvokeReply>
}

interface LoadedUpstream {
  /** mtgate.upstream.v1.Upstream, for backends' servers (tests) and our client. */
  service: grpc.ServiceDefinition
  Client: new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => UpstreamClient
  /** mtgate.upstream.v1.Mtgate, which mtgate serves to backends. */
  mtgate: grpc.ServiceDefinition
  MtgateClient: grpc.ServiceClientConstructor
}

let loaded: LoadedUpstream | undefined

export function upstreamProto(): LoadedUpstream {
  if (loaded) return loaded
  const pkg = protoLoader.loadSync('mtgate_upstream.proto', { ...LOADER_OPTIONS, includeDirs: [protoDir()] })
  const service = pkg['mtgate.upstream.v1.Upstream'] as unknown as grpc.ServiceDefinition
  const mtgate = pkg['mtgate.upstream.v1.Mtgate'] as unknown as grpc.ServiceDefinition
  loaded = {
    service,
    Client: grpc.makeGenericClientConstructor(service, 'Upstream') as unknown as LoadedUpstream['Client'],
    mtgate,
    MtgateClient: grpc.makeGenericClientConstructor(mtgate, 'Mtgate'),
  }
  return loaded
}
