/**
 * The gateway's AuthKeyStore: every operation is a unary call (with a deadline) to the session node
 * owning the key (Teamgram's session_setAuthKey), so a gateway never opens the database. The
 * handshake uses put() and saveSalts(); the rest of the contract (state included) is there for
 * tools and completeness.
 * Transport failures become StoreError('unavailable') (the handshake then refuses to acknowledge the
 * key, as the contract asks).
 */
import * as grpc from '@grpc/grpc-js'
import { StoreError, type AuthKeyBinding, type AuthKeyRecord, type AuthKeyState, type AuthKeyStore, type AuthKeyType, type ServerSalt } from '../store/types.js'
import { big, fromPbState, i64, pbState, type PbStateReply } from './proto.js'
import type { RemoteSessions } from './remote-sessions.js'

function storeError(e: unknown, what: string): StoreError {
  if (e instanceof StoreError) return e
  const code = (e as grpc.ServiceError).code
  const msg = `${what}: ${(e as Error).message}`
  if (code === grpc.status.INVALID_ARGUMENT) return new StoreError('invalid', msg, { cause: e })
  if (code === grpc.status.INTERNAL || code === grpc.status.UNKNOWN) return new StoreError('internal', msg, { cause: e })
  return new StoreError('unavailable', msg, { cause: e })
}

export class RemoteAuthKeyStore implements AuthKeyStore {
  constructor(private readonly remote: RemoteSessions) {}

  private async call<Res>(key: bigint, name: string, f: Parameters<RemoteSessions['unary']>[2]): Promise<Res> {
    try {
      return (await this.remote.unary(key, name, f)) as Res
    } catch (e) {
      throw storeError(e, name)
    }
  }

  async put(r: AuthKeyRecord): Promise<'created' | 'exists'> {
    const rep = await this.call<{ created: boolean }>(r.id, 'PutAuthKey', (c, o, cb) =>
      c.PutAuthKey({ id: i64(r.id), key: r.key, type: r.type, expiresAt: String(r.expiresAt ?? 0), createdAt: String(r.createdAt) }, new grpc.Metadata(), o, cb),
    )
    return rep.created ? 'created' : 'exists'
  }

  async get(id: bigint): Promise<AuthKeyRecord | undefined> {
    try {
      return await this.remote.queryAuthKey(id)
    } catch (e) {
      throw storeError(e, 'QueryAuthKey')
    }
  }

  async bind(b: AuthKeyBinding): Promise<void> {
    await this.call(b.tempId, 'BindAuthKey', (c, o, cb) =>
      c.BindAuthKey({ tempId: i64(b.tempId), permId: i64(b.permId), type: b.type, expiresAt: String(b.expiresAt) }, new grpc.Metadata(), o, cb),
    )
  }

  async getBinding(tempId: bigint): Promise<AuthKeyBinding | undefined> {
    const rep = await this.call<{ found: boolean; binding: { tempId: string; permId: string; type: number; expiresAt: string } | null }>(tempId, 'GetBinding', (c, o, cb) =>
      c.GetBinding({ authKeyId: i64(tempId) }, new grpc.Metadata(), o, cb),
    )
    if (!rep.found || !rep.binding) return undefined
    const b = rep.binding
    return { tempId: big(b.tempId), permId: big(b.permId), type: b.type as AuthKeyType, expiresAt: Number(b.expiresAt) }
  }

  async destroy(id: bigint): Promise<boolean> {
    const rep = await this.call<{ value: boolean }>(id, 'DestroyAuthKey', (c, o, cb) => c.DestroyAuthKey({ authKeyId: i64(id) }, new grpc.Metadata(), o, cb))
    return rep.value
  }

  /** Runs on one live session node (the store is shared by all of them). */
  async expireTemp(now: number): Promise<number> {
    const rep = await this.call<{ count: string }>(0n, 'ExpireTemp', (c, o, cb) => c.ExpireTemp({ now: String(now) }, new grpc.Metadata(), o, cb))
    return Number(rep.count)
  }

  async saveSalts(authKeyId: bigint, salts: ServerSalt[]): Promise<void> {
    await this.call(authKeyId, 'SaveSalts', (c, o, cb) =>
      c.SaveSalts(
        { authKeyId: i64(authKeyId), salts: salts.map((s) => ({ salt: i64(s.salt), validSince: String(s.validSince), validUntil: String(s.validUntil) })) },
        new grpc.Metadata(),
        o,
        cb,
      ),
    )
  }

  async loadSalts(authKeyId: bigint): Promise<ServerSalt[]> {
    const rep = await this.call<{ salts: { salt: string; validSince: string; validUntil: string }[] }>(authKeyId, 'LoadSalts', (c, o, cb) =>
      c.LoadSalts({ authKeyId: i64(authKeyId) }, new grpc.Metadata(), o, cb),
    )
    return rep.salts.map((s) => ({ salt: big(s.salt), validSince: Number(s.validSince), validUntil: Number(s.validUntil) }))
  }

  async saveState(authKeyId: bigint, state: AuthKeyState): Promise<void> {
    await this.call(authKeyId, 'SaveState', (c, o, cb) => c.SaveState({ authKeyId: i64(authKeyId), state: pbState(state) }, new grpc.Metadata(), o, cb))
  }

  async loadState(authKeyId: bigint): Promise<AuthKeyState | undefined> {
    const rep = await this.call<PbStateReply>(authKeyId, 'LoadState', (c, o, cb) => c.LoadState({ authKeyId: i64(authKeyId) }, new grpc.Metadata(), o, cb))
    return rep.found ? fromPbState(rep.state) : undefined
  }

  /** Nothing to release: the gRPC clients belong to RemoteSessions. */
  async close(): Promise<void> {}
}
