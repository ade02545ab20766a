/**
 * The session layer's front: implements SessionService (what the gateway calls) and PushService.
 * Keeps per-auth-key state (salts, binding, initConnection info, user id) and the sessions of each
 * key; runs the key-level checks (msg_id parity/time window, server salt) before a message reaches
 * its session; expires idle sessions and ping_delay_disconnect deadlines on tick().
 */
import { secureRandom, type RandomSource } from '../crypto/random.js'
import { AuthKeyType, type AuthKeyRecord, type AuthKeyState, type AuthKeyStore } from '../store/types.js'
import type { TlObject } from '../tl/index.js'
import { encode } from '../tl/index.js'
import { systemClock, type Clock } from '../util/clock.js'
import { rootLogger, type Logger } from '../util/log.js'
import type { GatewayLink, InboundMessage, PushService, RpcDispatcher, RpcOutcome, SessionService } from './api.js'
import { BindTempKeyError, validateBindTempAuthKey } from './bind-temp-key.js'
import { BadMsgCode } from './codes.js'
import { firstHandledMsgId } from './envelope.js'
import { KeyInfoRecord, type KeyInfo, type KeyState } from './key-state.js'
import { checkClientMsgId } from './msg-id.js'
import { ServerMsgIdGenerator } from '../util/server-msg-id.js'
import { OUTBOX_MAX_BYTES, OUTBOX_MAX_MESSAGES } from './outbox.js'
import { SaltSet } from './salts.js'
import { Session, type SessionHost, type SessionOptions } from './session.js'

export interface SessionManagerOptions {
  store: AuthKeyStore
  link: GatewayLink
  dispatcher: RpcDispatcher
  clock?: Clock
  random?: RandomSource
  log?: Logger
  /** initConnection api_id filter (default: every api_id allowed). */
  allowApiId?: (apiId: number) => boolean
  /** Forget sessions idle for this long (default 30 min). */
  idleTimeoutMs?: number
  outboxMaxMessages?: number
  outboxMaxBytes?: number
  gzipMinBytes?: number
  ackDelayMs?: number
  /** tick() period when start() runs the timer (default 1000 ms). */
  tickIntervalMs?: number
  /** Sessions kept per auth key; beyond it the least recently active one is forgotten (default 256). */
  maxSessionsPerKey?: number
}

export const DEFAULT_IDLE_TIMEOUT_MS = 30 * 60 * 1000
export const DEFAULT_MAX_SESSIONS_PER_KEY = 256
/** Messages held per auth key while the key is being loaded from the store. */
export const MAX_BACKLOG_PER_KEY = 1024

/** createSession on a key the store does not know (or an expired temp key). */
export class UnknownAuthKeyError extends Error {
  constructor(readonly authKeyId: bigint) {
    super(`unknown auth key ${authKeyId}`)
    this.name = 'UnknownAuthKeyError'
  }
}

export class SessionManager implements SessionService, PushService {
  private readonly keys = new Map<bigint, KeyState>()
  private readonly loading = new Map<bigint, Promise<KeyState | undefined>>()
  private readonly backlog = new Map<bigint, InboundMessage[]>()
  private readonly infos = new Map<bigint, KeyInfoRecord>()
  private readonly byUser = new Map<bigint, Set<KeyInfoRecord>>()
  /** Sessions per connection: the session itself when one (the usual case), a Set when several. */
  private readonly byConn = new Map<string, Session | Set<Session>>()
  private readonly store: AuthKeyStore
  private readonly host: SessionHost
  private timer: NodeJS.Timeout | undefined
  private readonly tickIntervalMs: number
  private readonly maxSessionsPerKey: number
  /** Counters (tests, metrics). */
  readonly stats = { stateSaves: 0, stateSaveFailures: 0 }

