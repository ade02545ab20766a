import { systemClock, type Clock } from '../util/clock.js'
import {
  copyRecord,
  copyState,
  isLive,
  validateBinding,
  validateId,
  validateRecord,
  validateSalts,
  validateState,
} from './codec.js'
import {
  AuthKeyType,
  StoreError,
  type AuthKeyBinding,
  type AuthKeyRecord,
  type AuthKeyState,
  type AuthKeyStore,
  type ServerSalt,
} from './types.js'

/** In-process store: tests and single-process use without durability. Same semantics as the SQL stores. */
export class MemoryAuthKeyStore implements AuthKeyStore {
  private readonly keys = new Map<bigint, AuthKeyRecord>()
  private readonly destroyed = new Set<bigint>()
  private readonly bindings = new Map<bigint, AuthKeyBinding>()
  private readonly salts = new Map<bigint, ServerSalt[]>()
  private readonly states = new Map<bigint, AuthKeyState>()

  constructor(private readonly clock: Clock = systemClock) {}

  private now(): number {
    return Math.floor(this.clock.now() / 1000)
  }

  async put(record: AuthKeyRecord): Promise<'created' | 'exists'> {
    validateRecord(record)
    if (this.destroyed.has(record.id)) return 'exists'
    const had = this.keys.get(record.id)
    // The same key again (a retried put) is idempotent; another key with this id is a collision.
    if (had) return had.key.equals(record.key) ? 'created' : 'exists'
    this.keys.set(record.id, copyRecord(record))
    return 'created'
  }

  async get(id: bigint): Promise<AuthKeyRecord | undefined> {
    const r = this.keys.get(id)
    if (!r || !isLive(r, this.now())) return undefined
    return copyRecord(r)
  }

  async bind(binding: AuthKeyBinding): Promise<void> {
    validateBinding(binding)
    const temp = this.keys.get(binding.tempId)
    const perm = this.keys.get(binding.permId)
    if (!temp || temp.type === AuthKeyType.perm) throw new StoreError('invalid', 'bind: unknown temporary key')
    if (!perm || perm.type !== AuthKeyType.perm) throw new StoreError('invalid', 'bind: unknown permanent key')
    this.bindings.set(binding.tempId, { ...binding })
  }

  async getBinding(tempId: bigint): Promise<AuthKeyBinding | undefined> {
    const b = this.bindings.get(tempId)
    if (!b || !isLive(b, this.now())) return undefined
    return { ...b }
  }

  async destroy(id: bigint): Promise<boolean> {
    validateId(id)
    const existed = this.keys.delete(id)
    if (existed) this.destroyed.add(id)
    this.bindings.delete(id)
    for (const [t, b] of this.bindings) if (b.permId === id) this.bindings.delete(t)
    this.salts.delete(id)
    this.states.delete(id)
    return existed
  }

  async expireTemp(now: number): Promise<number> {
    let n = 0
    for (const [id, r] of this.keys) {
      if (r.expiresAt !== undefined && r.expiresAt < now) {
        await this.destroy(id)
        n++
      }
    }
    return n
  }

  async saveSalts(authKeyId: bigint, salts: ServerSalt[]): Promise<void> {
    validateSalts(authKeyId, salts)
    this.salts.set(
      authKeyId,
      salts.map((s) => ({ ...s })),
    )
  }

  async loadSalts(authKeyId: bigint): Promise<ServerSalt[]> {
    return (this.salts.get(authKeyId) ?? []).map((s) => ({ ...s })).sort((a, b) => a.validSince - b.validSince)
  }

  async saveState(authKeyId: bigint, state: AuthKeyState): Promise<void> {
    validateState(authKeyId, state)
    // A save racing a destroy must not resurrect the state of a destroyed key.
    if (this.destroyed.has(authKeyId)) return
    this.states.set(authKeyId, copyState(state))
  }

  async loadState(authKeyId: bigint): Promise<AuthKeyState | undefined> {
    validateId(authKeyId)
    const s = this.states.get(authKeyId)
    return s && copyState(s)
  }

  async close(): Promise<void> {}
}
