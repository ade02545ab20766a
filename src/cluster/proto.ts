/**
 * The gRPC service definitions (proto/mtgate_session.proto, proto/health.proto), loaded at start-up
 * with @grpc/proto-loader, and the typed clients and server implementations of them. The message
 * types are generated from the .proto files (./generated/proto.ts, `npm run gen:proto`), together with
 * the loader options they describe: camelCase field names, int64 as decimal strings (converted to
 * bigint at the edges by the helpers below), bytes as Buffer, `oneofs: true` (the decoded object
 * names the set member of a oneof in a virtual field, e.g. `item: 'data'`).
 */
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import type { AuthKeyState } from '../store/types.js'
import { LOADER_OPTIONS, type Int64, type PbAuthKeyState, type PbHealthCheckResponse_ServingStatus, type PbHealthService, type PbSessionService } from './generated/proto.js'
import type { WireGatewayFrame, WireSessionFrame } from './wire.js'
import { decodeGatewayFrame, decodeSessionFrame } from './wire-decode.js'
import { encodeGatewayFrame, encodeSessionFrame } from './wire-encode.js'

export type * from './generated/proto.js'

type Unary<Req, Res> = (req: Req, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => grpc.ClientUnaryCall

/** An rpc of a generated service description (Pb<Service>Service) with no stream on either side. */
interface UnaryRpc<Req = unknown, Res = unknown> {
  request: Req
  response: Res
  requestStream: false
  responseStream: false
}

/** The unary rpcs of a service as client methods. */
type UnaryClient<S> = { [K in keyof S as S[K] extends UnaryRpc ? K : never]: S[K] extends UnaryRpc<infer Req, infer Res> ? Unary<Req, Res> : never }

/** The unary rpcs of a service as server handlers. */
type UnaryServer<S> = { [K in keyof S as S[K] extends UnaryRpc ? K : never]: S[K] extends UnaryRpc<infer Req, infer Res> ? grpc.handleUnaryCall<Req, Res> : never }

/**
 * The client of mtgate.session.v1.Session, typed. Connect carries the stream messages in the shapes
 * of the hand-written codec (src/cluster/wire*.ts).
 */
export interface SessionClient extends grpc.Client, UnaryClient<PbSessionService> {
  Connect(meta: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientDuplexStream<WireGatewayFrame, WireSessionFrame>
}

/** What a session node implements. */
export interface SessionServerImpl extends grpc.UntypedServiceImplementation, UnaryServer<PbSessionService> {
  Connect: grpc.handleBidiStreamingCall<WireGatewayFrame, WireSessionFrame>
}

export type HealthStatus = PbHealthCheckResponse_ServingStatus
export interface HealthClient extends grpc.Client, UnaryClient<PbHealthService> {}

/** The directory holding the .proto files: `proto/` at the repository root (found upwards from here). */
export function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'proto')
    if (existsSync(join(p, 'mtgate_session.proto'))) return p
    dir = dirname(dir)
  }
  throw new Error('proto/mtgate_session.proto not found above ' + dirname(fileURLToPath(import.meta.url)))
}

interface Loaded {
  session: grpc.ServiceDefinition<SessionServerImpl>
  SessionClient: new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => SessionClient
  health: grpc.ServiceDefinition
  HealthClient: new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => HealthClient
}

let loaded: Loaded | undefined

/** Loads (once) and returns the service definitions and client constructors. */
export function protos(): Loaded {
  if (loaded) return loaded
  const dir = protoDir()
  const pkg = protoLoader.loadSync(['mtgate_session.proto', 'health.proto'], { ...LOADER_OPTIONS, includeDirs: [dir] })
  const loadedSession = pkg['mtgate.session.v1.Session'] as unknown as grpc.ServiceDefinition<SessionServerImpl>
  // The hot-path stream uses the hand-written codec of the same messages (src/cluster/wire*.ts).
  const session = {
    ...loadedSession,
    Connect: {
      ...loadedSession.Connect,
      requestSerialize: encodeGatewayFrame,
      requestDeserialize: decodeGatewayFrame,
      responseSerialize: encodeSessionFrame,
      responseDeserialize: decodeSessionFrame,
    },
  } as grpc.ServiceDefinition<SessionServerImpl>
  const health = pkg['grpc.health.v1.Health'] as unknown as grpc.ServiceDefinition
  loaded = {
    session,
    SessionClient: grpc.makeGenericClientConstructor(session, 'Session') as unknown as Loaded['SessionClient'],
    health,
    HealthClient: grpc.makeGenericClientConstructor(health, 'Health') as unknown as Loaded['HealthClient'],
  }
  return loaded
}

/** int64 string (or number) from the wire → bigint. */
export function big(v: Int64 | number | undefined | null): bigint {
  if (v === undefined || v === null || v === '') return 0n
  return BigInt(v)
}

/** AuthKeyState → its message (has_* flags for the fields that are set). */
export function pbState(s: AuthKeyState): PbAuthKeyState {
  return {
    hasUserId: s.userId !== undefined,
    userId: i64(s.userId ?? 0n),
    hasLayer: s.layer !== undefined,
    layer: s.layer ?? 0,
    hasClient: s.client !== undefined,
    client: s.client ?? '',
  }
}

/** The message → AuthKeyState (only the fields flagged as set). */
export function fromPbState(p: PbAuthKeyState | null | undefined): AuthKeyState {
  const s: AuthKeyState = {}
  if (!p) return s
  if (p.hasUserId) s.userId = big(p.userId)
  if (p.hasLayer) s.layer = p.layer
  if (p.hasClient) s.client = p.client
  return s
}

/** bigint → int64 for the wire. */
export function i64(v: bigint): Int64 {
  return v.toString()
}
