/**
 * Per-auth-key state the session layer keeps: the key record, its binding (temp → perm), its
 * salts, and the data that lives per (permanent) key — initConnection info, last layer, user id.
 */
import type { AuthKeyRecord, AuthKeyState } from '../store/types.js'
import type { ClientInfo } from './api.js'
import { parseClientInfo } from './client-info.js'
import type { SaltSet } from './salts.js'

/** Shared by a permanent key and every temp key bound to it; `S`: the session type. */
export interface KeyInfo<S = unknown> {
  /** The permanent key id (or the key's own id for an unbound temp key). */
  readonly id: bigint
  client: ClientInfo | undefined
  layer: number | undefined
  userId: bigint | undefined
  /** Key states currently sharing this info. */
  readonly keys: Set<KeyState<S>>
}

export interface KeyState<S = unknown> {
  readonly record: AuthKeyRecord
  /** Perm key id: own id for a permanent key, the bound key for a temp key, undefined if unbound. */
  permId: bigint | undefined
  info: KeyInfo<S>
  readonly salts: SaltSet
  readonly sessions: Map<bigint, S>
}

/** Orders announcements (invokeWithLayer / initConnection) across every KeyInfoRecord of the process. */
let announcements = 0

/**
 * The KeyInfo the manager hands out. Sessions assign `layer` / `client` directly (invokeWithLayer,
 * initConnection on every connection); the setters tell the owner only when the value really
 * changed, so the state is saved once per change and never per message.
 */
export class KeyInfoRecord<S = unknown> implements KeyInfo<S> {
  readonly keys = new Set<KeyState<S>>()
  userId: bigint | undefined = undefined
  private layerValue: number | undefined = undefined
  private clientValue: ClientInfo | undefined = undefined
  /** JSON text of clientValue (compared on assignment, saved as AuthKeyState.client). */
  private clientJson: string | undefined = undefined
  /** When layer / client were last announced by a client (0: loaded from the store or never). */
  private layerAt = 0
  private clientAt = 0
  /** A store write of this info is running / another change came in meanwhile. */
  saving = false
  dirty = false

  constructor(
    readonly id: bigint,
    /** True when `id` is a permanent key: only then is the state persisted. */
    readonly persistent: boolean,
    private readonly changed: (info: KeyInfoRecord<S>) => void,
  ) {}

  get layer(): number | undefined {
    return this.layerValue
  }

  set layer(v: number | undefined) {
    this.layerAt = ++announcements
    if (v === this.layerValue) return
    this.layerValue = v
    this.changed(this)
  }

  get client(): ClientInfo | undefined {
    return this.clientValue
  }

  set client(v: ClientInfo | undefined) {
    this.clientAt = ++announcements
    const json = v === undefined ? undefined : JSON.stringify(v)
    this.clientValue = v
    if (json === this.clientJson) return
    this.clientJson = json
    this.changed(this)
  }

  /**
   * Takes the layer and initConnection data of `other` where they were announced later than this
   * record's (a temp key bound to this permanent key brings what the client just said on it).
   */
  adoptNewer(other: KeyInfoRecord<S>): void {
    if (other.layerValue !== undefined && other.layerAt > this.layerAt) this.layer = other.layerValue
    if (other.clientValue !== undefined && other.clientAt > this.clientAt) this.client = other.clientValue
  }

  /** What the store keeps (AuthKeyStore.saveState). */
  snapshot(): AuthKeyState {
    const s: AuthKeyState = {}
    if (this.userId !== undefined) s.userId = this.userId
    if (this.layerValue !== undefined) s.layer = this.layerValue
    if (this.clientJson !== undefined) s.client = this.clientJson
    return s
  }

  /** Takes a loaded state without reporting a change; returns a reason when `client` was unusable. */
  restore(s: AuthKeyState): string | undefined {
    if (s.layer !== undefined) this.layerValue = s.layer
    if (s.client === undefined) return undefined
    const client = parseClientInfo(s.client)
    if (client === undefined) return 'stored client info is not a ClientInfo object'
    this.clientValue = client
    this.clientJson = s.client
    return undefined
  }
}

export { parseClientInfo }
