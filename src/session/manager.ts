/**
 * The session layer's front: implements SessionService (what the gateway calls) and PushService.
 * Keeps its keys and their sessions in a KeyDirectory (key-directory.ts); runs the key-level checks
 * (msg_id parity/time window, server salt) before a message reaches its session; expires idle
 * sessions and ping_delay_disconnect deadlines on tick().
 */
import { secureRandom, type RandomSource } from '../crypto/random.js'
import type { AuthKeyRecord, AuthKeyStore } from '../store/types.js'
import { encode, type TlObject } from '../tl/index.js'
import { systemClock, type Clock } from '../util/clock.js'
import { rootLogger, type Logger } from '../util/log.js'
import type { GatewayLink, InboundMessage, PushService, RpcDispatcher, SessionService } from './api.js'
import { BadMsgCode } from './codes.js'
import { firstHandledMsgId } from './envelope.js'
import { ExpansionBudgets, type ExpansionLimits, type PacketBudget } from './expansion.js'
import { UnknownAuthKeyError } from './errors.js'
import { KeyDirectory } from './key-directory.js'
import type { KeyInfo } from './key-state.js'
import { checkClientMsgId } from './msg-id.js'
import { OUTBOX_MAX_BYTES, OUTBOX_MAX_MESSAGES } from './outbox.js'
import { PushBody } from './layered.js'
import type { Presence } from './presence.js'
import { Session, type KeyState, type SessionOptions } from './session.js'

export { UnknownAuthKeyError } from './errors.js'

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
  /** What one packet may inflate, and a connection expand per second (expansion.ts). */
  expansion?: Partial<ExpansionLimits>
}

export const DEFAULT_IDLE_TIMEOUT_MS = 30 * 60 * 1000
export const DEFAULT_MAX_SESSIONS_PER_KEY = 256
/** Messages held per auth key while the key is being loaded from the store. */
export const MAX_BACKLOG_PER_KEY = 1024

export class SessionManager implements SessionService, PushService {
  private readonly dir: KeyDirectory
  private timer: NodeJS.Timeout | undefined
  private readonly tickIntervalMs: number
  private readonly maxSessionsPerKey: number
  private readonly expansion: ExpansionBudgets
  /** Counters (tests, metrics). */
  readonly stats: { stateSaves: number; stateSaveFailures: number; expansionCloses: number }

  constructor(opts: SessionManagerOptions) {
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
    this.dir = new KeyDirectory({
      store: opts.store,
      link: opts.link,
      dispatcher: opts.dispatcher,
      clock,
      random: opts.random ?? secureRandom,
      log: opts.log ?? rootLogger.child({ layer: 'session' }),
      options,
    })
    this.expansion = new ExpansionBudgets(opts.expansion)
    this.stats = Object.assign(this.dir.stats, { expansionCloses: 0 })
  }

  private get log(): Logger {
    return this.dir.log
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
    const cached = this.dir.keys.get(authKeyId)
    if (cached) {
      if (!this.dir.expired(cached.record)) return cached.record
      this.dir.dropKey(cached, 'temp key expired')
      return undefined
    }
    return this.dir.store.get(authKeyId)
  }

  sendData(msg: InboundMessage): void {
    const key = this.dir.keys.get(msg.authKeyId)
    if (key && !this.dir.backlog.has(msg.authKeyId)) {
      this.process(key, msg)
      return
    }
    let queue = this.dir.backlog.get(msg.authKeyId)
    if (!queue) this.dir.backlog.set(msg.authKeyId, (queue = []))
    if (queue.length >= MAX_BACKLOG_PER_KEY) {
      this.dir.limitedLog.warn('backlog_full', { authKeyId: msg.authKeyId.toString(), queued: queue.length }, 'session: too many messages while the auth key loads; message dropped')
      return
    }
    queue.push(msg)
    if (queue.length > 1) return
    void this.dir.loadKey(msg.authKeyId).then(
      (k) => this.drain(msg.authKeyId, k),
      (e: unknown) => {
        this.log.error({ authKeyId: msg.authKeyId.toString(), err: (e as Error).message }, 'session: loading the auth key failed; messages dropped')
        this.drain(msg.authKeyId, undefined)
      },
    )
  }

  closeConnection(connId: string): void {
    this.expansion.forget(connId)
    this.dir.closeConnection(connId)
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
    const key = await this.dir.loadKey(authKeyId)
    if (!key || this.dir.expired(key.record)) throw new UnknownAuthKeyError(authKeyId)
    if (key.sessions.has(sessionId)) return false
    if (key.sessions.size >= this.maxSessionsPerKey) this.evictOneSession(key)
    key.sessions.set(sessionId, new Session(this.dir, key, sessionId, 0n))
    this.log.info({ authKeyId: authKeyId.toString(), sessionId: sessionId.toString() }, 'session: created by a control call')
    return true
  }

