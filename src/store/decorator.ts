/**
 * The base of a store layered over another (caches, invalidation): every method passes through to
 * `inner`; a layer overrides only the methods it changes.
 */
import type { AuthKeyBinding, AuthKeyRecord, AuthKeyState, AuthKeyStore, ServerSalt } from './types.js'

export abstract class AuthKeyStoreDecorator implements AuthKeyStore {
  constructor(protected readonly inner: AuthKeyStore) {}

  put(record: AuthKeyRecord): Promise<'created' | 'exists'> {
    return this.inner.put(record)
  }

  get(id: bigint): Promise<AuthKeyRecord | undefined> {
    return this.inner.get(id)
  }

  bind(binding: AuthKeyBinding): Promise<void> {
    return this.inner.bind(binding)
  }

  getBinding(tempId: bigint): Promise<AuthKeyBinding | undefined> {
    return this.inner.getBinding(tempId)
  }

  destroy(id: bigint): Promise<boolean> {
    return this.inner.destroy(id)
  }

  expireTemp(now: number): Promise<number> {
    return this.inner.expireTemp(now)
  }

  saveSalts(authKeyId: bigint, salts: ServerSalt[]): Promise<void> {
    return this.inner.saveSalts(authKeyId, salts)
  }

  loadSalts(authKeyId: bigint): Promise<ServerSalt[]> {
    return this.inner.loadSalts(authKeyId)
  }

  saveState(authKeyId: bigint, state: AuthKeyState): Promise<void> {
    return this.inner.saveState(authKeyId, state)
  }

  loadState(authKeyId: bigint): Promise<AuthKeyState | undefined> {
    return this.inner.loadState(authKeyId)
  }

  close(): Promise<void> {
    return this.inner.close()
  }
}