  constructor(opts: SessionManagerOptions) {
    this.store = opts.store
    const clock = opts.clock ?? systemClock
    const options: SessionOptions = {
      allowApiId: opts.allowApiId ?? (() => true),
      idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      outboxMaxMessages: opts.outboxMaxMessages ?? OUTBOX_MAX_MESSAGES,
      outboxMaxBytes: opts.outboxMaxBytes ?? OUTBOX_MAX_BYTES,
      gzipMinBytes: opts.gzipMinBytes ?? 1024,
      ackDelayMs: opts.ackDelayMs ?? 500,
    }
    this.tickIntervalMs = opts.tickIntervalMs ?? 1000
    this.maxSessionsPerKey = opts.maxSessionsPerKey ?? DEFAULT_MAX_SESSIONS_PER_KEY
    const log = opts.log ?? rootLogger.child({ layer: 'session' })
    this.host = {
      clock,
      random: opts.random ?? secureRandom,
      link: opts.link,
      dispatcher: opts.dispatcher,
      msgIds: new ServerMsgIdGenerator(clock),
      log,
      options,
      currentSalt: (key) => this.currentSalt(key),
      futureSalts: (key, num) => {
        const { salts, changed } = key.salts.future(num, this.nowSec())
        if (changed) this.saveSalts(key)
        return salts
      },
      destroySession: (key, sessionId) => this.destroySession(key, sessionId),
      destroyAuthKey: (key) => this.destroyAuthKey(key),
      keyDestroyed: (key) => this.dropKey(key, 'destroy_auth_key'),
      bindTempAuthKey: (key, session, msgId, query) => this.bindTempAuthKey(key, session, msgId, query),
      setUserId: (key, userId) => this.setUserId(key.info as KeyInfoRecord, userId),
      connectionChanged: (session, oldConnId) => {
        if (oldConnId !== undefined) this.unlinkConn(oldConnId, session)
        const connId = session.conn?.connId
        if (connId !== undefined) {
          const cur = this.byConn.get(connId)
          if (cur === undefined) this.byConn.set(connId, session)
          else if (cur instanceof Set) cur.add(session)
          else if (cur !== session) this.byConn.set(connId, new Set([cur, session]))
        }
      },
    }
  }

  private get log(): Logger {
    return this.host.log
  }

  private nowSec(): number {
    return Math.floor(this.host.clock.now() / 1000)
  }

  /** Runs tick() periodically (unref'd timer). */
  start(): void {
    if (this.timer) return
    this.timer = setInterval(() => this.tick(), this.tickIntervalMs)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }

  // -------------------------------------------------------------------------------------------
  // SessionService
  // -------------------------------------------------------------------------------------------

  async queryAuthKey(authKeyId: bigint): Promise<AuthKeyRecord | undefined> {
    const cached = this.keys.get(authKeyId)
    if (cached) {
      if (!this.expired(cached.record)) return cached.record
      this.dropKey(cached, 'temp key expired')
      return undefined
    }
    return this.store.get(authKeyId)
  }

  private expired(r: AuthKeyRecord): boolean {
    return r.expiresAt !== undefined && r.expiresAt <= this.nowSec()
  }

  /** Forgets a key and its sessions here and (if the link supports it) in the gateway's cache. */
  private dropKey(key: KeyState, reason: string): void {
    const id = key.record.id
    this.log.info({ authKeyId: id.toString(), sessions: key.sessions.size, reason }, 'session: auth key dropped')
    this.unloadKey(key)
    this.host.link.forgetAuthKey?.(id)
  }

  /** Forgets a loaded key, its sessions, and its info when no other key shares it. */
  private unloadKey(key: KeyState): void {
    for (const s of key.sessions.values()) this.forget(s)
    key.sessions.clear()
    if (this.keys.get(key.record.id) === key) this.keys.delete(key.record.id)
    this.detachInfo(key)
  }

  private detachInfo(key: KeyState): void {
    const info = key.info as KeyInfoRecord
    info.keys.delete(key)
    // The state is in the store: an info nobody uses is reloaded with its key (a save still
    // running drops it when it ends, so a reload cannot read the state before that save lands).
    if (info.keys.size === 0 && !info.saving) this.dropInfo(info)
  }

