/**
 * A real gRPC upstream backend for tests: a grpc-js server implementing
 * mtgate.upstream.v1.Upstream (proto/mtgate_upstream.proto) with a handler written in the test.
 */
import * as grpc from '@grpc/grpc-js'
import type { PbInvokeReply, PbInvokeRequest } from '../../src/cluster/generated/proto.js'
import { upstreamProto } from '../../src/rpc/upstream.js'
import type { InvokeRequestIn } from '../../src/rpc/upstream-wire.js'

/** An InvokeRequest with every field at its default but those in `o` (as a test or bench calls a backend itself). */
export function invokeRequest(o: Partial<InvokeRequestIn>): InvokeRequestIn {
  return {
    authKeyId: 0n,
    permAuthKeyId: 0n,
    sessionId: 0n,
    msgId: 0n,
    userId: 0n,
    layer: 0,
    client: null,
    clientIp: '',
    clientPort: 0,
    dcId: 0,
    deadlineMs: 0,
    method: '',
    constructorId: 0,
    query: Buffer.alloc(0),
    withoutUpdates: false,
    transport: 'TRANSPORT_UNSPECIFIED',
    gatewayId: '',
    callId: 0,
    traceparent: '',
    tracestate: '',
    ...o,
  }
}

/**
 * What a test handler replies: the oneof as one of its members (or deferred), and the reply's
 * actions; or `wire`: these bytes on the wire as the InvokeReply message, as they are.
 */
export type Reply = ({ result: Buffer } | { rpcError: { code: number; message: string } } | { deferred: true } | { wire: Buffer }) & {
  bindUserId?: bigint
  unbindUser?: boolean
  closeConnection?: boolean
  destroyAuthKey?: boolean
}

export type UpstreamHandler = (req: PbInvokeRequest) => Promise<Reply> | Reply

export interface TestUpstream {
  /** host:port to put in `upstreams[].targets`. */
  address: string
  port: number
  /** Every request received, in order. */
  requests: PbInvokeRequest[]
  /** The metadata of every unary Invoke, in order (a stream's requests come with the stream's). */
  metadata: grpc.Metadata[]
  stop(): Promise<void>
}

/** Starts a backend on host:port (port 0 = any free one). */
export async function startUpstream(handler: UpstreamHandler, host = '127.0.0.1', port = 0): Promise<TestUpstream> {
  const server = new grpc.Server()
  const requests: PbInvokeRequest[] = []
  const metadata: grpc.Metadata[] = []
  const reply = (r: Reply, callId = '0'): PbInvokeReply =>
    ('wire' in r ? r.wire : { ...r, bindUserId: String(r.bindUserId ?? 0n), unbindUser: r.unbindUser ?? false, callId }) as PbInvokeReply
  const { service } = upstreamProto()
  // a Buffer reply goes on the wire as it is
  const asIs = (serialize: (r: unknown) => Buffer) => (r: unknown) => (Buffer.isBuffer(r) ? r : serialize(r))
  const passing: grpc.ServiceDefinition = {
    ...service,
    Invoke: { ...service.Invoke!, responseSerialize: asIs(service.Invoke!.responseSerialize) },
    InvokeStream: { ...service.InvokeStream!, responseSerialize: asIs(service.InvokeStream!.responseSerialize) },
  }
  server.addService(passing, {
    Invoke: (call: grpc.ServerUnaryCall<PbInvokeRequest, PbInvokeReply>, cb: grpc.sendUnaryData<PbInvokeReply>) => {
      requests.push(call.request)
      metadata.push(call.metadata)
      Promise.resolve()
        .then(() => handler(call.request))
        .then(
          (r) => cb(null, reply(r)),
          (e: Error) => cb({ code: grpc.status.UNKNOWN, details: e.message }),
        )
    },
    // each request handled as Invoke handles one; a handler that throws gets no reply (the call times out)
    InvokeStream: (call: grpc.ServerDuplexStream<PbInvokeRequest, PbInvokeReply>) => {
      call.on('data', (req: PbInvokeRequest) => {
        requests.push(req)
        Promise.resolve()
          .then(() => handler(req))
          .then(
            (r) => call.write(reply(r, String(req.callId))),
            () => undefined,
          )
      })
      call.on('end', () => call.end())
    },
  })
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  )
  return {
    address: `${host}:${bound}`,
    port: bound,
    requests,
    metadata,
    stop: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown()
        resolve()
      }),
  }
}