  /**
   * Forgets session `sessionId` of the key as destroy_session does (its outbox and state), closing
   * nothing else: its connection stays open and the key's other sessions stay. True if it existed.
   */
  closeSession(authKeyId: bigint, sessionId: bigint): boolean {
    const key = this.dir.keys.get(authKeyId)
    if (!key) return false
    const ok = this.dir.destroySession(key, sessionId)
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
    for (const key of [...this.dir.keys.values()]) {
      let last = 0
      let connected = false
      for (const s of key.sessions.values()) {
        if (s.lastActiveMs > last) last = s.lastActiveMs
        if (s.conn) connected = true
      }
      if (keep(key.record.id, last, connected) || this.dir.backlog.has(key.record.id)) continue
      keys++
      sessions += key.sessions.size
      this.dir.unloadKey(key)
    }
    return { keys, sessions }
  }

  /**
   * Forgets one loaded key like forgetKeys, unless a session of it still has a connection. Returns
   * the number of sessions dropped, or undefined when the key was kept (or is not loaded).
   */
  forgetKeyIfDisconnected(authKeyId: bigint): number | undefined {
    const key = this.dir.keys.get(authKeyId)
    if (!key || this.dir.backlog.has(authKeyId)) return undefined
    for (const s of key.sessions.values()) if (s.conn) return undefined
    const n = key.sessions.size
    this.dir.unloadKey(key)
    return n
  }

  /** The auth keys whose sessions use connection `connId`. */
  keysOfConnection(connId: string): bigint[] {
    const cur = this.dir.byConn.get(connId)
    if (cur === undefined) return []
    if (cur instanceof Set) return [...new Set([...cur].map((s) => s.key.record.id))]
    return [cur.key.record.id]
  }

  /** Auth key ids currently loaded (tests, the moved-key sweep). */
  loadedKeys(): bigint[] {
    return [...this.dir.keys.keys()]
  }

  // -------------------------------------------------------------------------------------------
  // PushService
  // -------------------------------------------------------------------------------------------

  pushToAuthKey(authKeyId: bigint, body: Buffer): number {
    const info = this.dir.infos.get(authKeyId) ?? this.dir.keys.get(authKeyId)?.info
    if (!info) return 0
    const layered = new PushBody(body)
    return this.pushed(layered, this.pushToInfo(info, layered))
  }

  pushToUser(userId: bigint, body: Buffer, exceptAuthKeyId?: bigint): number {
    const layered = new PushBody(body)
    let n = 0
    for (const info of this.dir.byUser.get(userId) ?? []) n += this.pushToInfo(info, layered, exceptAuthKeyId)
    return this.pushed(layered, n)
  }

  /** Queues `body` to one session (unless it asked for no updates); 1 when it got it, else 0. */
  pushToSession(authKeyId: bigint, sessionId: bigint, body: Buffer): number {
    const s = this.session(authKeyId, sessionId)
    if (s === undefined || s.updates === 'off') return 0
    const layered = new PushBody(body)
    s.push(layered)
    return this.pushed(layered, 1)
  }

  /** The keys with a connected session here (queries, and changes as they happen). */
  get presence(): Presence {
    return this.dir.presence
  }

  /** Logs the layers a push could not be written in (it went out as given there); returns n. */
  private pushed(body: PushBody, n: number): number {
    for (const [layer, err] of body.failed) {
      this.dir.limitedLog.warn(`push_layer_${layer}`, { layer, err }, 'session: a push does not encode in a recipient layer; sent in the default layer')
    }
    return n
  }

