/**
 * Teamgram's session service (proto/teamgram/session/session.tl.proto, `session.RPCSession`) as
 * Teamgram's sync service calls it, served by mtgate (config teamgram.session_service):
 *
 *   session_pushUpdatesData(perm_auth_key_id, notification, updates)        → every session of the key
 *                                                                            (and of temp keys bound to it)
 *   session_pushSessionUpdatesData(perm_auth_key_id, auth_key_id, session_id, updates) → that session
 *   session_pushRpcResultData(perm_auth_key_id, auth_key_id, session_id, client_req_msg_id,
 *                             rpc_result_data)                              → completes a deferred query
 *
 * `updates` arrive as Teamgram's protobuf Updates and go on as TL of the newest layer through the
 * same push path as Mtgate.Push (each session converts them to its client's layer);
 * rpc_result_data is TL bytes of the result (or an rpc_error). Each answers mtproto.Bool boolTrue.
 * The gateway-side methods (queryAuthKey, setAuthKey, createSession, sendDataToSession,
 * sendHttpDataToSession, closeSession) are gnetway's, which mtgate replaces: UNIMPLEMENTED.
 */
import * as grpc from '@grpc/grpc-js'
import { encode, type TlAnyObject } from '../../tl/index.js'
import type { Logger } from '../../util/log.js'
import type { BackendApiHost } from '../backend-api.js'
import { boolMessage, decodeObject, onTeamgramDrop, setTeamgramDropListener } from './codec.js'
import { asBytes, int64, readMessage, type PbValue } from './protobuf.js'

const SERVICE = 'session.RPCSession'
const PUSH_METHODS = ['session_pushUpdatesData', 'session_pushSessionUpdatesData', 'session_pushRpcResultData'] as const
const GATEWAY_METHODS = ['session_queryAuthKey', 'session_setAuthKey', 'session_createSession', 'session_sendDataToSession', 'session_sendHttpDataToSession', 'session_closeSession'] as const

const UPDATES = new Set(['updatesTooLong', 'updateShortMessage', 'updateShortChatMessage', 'updateShort', 'updatesCombined', 'updates', 'updateShortSentMessage'])

/** The service definition over raw bytes (requests are read with the codec). */
export const teamgramSessionService: grpc.ServiceDefinition = Object.fromEntries(
  [...PUSH_METHODS, ...GATEWAY_METHODS].map((m) => [
    m,
    { path: `/${SERVICE}/${m}`, requestStream: false, responseStream: false, requestSerialize: asBytes, requestDeserialize: asBytes, responseSerialize: asBytes, responseDeserialize: asBytes },
  ]),
)

class BadRequest extends Error {}

function long(f: Map<number, PbValue[]>, num: number): bigint {
  const v = f.get(num)?.at(-1)
  return v !== undefined && v.wire === 0 ? int64(v.v) : 0n
}

function bytesOf(f: Map<number, PbValue[]>, num: number): Buffer | undefined {
  const v = f.get(num)?.at(-1)
  return v !== undefined && v.wire === 2 ? v.raw : undefined
}

/** The boxed TL (newest layer) of Teamgram's Updates message in field `num`. */
function updatesOf(f: Map<number, PbValue[]>, num: number): Buffer {
  const raw = bytesOf(f, num)
  if (raw === undefined) throw new BadRequest('no updates')
  const u = decodeObject(raw, 'Updates', 'updates') as TlAnyObject | undefined
  if (u === undefined || !UPDATES.has(u._)) throw new BadRequest(`updates: ${u?._ ?? 'unknown predicate'} is not of type Updates`)
  return encode(u)
}

export function teamgramSessionImpl(host: BackendApiHost, parentLog: Logger): grpc.UntypedServiceImplementation {
  const log = parentLog.child({ mod: 'teamgram-session' })
  if (onTeamgramDrop === undefined) setTeamgramDropListener((what) => log.warn({ what }, 'Teamgram codec: cannot map this (dropped, or its neutral value given); logged once'))
  const TRUE = boolMessage(true)
  const unary =
    (name: string, fn: (f: Map<number, PbValue[]>) => Promise<unknown>): grpc.handleUnaryCall<Buffer, Buffer> =>
    (call, cb) => {
      let f: Map<number, PbValue[]>
      try {
        f = readMessage(call.request)
      } catch (e) {
        return cb({ code: grpc.status.INVALID_ARGUMENT, details: `not protobuf: ${(e as Error).message}` })
      }
      fn(f).then(
        () => cb(null, TRUE),
        (e: unknown) => {
          const bad = e instanceof BadRequest
          log.warn({ rpc: name, peer: call.getPeer(), err: (e as Error).message }, bad ? 'teamgram session: bad request' : 'teamgram session: call failed')
          cb({ code: bad ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL, details: (e as Error).message })
        },
      )
    }
  const impl: grpc.UntypedServiceImplementation = {
    session_pushUpdatesData: unary('session_pushUpdatesData', async (f) => {
      const perm = long(f, 3)
      if (perm === 0n) throw new BadRequest('no perm_auth_key_id')
      const n = await host.push({ authKeyId: perm }, updatesOf(f, 5))
      log.debug({ permAuthKeyId: perm.toString(16), sessions: n }, 'pushUpdatesData')
    }),
    session_pushSessionUpdatesData: unary('session_pushSessionUpdatesData', async (f) => {
      const key = long(f, 4) || long(f, 3)
      if (key === 0n) throw new BadRequest('no auth_key_id')
      await host.push({ authKeyId: key, sessionId: long(f, 5) }, updatesOf(f, 6))
    }),
    session_pushRpcResultData: unary('session_pushRpcResultData', async (f) => {
      const result = bytesOf(f, 7)
      if (result === undefined || result.length < 4) throw new BadRequest('no rpc_result_data')
      const k = { authKeyId: long(f, 3) || long(f, 4), sessionId: long(f, 5), msgId: long(f, 6) }
      const done = await host.pushRpcResult(k, { result: Buffer.from(result) })
      if (!done) log.info({ sessionId: k.sessionId.toString(16), msgId: k.msgId.toString(16) }, 'pushRpcResultData: no query waits for it')
    }),
  }
  for (const m of GATEWAY_METHODS) {
    impl[m] = ((call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      log.info({ rpc: m, peer: call.getPeer() }, 'teamgram session: gateway-side method, mtgate is the gateway: UNIMPLEMENTED')
      cb({ code: grpc.status.UNIMPLEMENTED, details: `${m}: mtgate is the gateway` })
    }) as grpc.handleUnaryCall<Buffer, Buffer>
  }
  return impl
}

export interface TeamgramSessionServer {
  /** host:port bound. */
  address: string
  close(): Promise<void>
}

/** Serves session.RPCSession on `address` over `host` (mtgate serve's, or a cluster session node's). */
export async function serveTeamgramSession(address: string, host: BackendApiHost, log: Logger): Promise<TeamgramSessionServer> {
  const server = new grpc.Server()
  server.addService(teamgramSessionService, teamgramSessionImpl(host, log))
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))))
  log.info({ address, port }, 'serving Teamgram session.RPCSession')
  return {
    address: `${address.slice(0, address.lastIndexOf(':'))}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        const t = setTimeout(() => server.forceShutdown(), 2000)
        server.tryShutdown(() => {
          clearTimeout(t)
          resolve()
        })
      }),
  }
}
