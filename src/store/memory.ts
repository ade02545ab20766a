import type { AuthKeyBinding, AuthKeyRecord, AuthKeyStore, ServerSalt } from './types.js'

/** In-process store: tests and single-process use without durability. */
export class MemoryAuthKeyStore implements AuthKeyStore {
  private readonly keys = new Map<bigint, AuthKeyRecord>()
  private readonly destroyed = new Set<bigint>()
  private readonly bindings = new Map<bigint, AuthKeyBinding>()
  private readonly salts = new Map<bigint, ServerSalt[]>()

  async put(record: AuthKeyRecord): Promise<'created' | 'exists'> {
    if (this.keys.has(record.id) || this.destroyed.has(record.id)) return 'exists'
    this.keys.set(record.id, { ...record, key: Buffer.from(record.key) })
    return 'created'
  }

  async get(id: bigint): Promise<AuthKeyRecord | undefined> {
    const r = this.keys.get(id)
    if (!r) return undefined
    if (r.expiresAt !== undefined && r.expiresAt < Math.floor(Date.now() / 1000)) return undefined
    return r
  }

  async bind(binding: AuthKeyBinding): Promise<void> {
    this.bindings.set(binding.tempId, { ...binding })
  }

  async getBinding(tempId: bigint): Promise<AuthKeyBinding | undefined> {
    return this.bindings.get(tempId)
  }

  async destroy(id: bigint): Promise<boolean> {
    const existed = this.keys.delete(id)
    if (existed) this.destroyed.add(id)
    this.bindings.delete(id)
    for (const [t, b] of this.bindings) if (b.permId === id) this.bindings.delete(t)
    this.salts.delete(id)
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
    this.salts.set(authKeyId, salts.map((s) => ({ ...s })))
  }

  async loadSalts(authKeyId: bigint): Promise<ServerSalt[]> {
    return this.salts.get(authKeyId)?.map((s) => ({ ...s })) ?? []
  }

  async close(): Promise<void> {}
}
