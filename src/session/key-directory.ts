/**
 * The per-key directory of the session layer: loaded auth keys (loading from the store, the
 * backlog of messages while a key loads), their salts, the per-permanent-key info (user id, layer,
 * initConnection data) with the user index and its saves to the store, the sessions of each key and
 * of each connection. It is the SessionHost of every session.
 */
import type { RandomSource } from '../crypto/random.js'
import { AuthKeyType, type AuthKeyRecord, type AuthKeyState, type AuthKeyStore } from '../store/types.js'
import type { TlObject } from '../tl/index.js'
import type { Clock } from '../util/clock.js'
import type { Logger } from '../util/log.js'
import { LogLimiter } from '../util/log-limiter.js'
import { ServerMsgIdGenerator } from '../util/server-msg-id.js'
import type { GatewayLink, InboundMessage, RpcDispatcher, RpcOutcome } from './api.js'
import { BindTempKeyError, validateBindTempAuthKey } from './bind-temp-key.js'
import { KeyInfoRecord, type KeyInfo } from './key-state.js'
import { Presence } from './presence.js'
import { SaltSet } from './salts.js'
import type { KeyState, Session, SessionHost, SessionOptions } from './session.js'

export interface KeyDirectoryOptions {
  store: AuthKeyStore
  link: GatewayLink
  dispatcher: RpcDispatcher
  clock: Clock
  random: RandomSource
  log: Logger
  options: SessionOptions
}

export class KeyDirectory implements SessionHost {
  readonly keys = new Map<bigint, KeyState>()
  /** Messages per auth key waiting for the key to load. */
  readonly backlog = new Map<bigint, InboundMessage[]>()
  readonly infos = new Map<bigint, KeyInfoRecord<Session>>()
  readonly byUser = new Map<bigint, Set<KeyInfoRecord<Session>>>()
  /** Sessions per connection: the session itself when one (the usual case), a Set when several. */
  readonly byConn = new Map<string, Session | Set<Session>>()
  private readonly loading = new Map<bigint, Promise<KeyState | undefined>>()
  readonly store: AuthKeyStore
  readonly clock: Clock
  readonly random: RandomSource
  readonly link: GatewayLink
  readonly dispatcher: RpcDispatcher
  readonly msgIds: ServerMsgIdGenerator
  readonly log: Logger
  /** Lines a client can cause, rate-limited per reason. */
  readonly limitedLog: LogLimiter
  readonly options: SessionOptions
  /** Counters (tests, metrics). */
  readonly stats = { stateSaves: 0, stateSaveFailures: 0 }
  /** The keys with a connected session, by user. */
  readonly presence: Presence

  constructor(o: KeyDirectoryOptions) {
    this.store = o.store
    this.clock = o.clock
    this.random = o.random
    this.link = o.link
    this.dispatcher = o.dispatcher
    this.msgIds = new ServerMsgIdGenerator(o.clock)
    this.log = o.log
    this.limitedLog = new LogLimiter(o.log, undefined, o.clock)
    this.options = o.options
    this.presence = new Presence(o.clock)
  }

  /** Tells presence how many of the key's sessions have a connection now. */
  recount(key: KeyState): void {
    let n = 0
    if (this.keys.get(key.record.id) === key) for (const s of key.sessions.values()) if (s.conn !== undefined) n++
    this.presence.update(key.record.id, key.info.userId, n, key.permId)
  }

  nowSec(): number {
    return Math.floor(this.clock.now() / 1000)
  }

  /** get_future_salts. */
  futureSalts(key: KeyState, num: number): { salt: bigint; validSince: number; validUntil: number }[] {
    const { salts, changed } = key.salts.future(num, this.nowSec())
    if (changed) this.saveSalts(key)
    return salts
  }

  /** After the destroy_auth_key answer went out: forget the key and its sessions. */
  keyDestroyed(key: KeyState): void {
    this.dropKey(key, 'destroy_auth_key')
  }

