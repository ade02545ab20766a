/**
 * A stand-in Teamgram BFF for tests: serves `/mtproto.<Service>/<method>` for the TL methods given
 * (raw protobuf bytes in and out) and records each call's path, metadata and request bytes.
 */
import * as grpc from '@grpc/grpc-js'
import { TEAMGRAM_METHODS } from '../../src/tl/generated/teamgram.js'

export interface BffCall {
  path: string
  method: string
  metadata: grpc.Metadata
  request: Buffer
  /** The deadline the call arrived with (ms from its arrival), Infinity when none. */
  deadlineInMs: number
}

/** A reply (protobuf bytes of the reply message) or a gRPC status (Teamgram's codes included). */
export type BffAnswer = { reply: Buffer } | { code: number; details: string }
export type BffHandler = (c: BffCall) => BffAnswer | Promise<BffAnswer>

export interface FakeBff {
  address: string
  calls: BffCall[]
  close(): Promise<void>
}

const identity = (b: Buffer): Buffer => b

export async function startFakeBff(handlers: Record<string, BffHandler>): Promise<FakeBff> {
  const server = new grpc.Server()
  const calls: BffCall[] = []
  const byService = new Map<string, [Record<string, grpc.MethodDefinition<Buffer, Buffer>>, grpc.UntypedServiceImplementation]>()
  for (const [method, handler] of Object.entries(handlers)) {
    const service = TEAMGRAM_METHODS[method]?.[0]
    if (service === undefined) throw new Error(`Teamgram has no rpc ${method}`)
    const rpc = TEAMGRAM_METHODS[method]![2] ?? method.replace(/\./g, '_')
    const path = `/mtproto.${service}/${rpc}`
    let s = byService.get(service)
    if (s === undefined) byService.set(service, (s = [{}, {}]))
    s[0][rpc] = { path, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity }
    s[1][rpc] = ((call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const d = call.getDeadline()
      const c: BffCall = { path, method, metadata: call.metadata, request: call.request, deadlineInMs: (d instanceof Date ? d.getTime() : Number(d)) - Date.now() }
      calls.push(c)
      Promise.resolve(handler(c)).then(
        (a) => ('reply' in a ? cb(null, a.reply) : cb({ code: a.code, details: a.details })),
        (e: Error) => cb({ code: grpc.status.INTERNAL, details: e.message }),
      )
    }) as grpc.handleUnaryCall<Buffer, Buffer>
  }
  for (const [def, impl] of byService.values()) server.addService(def as grpc.ServiceDefinition, impl)
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))))
  return {
    address: `127.0.0.1:${port}`,
    calls,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  }
}
