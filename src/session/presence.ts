/**
 * Presence: which auth keys have sessions with a live connection here, and whose user they are.
 * The key directory recounts a key whenever one of its sessions gains or loses its connection, a
 * session ends, or the key's user changes; listeners hear every transition (a key going online or
 * offline; a user change of an online key is the old user's offline and the new user's online).
 */
import type { Clock } from '../util/clock.js'

export interface OnlineKey {
  /** The user the key is bound to; undefined: none. */
  userId: bigint | undefined
  authKeyId: bigint
  /** The permanent key a temp key is bound to (a permanent key's own id); undefined: unbound temp key. */
  permAuthKeyId?: bigint
  /** Sessions of the key with a live connection. */
  sessions: number
}

export interface PresenceChange extends OnlineKey {
  online: boolean
  /** Unix milliseconds. */
  atMs: number
}

export type PresenceListener = (change: PresenceChange) => void

export class Presence {
  private readonly online = new Map<bigint, OnlineKey>()
  private readonly byUser = new Map<bigint, Set<bigint>>()
  private readonly listeners = new Set<PresenceListener>()

  constructor(private readonly clock: Clock) {}

  /** Records that `sessions` sessions of the key have a connection, its user being `userId`. */
  update(authKeyId: bigint, userId: bigint | undefined, sessions: number, permAuthKeyId?: bigint): void {
    const cur = this.online.get(authKeyId)
    if (cur !== undefined && cur.userId === userId && cur.permAuthKeyId === permAuthKeyId) {
      if (sessions > 0) cur.sessions = sessions
      else this.goOffline(cur)
      return
    }
    if (cur !== undefined) this.goOffline(cur)
    if (sessions > 0) this.goOnline(permAuthKeyId === undefined ? { userId, authKeyId, sessions } : { userId, authKeyId, permAuthKeyId, sessions })
  }

  /** The online keys of these users (of every user, and of keys with none, when `userIds` is undefined). */
  keys(userIds?: Iterable<bigint>): OnlineKey[] {
    if (userIds === undefined) return [...this.online.values()].map((k) => ({ ...k }))
    const out: OnlineKey[] = []
    for (const u of new Set(userIds)) for (const id of this.byUser.get(u) ?? []) out.push({ ...this.online.get(id)! })
    return out
  }

  get onlineKeyCount(): number {
    return this.online.size
  }

  /** Calls `fn` on every change until the returned function is called. */
  subscribe(fn: PresenceListener): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  private goOnline(k: OnlineKey): void {
    this.online.set(k.authKeyId, k)
    if (k.userId !== undefined) {
      let set = this.byUser.get(k.userId)
      if (set === undefined) this.byUser.set(k.userId, (set = new Set()))
      set.add(k.authKeyId)
    }
    this.emit(k, true)
  }

  private goOffline(k: OnlineKey): void {
    this.online.delete(k.authKeyId)
    if (k.userId !== undefined) {
      const set = this.byUser.get(k.userId)
      set?.delete(k.authKeyId)
      if (set?.size === 0) this.byUser.delete(k.userId)
    }
    this.emit({ ...k, sessions: 0 }, false)
  }

  private emit(k: OnlineKey, online: boolean): void {
    if (this.listeners.size === 0) return
    const change: PresenceChange = { ...k, online, atMs: this.clock.now() }
    for (const fn of this.listeners) fn(change)
  }
}
