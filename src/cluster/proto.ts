/**
 * The gRPC service definitions (proto/mtgate_session.proto, proto/health.proto), loaded at start-up
 * with @grpc/proto-loader, and hand-written TS types matching them on both ends.
 *
 * Loader options: camelCase field names, int64 as decimal strings (converted to bigint at the edges
 * by the helpers below), bytes as Buffer, `oneofs: true` (the decoded object names the set member of
 * a oneof in a virtual field, e.g. `item: 'data'`).
 */
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import type { AuthKeyState } from '../store/types.js'
import { decodeGatewayFrame, decodeSessionFrame, encodeGatewayFrame, encodeSessionFrame, type WireGatewayFrame, type WireSessionFrame } from './wire.js'

/** int64 on the wire: a decimal string when decoded; string or number accepted when encoding. */
export type Int64 = string

export interface PbAuthKey {
  id: Int64
  key: Buffer
  type: number
  expiresAt: Int64
  createdAt: Int64
}
export interface PbAuthKeyIdRequest {
  authKeyId: Int64
}
export interface PbQueryAuthKeyRequest {
  authKeyId: Int64
  gatewayId: string
}
export interface PbQueryAuthKeyReply {
  found: boolean
  key: PbAuthKey | null
}
export interface PbPutAuthKeyReply {
  created: boolean
}
export interface PbServerSalt {
  salt: Int64
  validSince: Int64
  validUntil: Int64
}
export interface PbSaveSaltsRequest {
  authKeyId: Int64
  salts: PbServerSalt[]
}
export interface PbSaltsReply {
  salts: PbServerSalt[]
}
export interface PbBinding {
  tempId: Int64
  permId: Int64
  type: number
  expiresAt: Int64
}
export interface PbBindingReply {
  found: boolean
  binding: PbBinding | null
}
export interface PbBoolReply {
  value: boolean
}
export interface PbExpireTempRequest {
  now: Int64
}
export interface PbCountReply {
  count: Int64
}
export type PbPushRequest = { body: Buffer; fanOut: boolean } & ({ authKeyId: Int64; userId?: undefined } | { userId: Int64; authKeyId?: undefined })
export type PbEmpty = Record<string, never>
export interface PbAuthKeyState {
  hasUserId: boolean
  userId: Int64
  hasLayer: boolean
  layer: number
  hasClient: boolean
  client: string
}
export interface PbSaveStateRequest {
  authKeyId: Int64
  state: PbAuthKeyState | null
}
export interface PbStateReply {
  found: boolean
  state: PbAuthKeyState | null
}
export interface PbSessionRequest {
  authKeyId: Int64
  sessionId: Int64
  forwarded: boolean
}

type Unary<Req, Res> = (req: Req, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => grpc.ClientUnaryCall

/** The generated client of mtgate.session.v1.Session, typed. */
export interface SessionClient extends grpc.Client {
  QueryAuthKey: Unary<PbQueryAuthKeyRequest, PbQueryAuthKeyReply>
  PutAuthKey: Unary<PbAuthKey, PbPutAuthKeyReply>
  SaveSalts: Unary<PbSaveSaltsRequest, PbEmpty>
  LoadSalts: Unary<PbAuthKeyIdRequest, PbSaltsReply>
  BindAuthKey: Unary<PbBinding, PbEmpty>
  GetBinding: Unary<PbAuthKeyIdRequest, PbBindingReply>
  DestroyAuthKey: Unary<PbAuthKeyIdRequest, PbBoolReply>
  ExpireTemp: Unary<PbExpireTempRequest, PbCountReply>
  SaveState: Unary<PbSaveStateRequest, PbEmpty>
  LoadState: Unary<PbAuthKeyIdRequest, PbStateReply>
  CreateSession: Unary<PbSessionRequest, PbBoolReply>
  CloseSession: Unary<PbSessionRequest, PbBoolReply>
  Push: Unary<PbPushRequest, PbCountReply>
  Connect(meta: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientDuplexStream<WireGatewayFrame, WireSessionFrame>
}

type UnaryImpl<Req, Res> = grpc.handleUnaryCall<Req, Res>

/** What a session node implements. */
export interface SessionServerImpl extends grpc.UntypedServiceImplementation {
  QueryAuthKey: UnaryImpl<PbQueryAuthKeyRequest, PbQueryAuthKeyReply>
  PutAuthKey: UnaryImpl<PbAuthKey, PbPutAuthKeyReply>
  SaveSalts: UnaryImpl<PbSaveSaltsRequest, PbEmpty>
  LoadSalts: UnaryImpl<PbAuthKeyIdRequest, PbSaltsReply>
  BindAuthKey: UnaryImpl<PbBinding, PbEmpty>
  GetBinding: UnaryImpl<PbAuthKeyIdRequest, PbBindingReply>
  DestroyAuthKey: UnaryImpl<PbAuthKeyIdRequest, PbBoolReply>
  ExpireTemp: UnaryImpl<PbExpireTempRequest, PbCountReply>
  SaveState: UnaryImpl<PbSaveStateRequest, PbEmpty>
  LoadState: UnaryImpl<PbAuthKeyIdRequest, PbStateReply>
  CreateSession: UnaryImpl<PbSessionRequest, PbBoolReply>
  CloseSession: UnaryImpl<PbSessionRequest, PbBoolReply>
  Push: UnaryImpl<PbPushRequest, PbCountReply>
  Connect: grpc.handleBidiStreamingCall<WireGatewayFrame, WireSessionFrame>
}

export type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN'
export interface HealthClient extends grpc.Client {
  Check: Unary<{ service: string }, { status: HealthStatus }>
}

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

const LOADER_OPTIONS: protoLoader.Options = { keepCase: false, longs: String, enums: String, bytes: Buffer, defaults: true, oneofs: true }

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
  // The hot-path stream uses the hand-written codec of the same messages (src/cluster/wire.ts).
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
