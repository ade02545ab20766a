/**
 * destroy_auth_key → destroy_auth_key_ok / _none / _fail. The unencrypted form (auth_key_id = 0)
 * has no key to destroy and is answered _none by the handshake; the encrypted form (issue D's
 * session layer) calls destroyAuthKey with the connection's auth_key_id.
 */
import { StoreError, type AuthKeyStore } from '../store/types.js'
import type { DestroyAuthKeyRes } from './messages.js'

export async function destroyAuthKey(store: AuthKeyStore, authKeyId: bigint): Promise<DestroyAuthKeyRes> {
  try {
    return (await store.destroy(authKeyId)) ? { _: 'destroy_auth_key_ok' } : { _: 'destroy_auth_key_none' }
  } catch (err) {
    if (err instanceof StoreError) return { _: 'destroy_auth_key_fail' }
    throw err
  }
}