  /**
   * Destroys the authorization `key` acts for: removes its permanent key and every loaded key bound
   * to it (and `key`) from the store, drops their sessions and closes their connections (the
   * clients then get -404 and make a new key). A store failure is logged; the keys are dropped
   * here all the same.
   */
  async destroyAuthorization(key: KeyState, reason: string): Promise<void> {
    const keys = new Set<KeyState>([key, ...(key.info.keys as Set<KeyState>)])
    const ids = new Set<bigint>([...[...keys].map((k) => k.record.id), ...(key.permId === undefined ? [] : [key.permId])])
    await Promise.all(
      [...ids].map((id) =>
        this.store.destroy(id).catch((e: unknown) => this.log.warn({ authKeyId: id.toString(), err: (e as Error).message }, 'session: destroying an auth key in the store failed')),
      ),
    )
    for (const k of keys) {
      const conns = new Set<string>()
      for (const s of k.sessions.values()) if (s.conn !== undefined) conns.add(s.conn.connId)
      this.dropKey(k, reason)
      for (const c of conns) this.link.closeConnection(c, reason)
    }
    for (const id of ids) this.link.forgetAuthKey?.(id)
  }

  /** The handler changed ctx.userId. */
  setUserId(key: KeyState, userId: bigint | undefined): void {
    this.setInfoUserId(key.info as KeyInfoRecord<Session>, userId)
  }

  /** Keeps the connection index in step with the session's connection. */
  connectionChanged(session: Session, oldConnId: string | undefined): void {
    if (oldConnId !== undefined) this.unlinkConn(oldConnId, session)
    const connId = session.conn?.connId
    if (connId !== undefined) {
      const cur = this.byConn.get(connId)
      if (cur === undefined) this.byConn.set(connId, session)
      else if (cur instanceof Set) cur.add(session)
      else if (cur !== session) this.byConn.set(connId, new Set([cur, session]))
    }
    this.recount(session.key)
  }

  /** A temp key past its expiry. */
  expired(r: AuthKeyRecord): boolean {
    return r.expiresAt !== undefined && r.expiresAt <= this.nowSec()
  }

  /** The loaded key, loading it from the store once however many callers wait (undefined: unknown key). */
  async loadKey(authKeyId: bigint): Promise<KeyState | undefined> {
    const existing = this.keys.get(authKeyId)
    if (existing) return existing
    let p = this.loading.get(authKeyId)
    if (!p) {
      p = this.fetchKey(authKeyId).finally(() => this.loading.delete(authKeyId))
      this.loading.set(authKeyId, p)
    }
    return p
  }

  private async fetchKey(authKeyId: bigint): Promise<KeyState | undefined> {
    const record = await this.store.get(authKeyId)
    if (!record) return undefined
    let permId: bigint | undefined = record.type === AuthKeyType.perm ? record.id : undefined
    if (record.type !== AuthKeyType.perm) {
      const b = await this.store.getBinding(authKeyId)
      if (b && b.expiresAt > this.nowSec()) permId = b.permId
    }
    // The state of the permanent key, unless its info is loaded already (then that one is newer).
    // A failure fails the load like the salts': saving over a state we could not read would lose it.
    const [savedSalts, state] = await Promise.all([
      this.store.loadSalts(authKeyId),
      permId !== undefined && !this.infos.has(permId) ? this.store.loadState(permId) : undefined,
    ])
    const salts = new SaltSet(savedSalts, this.random)
    const again = this.keys.get(authKeyId)
    if (again) return again
    const key: KeyState = { record, permId, info: undefined as unknown as KeyInfo<Session>, salts, sessions: new Map() }
    this.setInfo(key, permId ?? record.id, state)
    this.keys.set(authKeyId, key)
    if (salts.refresh(this.nowSec())) this.saveSalts(key)
    return key
  }

  /** Forgets a key and its sessions here and (if the link supports it) in the gateway's cache. */
  dropKey(key: KeyState, reason: string): void {
    const id = key.record.id
    this.log.info({ authKeyId: id.toString(), sessions: key.sessions.size, reason }, 'session: auth key dropped')
    this.unloadKey(key)
    this.link.forgetAuthKey?.(id)
  }