  /** Pushes to the sessions of the info's keys; `except`: the info's own key or one of its temp keys, left out. */
  private pushToInfo(info: KeyInfo<Session>, body: PushBody, except?: bigint): number {
    let n = 0
    if (except !== undefined && info.id === except) return 0
    for (const key of info.keys) {
      if (key.record.id === except) continue
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
    return this.dir.keys.get(authKeyId)?.sessions.get(sessionId)
  }

  /** Auth keys loaded (with their sessions and state) in memory. */
  get keyCount(): number {
    return this.dir.keys.size
  }

  get sessionCount(): number {
    let n = 0
    for (const k of this.dir.keys.values()) n += k.sessions.size
    return n
  }

  /** The salt currently handed out for a key (loads nothing; undefined when the key is not loaded). */
  saltOf(authKeyId: bigint): bigint | undefined {
    const k = this.dir.keys.get(authKeyId)
    return k ? this.dir.currentSalt(k) : undefined
  }

  /** Clients' user ids per auth key as handlers set them. */
  userIdOf(authKeyId: bigint): bigint | undefined {
    return this.dir.keys.get(authKeyId)?.info.userId
  }

  // -------------------------------------------------------------------------------------------
  // processing
  // -------------------------------------------------------------------------------------------

  private drain(authKeyId: bigint, key: KeyState | undefined): void {
    const queue = this.dir.backlog.get(authKeyId) ?? []
    this.dir.backlog.delete(authKeyId)
    if (!key) {
      if (queue.length) this.log.warn({ authKeyId: authKeyId.toString(), dropped: queue.length }, 'session: unknown auth key; messages dropped')
      return
    }
    for (const m of queue) this.process(key, m)
  }

  private process(key: KeyState, msg: InboundMessage): void {
    const nowMs = this.dir.clock.now()
    const budget = this.expansion.packet(msg.connId, nowMs)
    try {
      this.processUnsafe(key, msg, budget, nowMs)
    } catch (e) {
      this.log.error({ authKeyId: msg.authKeyId.toString(), msgId: msg.msgId.toString(), err: (e as Error).message, stack: (e as Error).stack }, 'session: message processing failed')
    }
    if (this.expansion.settle(msg.connId, budget, nowMs)) {
      this.stats.expansionCloses++
      this.dir.limitedLog.warn('expansion_budget', { connId: msg.connId, clientAddr: msg.clientAddr, spent: budget.spent, exceeded: budget.exceeded }, 'session: the client made the server inflate or re-send more than its budget; closing the connection')
      this.dir.link.closeConnection(msg.connId, 'expansion budget exceeded')
      this.closeConnection(msg.connId)
    }
  }

  private processUnsafe(key: KeyState, msg: InboundMessage, budget: PacketBudget, nowMs: number): void {
    if (key.record.expiresAt !== undefined && key.record.expiresAt * 1000 <= nowMs) {
      this.dir.dropKey(key, 'temp key expired')
      return
    }
    const existing = key.sessions.get(msg.sessionId)
    const code = checkClientMsgId(msg.msgId, nowMs)
    if (code !== 0) {
      this.dir.limitedLog.info(`bad_msg_id_${code}`, { authKeyId: key.record.id.toString(), msgId: msg.msgId.toString(), code, skewMs: Number(msg.msgId >> 32n) * 1000 - nowMs }, 'session: bad msg_id')
      this.sendLoose(key, msg, { _: 'bad_msg_notification', bad_msg_id: msg.msgId, bad_msg_seqno: msg.seqNo, error_code: code })
      return
    }
    const nowSec = Math.floor(nowMs / 1000)
    if (key.salts.refresh(nowSec)) this.dir.saveSalts(key)
    if (!key.salts.isValid(msg.salt, nowSec)) {
      const salt = key.salts.current(nowSec)
      this.dir.limitedLog.debug('bad_server_salt', { authKeyId: key.record.id.toString(), msgId: msg.msgId.toString() }, 'session: bad server salt')
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
      session = new Session(this.dir, key, msg.sessionId, firstHandledMsgId(msg.msgId, msg.body))
      key.sessions.set(msg.sessionId, session)
      this.log.debug({ authKeyId: key.record.id.toString(), sessionId: msg.sessionId.toString() }, 'session: new session')
    }
    session.handle(msg, budget)
  }

  /** A notification about a message that did not reach a session (bad msg_id / salt). */
  private sendLoose(key: KeyState, msg: InboundMessage, obj: TlObject): void {
    this.dir.link.send(msg.connId, {
      authKeyId: key.record.id,
      salt: this.dir.currentSalt(key),
      sessionId: msg.sessionId,
      msgId: this.dir.msgIds.next(true),
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
    this.dir.limitedLog.warn('session_evicted', { authKeyId: key.record.id.toString(), sessionId: victim.id.toString(), sessions: key.sessions.size }, 'session: too many sessions on one auth key; forgetting the least recently active')
    this.dir.destroySession(key, victim.id)
  }

  /** Idle expiry, ping_delay_disconnect deadlines, delayed acknowledgments. */
  tick(): void {
    const now = this.dir.clock.now()
    const idle = this.dir.options.idleTimeoutMs
    for (const [id, key] of this.dir.keys) {
      for (const [sid, s] of key.sessions) {
        const d = s.disconnectAt
        if (d && now >= d.atMs) {
          s.disconnectAt = undefined
          this.log.info({ sessionId: sid.toString(), connId: d.connId }, 'session: ping_delay_disconnect expired; closing the connection')
          this.dir.link.closeConnection(d.connId, 'ping_delay_disconnect')
          this.closeConnection(d.connId)
        }
        if (!s.conn && now - s.lastActiveMs >= idle) {
          key.sessions.delete(sid)
          this.dir.forget(s)
          this.log.debug({ authKeyId: id.toString(), sessionId: sid.toString() }, 'session: idle session expired')
          continue
        }
        s.tick(now)
      }
      if (key.sessions.size === 0 && !this.dir.backlog.has(id)) {
        this.dir.keys.delete(id)
        this.dir.detachInfo(key)
      }
    }
  }
}
