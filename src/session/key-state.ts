/**
 * Per-auth-key state the session layer keeps: the key record, its binding (temp → perm), its
 * salts, and the data that lives per (permanent) key — initConnection info, last layer, user id.
 */
import type { AuthKeyRecord } from '../store/types.js'
import type { ClientInfo } from './api.js'
import type { SaltSet } from './salts.js'
import type { Session } from './session.js'

/** Shared by a permanent key and every temp key bound to it. */
export interface KeyInfo {
  /** The permanent key id (or the key's own id for an unbound temp key). */
  readonly id: bigint
  client: ClientInfo | undefined
  layer: number | undefined
  userId: bigint | undefined
  /** Key states currently sharing this info. */
  readonly keys: Set<KeyState>
}

export interface KeyState {
  readonly record: AuthKeyRecord
  /** Perm key id: own id for a permanent key, the bound key for a temp key, undefined if unbound. */
  permId: bigint | undefined
  info: KeyInfo
  readonly salts: SaltSet
  readonly sessions: Map<bigint, Session>
}