  /** Forgets a loaded key, its sessions, and its info when no other key shares it. */
  unloadKey(key: KeyState): void {
    for (const s of key.sessions.values()) this.forget(s)
    key.sessions.clear()
    if (this.keys.get(key.record.id) === key) this.keys.delete(key.record.id)
    this.recount(key)
    this.detachInfo(key)
  }

  /** Detaches the key from its info, dropping the info when nothing uses it any more. */
  detachInfo(key: KeyState): void {
    const info = key.info as KeyInfoRecord<Session>
    info.keys.delete(key)
    // The state is in the store: an info nobody uses is reloaded with its key (a save still
    // running drops it when it ends, so a reload cannot read the state before that save lands).
    if (info.keys.size === 0 && !info.saving) this.dropInfo(info)
  }

  /**
   * Points the key at the info of `infoId` (created, with the loaded `state`, when absent). A key
   * that had an info (a temp key getting bound) carries over the layer / initConnection data
   * announced on it later than the new info's: the newest announcement wins (an upgraded app
   * sends its new layer in the same container as auth.bindTempAuthKey).
   */
  setInfo(key: KeyState, infoId: bigint, state?: AuthKeyState): void {
    const old = key.info as KeyInfoRecord<Session> | undefined
    if (old) this.detachInfo(key)
    let info = this.infos.get(infoId)
    if (!info) {
      info = new KeyInfoRecord(infoId, key.permId === infoId, (i) => this.saveState(i))
      this.infos.set(infoId, info)
      if (state) {
        const bad = info.restore(state)
        if (bad) this.log.warn({ authKeyId: infoId.toString(), reason: bad }, 'session: stored key state partly unusable; ignored that part')
        if (state.userId !== undefined) this.indexUser(info, state.userId)
      }
    }
    info.keys.add(key)
    key.info = info
    if (old && old !== info) info.adoptNewer(old)
    this.recount(key)
  }

  private dropInfo(info: KeyInfoRecord<Session>): void {
    if (this.infos.get(info.id) === info) this.infos.delete(info.id)
    if (info.userId !== undefined) this.unindexUser(info)
  }

  private setInfoUserId(info: KeyInfoRecord<Session>, userId: bigint | undefined): void {
    if (info.userId === userId) return
    if (info.userId !== undefined) this.unindexUser(info)
    if (userId !== undefined) this.indexUser(info, userId)
    else info.userId = undefined
    for (const key of info.keys) this.recount(key)
    this.saveState(info)
  }

  private indexUser(info: KeyInfoRecord<Session>, userId: bigint): void {
    info.userId = userId
    let set = this.byUser.get(userId)
    if (!set) this.byUser.set(userId, (set = new Set()))
    set.add(info)
  }

  private unindexUser(info: KeyInfoRecord<Session>): void {
    if (info.userId === undefined) return
    const set = this.byUser.get(info.userId)
    set?.delete(info)
    if (set?.size === 0) this.byUser.delete(info.userId)
  }

  /**
   * Writes the info's state to the store in the background (a permanent key's only): never blocks a
   * message; a failure is logged. One write per info at a time, the latest state written last.
   */
  private saveState(info: KeyInfoRecord<Session>): void {
    if (!info.persistent) return
    if (info.saving) {
      info.dirty = true
      return
    }
    info.saving = true
    info.dirty = false
    this.stats.stateSaves++
    this.store
      .saveState(info.id, info.snapshot())
      .catch((e: unknown) => {
        this.stats.stateSaveFailures++
        this.log.warn({ authKeyId: info.id.toString(), err: (e as Error).message }, 'session: saving the auth key state failed')
      })
      .finally(() => {
        info.saving = false
        if (info.dirty && this.infos.get(info.id) === info) this.saveState(info)
        else if (info.keys.size === 0) this.dropInfo(info)
      })
  }

  /** The salt to put in outgoing messages (rotating the key's salts when due). */
  currentSalt(key: KeyState): bigint {
    const now = this.nowSec()
    if (key.salts.refresh(now)) this.saveSalts(key)
    return key.salts.current(now)
  }

