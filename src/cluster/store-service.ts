/**
 * The store half of a session node's gRPC service: the AuthKeyStore contract served to the
 * gateways (the server side of remote-store.ts). QueryAuthKey goes through the session layer (its
 * cache of live keys); the other calls go to the store.
 */
import * as grpc from '@grpc/grpc-js'
import { UnknownAuthKeyError } from '../session/manager.js'
import { StoreError, type AuthKeyRecord, type AuthKeyStore, type AuthKeyType } from '../store/types.js'
import type { Logger } from '../util/log.js'
import { big, fromPbState, i64, pbState, type PbAuthKey, type SessionServerImpl } from './proto.js'

/** The gRPC status of a failed call: store error codes mapped, a forwarded call's status kept. */
export function toStatus(e: unknown): grpc.status {
  if (e instanceof UnknownAuthKeyError) return grpc.status.NOT_FOUND
  // a forwarded call's gRPC status passes through
  const c = (e as { code?: unknown }).code
  if (typeof c === 'number') return c
  if (e instanceof StoreError) return e.code === 'unavailable' ? grpc.status.UNAVAILABLE : e.code === 'invalid' ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL
  return grpc.status.INTERNAL
}

export type UnaryHandler = <Req, Res>(name: string, f: (req: Req) => Promise<Res> | Res) => grpc.handleUnaryCall<Req, Res>

/** Wraps a promise-returning function as a unary handler; a failure is logged and answered with toStatus. */
export function unaryHandler(log: Logger): UnaryHandler {
  return (name, f) => (call, cb) => {
    Promise.resolve()
      .then(() => f(call.request))
      .then(
        (res) => cb(null, res),
        (e: unknown) => {
          log.warn({ call: name, err: (e as Error).message }, 'unary call failed')
          cb({ code: toStatus(e), details: (e as Error).message })
        },
      )
  }
}

type StoreCalls = 'QueryAuthKey' | 'PutAuthKey' | 'SaveSalts' | 'LoadSalts' | 'BindAuthKey' | 'GetBinding' | 'DestroyAuthKey' | 'ExpireTemp' | 'SaveState' | 'LoadState'

function pbKey(r: AuthKeyRecord): PbAuthKey {
  return { id: i64(r.id), key: r.key, type: r.type, expiresAt: String(r.expiresAt ?? 0), createdAt: String(r.createdAt) }
}

/** The store calls of the Session service over `store`; `queryAuthKey` answers QueryAuthKey. */
export function storeService(
  s: AuthKeyStore,
  queryAuthKey: (id: bigint) => Promise<AuthKeyRecord | undefined>,
  unary: UnaryHandler,
): Pick<SessionServerImpl, StoreCalls> {
  return {
    QueryAuthKey: unary('QueryAuthKey', async (req) => {
      const rec = await queryAuthKey(big(req.authKeyId))
      return rec ? { found: true, key: pbKey(rec) } : { found: false, key: null }
    }),
    PutAuthKey: unary('PutAuthKey', async (req) => {
      const expiresAt = Number(req.expiresAt)
      const r = await s.put({
        id: big(req.id),
        key: req.key,
        type: req.type as AuthKeyType,
        createdAt: Number(req.createdAt),
        ...(expiresAt > 0 ? { expiresAt } : {}),
      })
      return { created: r === 'created' }
    }),
    SaveSalts: unary('SaveSalts', async (req) => {
      await s.saveSalts(
        big(req.authKeyId),
        req.salts.map((x) => ({ salt: big(x.salt), validSince: Number(x.validSince), validUntil: Number(x.validUntil) })),
      )
      return {}
    }),
    LoadSalts: unary('LoadSalts', async (req) => ({
      salts: (await s.loadSalts(big(req.authKeyId))).map((x) => ({ salt: i64(x.salt), validSince: String(x.validSince), validUntil: String(x.validUntil) })),
    })),
    BindAuthKey: unary('BindAuthKey', async (req) => {
      await s.bind({ tempId: big(req.tempId), permId: big(req.permId), type: req.type as AuthKeyType, expiresAt: Number(req.expiresAt) })
      return {}
    }),
    GetBinding: unary('GetBinding', async (req) => {
      const b = await s.getBinding(big(req.authKeyId))
      return b
        ? { found: true, binding: { tempId: i64(b.tempId), permId: i64(b.permId), type: b.type, expiresAt: String(b.expiresAt) } }
        : { found: false, binding: null }
    }),
    DestroyAuthKey: unary('DestroyAuthKey', async (req) => ({ value: await s.destroy(big(req.authKeyId)) })),
    ExpireTemp: unary('ExpireTemp', async (req) => ({ count: String(await s.expireTemp(Number(req.now))) })),
    SaveState: unary('SaveState', async (req) => {
      await s.saveState(big(req.authKeyId), fromPbState(req.state))
      return {}
    }),
    LoadState: unary('LoadState', async (req) => {
      const st = await s.loadState(big(req.authKeyId))
      return st ? { found: true, state: pbState(st) } : { found: false, state: null }
    }),
  }
}