  sendData(msg: InboundMessage): void {
    const key = this.keys.get(msg.authKeyId)
    if (key && !this.backlog.has(msg.authKeyId)) {
      this.process(key, msg)
      return
    }
    let queue = this.backlog.get(msg.authKeyId)
    if (!queue) this.backlog.set(msg.authKeyId, (queue = []))
    if (queue.length >= MAX_BACKLOG_PER_KEY) {
      this.log.warn({ authKeyId: msg.authKeyId.toString(), queued: queue.length }, 'session: too many messages while the auth key loads; message dropped')
      return
    }
    queue.push(msg)
    if (queue.length > 1) return
    void this.loadKey(msg.authKeyId).then(
      (k) => this.drain(msg.authKeyId, k),
      (e: unknown) => {
        this.log.error({ authKeyId: msg.authKeyId.toString(), err: (e as Error).message }, 'session: loading the auth key failed; messages dropped')
        this.drain(msg.authKeyId, undefined)
      },
    )
  }

  closeConnection(connId: string): void {
    const cur = this.byConn.get(connId)
    if (cur === undefined) return
    this.byConn.delete(connId)
    if (cur instanceof Set) for (const s of cur) s.detach(connId)
    else cur.detach(connId)
  }

  private unlinkConn(connId: string, session: Session): void {
    const cur = this.byConn.get(connId)
    if (cur === session) this.byConn.delete(connId)
    else if (cur instanceof Set) {
      cur.delete(session)
      if (cur.size === 0) this.byConn.delete(connId)
    }
  }

  // -------------------------------------------------------------------------------------------
  // session control (Teamgram's session_createSession / session_closeSession)
  // -------------------------------------------------------------------------------------------