  /** Writes the key's salts to the store in the background; a failure is logged. */
  saveSalts(key: KeyState): void {
    this.store.saveSalts(key.record.id, key.salts.snapshot()).catch((e: unknown) => {
      this.log.warn({ authKeyId: key.record.id.toString(), err: (e as Error).message }, 'session: saving server salts failed')
    })
  }

  /** Forgets session `sessionId` of the key; true if it existed. */
  destroySession(key: KeyState, sessionId: bigint): boolean {
    const s = key.sessions.get(sessionId)
    if (!s) return false
    key.sessions.delete(sessionId)
    this.forget(s)
    this.recount(key)
    return true
  }

  /** Ends a session already removed from its key: its state, and its place in the connection index. */
  forget(s: Session): void {
    s.destroy()
    const connId = s.conn?.connId
    if (connId !== undefined) this.unlinkConn(connId, s)
  }

  /** destroy_auth_key: removes the key from the store. */
  async destroyAuthKey(key: KeyState): Promise<'ok' | 'none' | 'fail'> {
    const existed = await this.store.destroy(key.record.id)
    this.log.info({ authKeyId: key.record.id.toString(), existed }, 'session: destroy_auth_key')
    return existed ? 'ok' : 'none'
  }

  /** auth.bindTempAuthKey on a temp key: validated, stored, and the key pointed at the permanent key's info. */
  async bindTempAuthKey(key: KeyState, session: Session, msgId: bigint, query: TlObject): Promise<RpcOutcome> {
    if (query._ !== 'auth.bindTempAuthKey') return { kind: 'error', code: 400, message: 'INPUT_REQUEST_INVALID' }
    const nowSec = this.nowSec()
    try {
      const permKey = await this.store.get(query.perm_auth_key_id)
      const expiresAt = validateBindTempAuthKey(query, { tempKey: key.record, sessionId: session.id, msgId, permKey })
      const existing = await this.store.getBinding(key.record.id)
      if (existing && existing.permId !== query.perm_auth_key_id && existing.expiresAt > nowSec) {
        throw new BindTempKeyError(400, 'TEMP_AUTH_KEY_ALREADY_BOUND', 'temp key bound to another permanent key')
      }
      await this.store.bind({ tempId: key.record.id, permId: query.perm_auth_key_id, type: key.record.type, expiresAt })
      const state = this.infos.has(query.perm_auth_key_id) ? undefined : await this.store.loadState(query.perm_auth_key_id)
      key.permId = query.perm_auth_key_id
      this.setInfo(key, query.perm_auth_key_id, state)
      this.log.info({ tempAuthKeyId: key.record.id.toString(), permAuthKeyId: query.perm_auth_key_id.toString(), expiresAt }, 'session: temp key bound')
      return { kind: 'result', result: { _: 'boolTrue' } }
    } catch (e) {
      if (e instanceof BindTempKeyError) {
        this.log.info({ tempAuthKeyId: key.record.id.toString(), reason: e.reason }, `session: auth.bindTempAuthKey rejected (${e.rpcMessage})`)
        return { kind: 'error', code: e.rpcCode, message: e.rpcMessage }
      }
      throw e
    }
  }

  /** The connection ended: every session on it is detached from it. */
  closeConnection(connId: string): void {
    const cur = this.byConn.get(connId)
    if (cur === undefined) return
    this.byConn.delete(connId)
    if (cur instanceof Set) {
      for (const s of cur) s.detach(connId)
      for (const s of cur) this.recount(s.key)
    } else {
      cur.detach(connId)
      this.recount(cur.key)
    }
  }

  /** Removes one session from the connection index of `connId`. */
  unlinkConn(connId: string, session: Session): void {
    const cur = this.byConn.get(connId)
    if (cur === session) this.byConn.delete(connId)
    else if (cur instanceof Set) {
      cur.delete(session)
      if (cur.size === 0) this.byConn.delete(connId)
    }
  }
}