  /**
   * Creates session `sessionId` of the key unless it exists (loading the key from the store if
   * needed). Resolves true when it was created, false when it already existed; rejects with
   * UnknownAuthKeyError when the key is unknown (or an expired temp key), or the store's error.
   * A session created this way has no first client message: its new_session_created (sent with its
   * first answer) carries first_msg_id 0, which makes clients resend nothing.
   */
  async createSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    const key = await this.loadKey(authKeyId)
    if (!key || this.expired(key.record)) throw new UnknownAuthKeyError(authKeyId)
    if (key.sessions.has(sessionId)) return false
    if (key.sessions.size >= this.maxSessionsPerKey) this.evictOneSession(key)
    key.sessions.set(sessionId, new Session(this.host, key, sessionId, 0n))
    this.log.info({ authKeyId: authKeyId.toString(), sessionId: sessionId.toString() }, 'session: created by a control call')
    return true
  }

  /**
   * Forgets session `sessionId` of the key as destroy_session does (its outbox and state), closing
   * nothing else: its connection stays open and the key's other sessions stay. True if it existed.
   */
  closeSession(authKeyId: bigint, sessionId: bigint): boolean {
    const key = this.keys.get(authKeyId)
    if (!key) return false
    const ok = this.destroySession(key, sessionId)
    if (ok) this.log.info({ authKeyId: authKeyId.toString(), sessionId: sessionId.toString() }, 'session: closed by a control call')
    return ok
  }

  /**
   * Forgets every loaded key for which `keep` is false, with its sessions (outboxes included) and
   * its info, without telling the gateways (the key is not destroyed: it lives on elsewhere). Used
   * when the key moved to another session node: a key that later moves back starts clean. Keys
   * still loading are left alone. `keep` gets the key's last activity (the latest message of any of
   * its sessions, clock ms; 0 with no session) and whether a session of it has a connection now.
   * Returns how many keys and sessions were dropped.
   */
  forgetKeys(keep: (authKeyId: bigint, lastActiveMs: number, connected: boolean) => boolean): { keys: number; sessions: number } {
    let keys = 0
    let sessions = 0
    for (const key of [...this.keys.values()]) {
      let last = 0
      let connected = false
      for (const s of key.sessions.values()) {
        if (s.lastActiveMs > last) last = s.lastActiveMs
        if (s.conn) connected = true
      }
      if (keep(key.record.id, last, connected) || this.backlog.has(key.record.id)) continue
      keys++
      sessions += key.sessions.size
      this.unloadKey(key)
    }
    return { keys, sessions }
  }

  /**
   * Forgets one loaded key like forgetKeys, unless a session of it still has a connection. Returns
   * the number of sessions dropped, or undefined when the key was kept (or is not loaded).
   */
  forgetKeyIfDisconnected(authKeyId: bigint): number | undefined {
    const key = this.keys.get(authKeyId)
    if (!key || this.backlog.has(authKeyId)) return undefined
    for (const s of key.sessions.values()) if (s.conn) return undefined
    const n = key.sessions.size
    this.unloadKey(key)
    return n
  }

  /** The auth keys whose sessions use connection `connId`. */
  keysOfConnection(connId: string): bigint[] {
    const cur = this.byConn.get(connId)
    if (cur === undefined) return []
    if (cur instanceof Set) return [...new Set([...cur].map((s) => s.key.record.id))]
    return [cur.key.record.id]
  }

  /** Auth key ids currently loaded (tests, the moved-key sweep). */
  loadedKeys(): bigint[] {
    return [...this.keys.keys()]
  }

  // -------------------------------------------------------------------------------------------
  // PushService
  // -------------------------------------------------------------------------------------------

  pushToAuthKey(authKeyId: bigint, body: Buffer): number {
    const info = this.infos.get(authKeyId) ?? this.keys.get(authKeyId)?.info
    if (!info) return 0
    return this.pushToInfo(info, body)
  }

  pushToUser(userId: bigint, body: Buffer): number {
    let n = 0
    for (const info of this.byUser.get(userId) ?? []) n += this.pushToInfo(info, body)
    return n
  }

  private pushToInfo(info: KeyInfo, body: Buffer): number {
    let n = 0
    for (const key of info.keys) {
      for (const s of key.sessions.values()) {
        if (s.updates === 'off') continue
        s.push(body)
        n++
      }
    }
    return n
  }

  // -------------------------------------------------------------------------------------------
  // introspection (tests, metrics)
  // -------------------------------------------------------------------------------------------

  session(authKeyId: bigint, sessionId: bigint): Session | undefined {
    return this.keys.get(authKeyId)?.sessions.get(sessionId)
  }

  get sessionCount(): number {
    let n = 0
    for (const k of this.keys.values()) n += k.sessions.size
    return n
  }

  /** The salt currently handed out for a key (loads nothing; undefined when the key is not loaded). */
  saltOf(authKeyId: bigint): bigint | undefined {
    const k = this.keys.get(authKeyId)
    return k ? this.currentSalt(k) : undefined
  }

  /** Clients' user ids per auth key as handlers set them. */
  userIdOf(authKeyId: bigint): bigint | undefined {
    return this.keys.get(authKeyId)?.info.userId
  }

  // -------------------------------------------------------------------------------------------
  // processing
  // -------------------------------------------------------------------------------------------

  private drain(authKeyId: bigint, key: KeyState | undefined): void {
    const queue = this.backlog.get(authKeyId) ?? []
    this.backlog.delete(authKeyId)
    if (!key) {
      if (queue.length) this.log.warn({ authKeyId: authKeyId.toString(), dropped: queue.length }, 'session: unknown auth key; messages dropped')
      return
    }
    for (const m of queue) this.process(key, m)
  }

  private async loadKey(authKeyId: bigint): Promise<KeyState | undefined> {
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
    const salts = new SaltSet(savedSalts, this.host.random)
    const again = this.keys.get(authKeyId)
    if (again) return again
    const key: KeyState = { record, permId, info: undefined as unknown as KeyInfo, salts, sessions: new Map() }
    this.setInfo(key, permId ?? record.id, state)
    this.keys.set(authKeyId, key)
    if (salts.refresh(this.nowSec())) this.saveSalts(key)
    return key
  }

  /**
   * Points the key at the info of `infoId` (created, with the loaded `state`, when absent). A key
   * that had an info (a temp key getting bound) carries over the layer / initConnection data
   * announced on it later than the new info's: the newest announcement wins (an upgraded app
   * sends its new layer in the same container as auth.bindTempAuthKey).
   */
  private setInfo(key: KeyState, infoId: bigint, state?: AuthKeyState): void {
    const old = key.info as KeyInfoRecord | undefined
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
  }

  private dropInfo(info: KeyInfoRecord): void {
    if (this.infos.get(info.id) === info) this.infos.delete(info.id)
    if (info.userId !== undefined) this.unindexUser(info)
  }

  private setUserId(info: KeyInfoRecord, userId: bigint | undefined): void {
    if (info.userId === userId) return
    if (info.userId !== undefined) this.unindexUser(info)
    if (userId !== undefined) this.indexUser(info, userId)
    else info.userId = undefined
    this.saveState(info)
  }

  private indexUser(info: KeyInfoRecord, userId: bigint): void {
    info.userId = userId
    let set = this.byUser.get(userId)
    if (!set) this.byUser.set(userId, (set = new Set()))
    set.add(info)
  }

  private unindexUser(info: KeyInfoRecord): void {
    if (info.userId === undefined) return
    const set = this.byUser.get(info.userId)
    set?.delete(info)
    if (set?.size === 0) this.byUser.delete(info.userId)
  }

  /**
   * Writes the info's state to the store in the background (a permanent key's only): never blocks a
   * message; a failure is logged. One write per info at a time, the latest state written last.
   */
  private saveState(info: KeyInfoRecord): void {
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

  private currentSalt(key: KeyState): bigint {
    const now = this.nowSec()
    if (key.salts.refresh(now)) this.saveSalts(key)
    return key.salts.current(now)
  }

  private saveSalts(key: KeyState): void {
    this.store.saveSalts(key.record.id, key.salts.snapshot()).catch((e: unknown) => {
      this.log.warn({ authKeyId: key.record.id.toString(), err: (e as Error).message }, 'session: saving server salts failed')
    })
  }

  private process(key: KeyState, msg: InboundMessage): void {
    try {
      this.processUnsafe(key, msg)
    } catch (e) {
      this.log.error({ authKeyId: msg.authKeyId.toString(), msgId: msg.msgId.toString(), err: (e as Error).message, stack: (e as Error).stack }, 'session: message processing failed')
    }
  }

  private processUnsafe(key: KeyState, msg: InboundMessage): void {
    const nowMs = this.host.clock.now()
    if (key.record.expiresAt !== undefined && key.record.expiresAt * 1000 <= nowMs) {
      this.dropKey(key, 'temp key expired')
      return
    }
    const existing = key.sessions.get(msg.sessionId)
    const code = checkClientMsgId(msg.msgId, nowMs)
    if (code !== 0) {
      this.log.info({ authKeyId: key.record.id.toString(), msgId: msg.msgId.toString(), code, skewMs: Number(msg.msgId >> 32n) * 1000 - nowMs }, 'session: bad msg_id')
      this.sendLoose(key, msg, { _: 'bad_msg_notification', bad_msg_id: msg.msgId, bad_msg_seqno: msg.seqNo, error_code: code })
      return
    }
    const nowSec = Math.floor(nowMs / 1000)
    if (key.salts.refresh(nowSec)) this.saveSalts(key)
    if (!key.salts.isValid(msg.salt, nowSec)) {
      const salt = key.salts.current(nowSec)
      this.log.info({ authKeyId: key.record.id.toString(), msgId: msg.msgId.toString() }, 'session: bad server salt')
      this.sendLoose(key, msg, {
        _: 'bad_server_salt',
        bad_msg_id: msg.msgId,
        bad_msg_seqno: msg.seqNo,
        error_code: BadMsgCode.badServerSalt,
        new_server_salt: salt,
      })
      return
    }
    let session = existing
    if (!session) {
      if (key.sessions.size >= this.maxSessionsPerKey) this.evictOneSession(key)
      // new_session_created.first_msg_id: clients resend every request below it (tgnet,
      // ConnectionsManager.cpp), so a first container announces its smallest inner msg_id.
      session = new Session(this.host, key, msg.sessionId, firstHandledMsgId(msg.msgId, msg.body))
      key.sessions.set(msg.sessionId, session)
      this.log.debug({ authKeyId: key.record.id.toString(), sessionId: msg.sessionId.toString() }, 'session: new session')
    }
    session.handle(msg)
  }

  /** A notification about a message that did not reach a session (bad msg_id / salt). */
  private sendLoose(key: KeyState, msg: InboundMessage, obj: TlObject): void {
    this.host.link.send(msg.connId, {
      authKeyId: key.record.id,
      salt: this.currentSalt(key),
      sessionId: msg.sessionId,
      msgId: this.host.msgIds.next(true),
      seqNo: 0,
      body: encode(obj),
    })
  }

  /** Makes room for a new session: forgets the least recently active one (preferring unconnected). */
  private evictOneSession(key: KeyState): void {
    let victim: Session | undefined
    for (const s of key.sessions.values()) {
      if (!victim || (!s.conn && victim.conn) || (!s.conn === !victim.conn && s.lastActiveMs < victim.lastActiveMs)) victim = s
    }
    if (!victim) return
    this.log.warn({ authKeyId: key.record.id.toString(), sessionId: victim.id.toString(), sessions: key.sessions.size }, 'session: too many sessions on one auth key; forgetting the least recently active')
    key.sessions.delete(victim.id)
    this.forget(victim)
  }

  private destroySession(key: KeyState, sessionId: bigint): boolean {
    const s = key.sessions.get(sessionId)
    if (!s) return false
    key.sessions.delete(sessionId)
    this.forget(s)
    return true
  }

  private forget(s: Session): void {
    s.destroy()
    const connId = s.conn?.connId
    if (connId !== undefined) this.unlinkConn(connId, s)
  }

  private async destroyAuthKey(key: KeyState): Promise<'ok' | 'none' | 'fail'> {
    const existed = await this.store.destroy(key.record.id)
    this.log.info({ authKeyId: key.record.id.toString(), existed }, 'session: destroy_auth_key')
    return existed ? 'ok' : 'none'
  }

  private async bindTempAuthKey(key: KeyState, session: Session, msgId: bigint, query: TlObject): Promise<RpcOutcome> {
    if (query._ !== 'auth.bindTempAuthKey') return { kind: 'error', code: 400, message: 'INPUT_REQUEST_INVALID' }
    const nowSec = this.nowSec()
    try {
      const permKey = await this.store.get(query.perm_auth_key_id)
      const expiresAt = validateBindTempAuthKey(query, { tempKey: key.record, sessionId: session.id, msgId, nowSec, permKey })
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

  /** Idle expiry, ping_delay_disconnect deadlines, delayed acknowledgments. */
  tick(): void {
    const now = this.host.clock.now()
    const idle = this.host.options.idleTimeoutMs
    for (const [id, key] of this.keys) {
      for (const [sid, s] of key.sessions) {
        const d = s.disconnectAt
        if (d && now >= d.atMs) {
          s.disconnectAt = undefined
          this.log.info({ sessionId: sid.toString(), connId: d.connId }, 'session: ping_delay_disconnect expired; closing the connection')
          this.host.link.closeConnection(d.connId, 'ping_delay_disconnect')
          this.closeConnection(d.connId)
        }
        if (!s.conn && now - s.lastActiveMs >= idle) {
          key.sessions.delete(sid)
          this.forget(s)
          this.log.debug({ authKeyId: id.toString(), sessionId: sid.toString() }, 'session: idle session expired')
          continue
        }
        s.tick(now)
      }
      if (key.sessions.size === 0 && !this.backlog.has(id)) {
        this.keys.delete(id)
        this.detachInfo(key)
      }
    }
  }
}
