/**
 * Server side of the auth-key exchange (mtproto/auth_key), one Exchange per (connection, nonce):
 *
 *   req_pq / req_pq_multi ──► resPQ                                   state: pq_sent
 *   req_DH_params         ──► server_DH_params_ok | _fail | -404      state: dh_sent
 *   set_client_DH_params  ──► dh_gen_ok | dh_gen_retry | dh_gen_fail  state: done (retry: dh_sent)
 *
 * A key whose first byte is 0 is stored and acknowledged like any other (see onSetClientDhParams).
 *
 * An exactly repeated request gets the same answer again (spec: lost responses); anything else
 * out of order, any check that fails before new_nonce is known, an unknown fingerprint, or a
 * message after a failure gets transport error -404 (and the connection closes). Limits: a
 * deadline per exchange, exchanges in flight per connection and started per source prefix (→ -429).
 */
import { constantTimeEqual, sha1 } from '../crypto/hash.js'
import { igeDecrypt, igeEncrypt } from '../crypto/ige.js'
import { secureRandom, type RandomSource } from '../crypto/random.js'
import { StoreError, type AuthKeyRecord, type AuthKeyStore, AuthKeyType } from '../store/types.js'
import { systemClock, type Clock } from '../util/clock.js'
import { rootLogger, type Logger } from '../util/log.js'
import { TRANSPORT_ERROR } from '../transport/errors.js'
import type { HandshakeCrypto } from './crypto-backend.js'
import { bigFromBytes, checkDhPublic, DH_G, DH_PRIME } from './dh.js'
import { HandshakeError, RsaError } from './errors.js'
import { authKeyAuxHash, authKeyId, firstServerSalt, newNonceHash, newNonceHashPlain, tmpAesKeyIv } from './kdf.js'
import { LogLimiter } from '../util/log-limiter.js'
import { HandshakeRateLimiter, type HandshakeRateOptions } from './limits.js'
import {
  decodeWithLength,
  PQ_INNER_TYPES,
  serialize,
  type ClientDhInnerData,
  type HandshakeAnswer,
  type HandshakeRequest,
  type PQInnerData,
  type ReqDhParams,
  type ReqPq,
  type SetClientDhParams,
} from './messages.js'
import { bigToMinBytes, PqPool, type PqPair, type PqSource } from './pq.js'
import { legacyCandidate, legacyHashMatches, rsaPadUnwrap } from './rsa-pad.js'
import type { RsaKeySet } from './rsa-keyset.js'

export interface HandshakeServiceOptions {
  keys: RsaKeySet
  crypto: HandshakeCrypto
  store: AuthKeyStore
  /**
   * The DCs this server answers as: p_q_inner_data_dc must carry ±one of them (+10000 when
   * testMode); another DC gets server_DH_params_fail, a test/production mix-up -444.
   */
  dcIds: readonly number[]
  testMode?: boolean
  pq?: PqSource
  clock?: Clock
  random?: RandomSource
  log?: Logger
  /** Time from req_pq to dh_gen_ok (default 60 s). */
  deadlineMs?: number
  /** Exchanges in flight on one connection (default 2). */
  maxPerConnection?: number
  /** Exchanges started per second per source address and per prefix (token buckets; DEFAULT_HANDSHAKE_RATE for what is not given). */
  rate?: Partial<HandshakeRateOptions>
  /** Temp keys live at most this long regardless of expires_in (default 86400 s). */
  maxTempSeconds?: number
  /** dh_gen_retry answers per exchange before dh_gen_fail (default 3). */
  maxRetries?: number
  /** Lifetime given to the first server salt in the store (default 1800 s). */
  firstSaltSeconds?: number
}

/** What became of a successful exchange (for the gateway/session layer). */
export interface CreatedKey {
  record: AuthKeyRecord
  serverSalt: bigint
  /** The DC the exchange named (p_q_inner_data_dc / _temp_dc, without sign and test offset); undefined for forms without one. */
  dcId?: number
}

export type HandshakeStep =
  | { kind: 'reply'; answer: HandshakeAnswer; body: Buffer; created?: CreatedKey }
  | { kind: 'error'; code: number; reason: string }

type State = 'pq_sent' | 'dh_sent' | 'done' | 'failed'

interface Exchange {
  nonce: Buffer
  serverNonce: Buffer
  pair: PqPair
  state: State
  deadline: number
  timer?: NodeJS.Timeout
  lastRequest?: Buffer
  lastAnswer?: { answer: HandshakeAnswer; body: Buffer }
  newNonce?: Buffer
  a?: Buffer
  tmpKey?: Buffer
  tmpIv?: Buffer
  type?: AuthKeyType
  expiresIn?: number
  dcId?: number
  retries: number
  lastAuxHash?: Buffer
}

const eq = (a: Uint8Array, b: Uint8Array): boolean => constantTimeEqual(a, b)

/** Shared by all connections of a server: keys, crypto backend, store, limits. */
export class HandshakeService {
  readonly opts: Required<Omit<HandshakeServiceOptions, 'testMode'>> & { testMode: boolean }
  readonly limiter: HandshakeRateLimiter
  /** Lines a client can cause (rejections, expiries), rate-limited per reason. */
  readonly limitedLog: LogLimiter
  private readonly ownedPool: PqPool | undefined

  constructor(options: HandshakeServiceOptions) {
    this.ownedPool = options.pq ? undefined : new PqPool()
    this.opts = {
      testMode: false,
      clock: systemClock,
      random: secureRandom,
      log: rootLogger.child({ mod: 'handshake' }),
      deadlineMs: 60_000,
      maxPerConnection: 2,
      rate: {},
      maxTempSeconds: 86_400,
      maxRetries: 3,
      firstSaltSeconds: 1800,
      ...options,
      pq: options.pq ?? this.ownedPool!,
    }
    this.limiter = new HandshakeRateLimiter(this.opts.rate, this.opts.clock)
    this.limitedLog = new LogLimiter(this.opts.log, undefined, this.opts.clock)
  }

  /** Starts background pq precomputation (when the service owns its pool). */
  async warmUp(): Promise<void> {
    await this.ownedPool?.fill()
  }

  connection(ip: string): ConnectionHandshakes {
    return new ConnectionHandshakes(this, ip)
  }

  close(): void {
    this.ownedPool?.close()
  }
}

/** The handshakes of one connection. Requests are processed strictly in arrival order. */
export class ConnectionHandshakes {
  private readonly exchanges = new Map<string, Exchange>()
  private failed = false
  private closed = false
  private chain: Promise<unknown> = Promise.resolve()
  private logger: Logger | undefined

  constructor(
    private readonly service: HandshakeService,
    readonly ip: string,
  ) {}

  /** Created on first use: most connections never log anything. */
  private get log(): Logger {
    this.logger ??= this.service.opts.log.child({ ip: this.ip })
    return this.logger
  }

  /** A line the client can cause, rate-limited per reason. */
  private note(reason: string, obj: object, msg: string): void {
    this.service.limitedLog.info(reason, { ip: this.ip, ...obj }, msg)
  }

  /** Handles one decoded request; `raw` is its serialised body (for exact-repeat detection). */
  handle(req: HandshakeRequest, raw: Buffer): Promise<HandshakeStep> {
    const run = this.chain.then(() => this.handleNow(req, raw))
    this.chain = run.catch(() => undefined)
    return run
  }

  /** Releases every slot (connection closed). */
  close(): void {
    this.closed = true
    for (const ex of this.exchanges.values()) this.finish(ex, ex.state === 'done' ? 'done' : 'failed')
    this.exchanges.clear()
  }

  /** Exchanges of this connection that have not ended. */
  get inFlight(): number {
    let n = 0
    for (const ex of this.exchanges.values()) if (ex.state === 'pq_sent' || ex.state === 'dh_sent') n++
    return n
  }

  private async handleNow(req: HandshakeRequest, raw: Buffer): Promise<HandshakeStep> {
    if (this.closed) return { kind: 'error', code: TRANSPORT_ERROR.AUTH_KEY_NOT_FOUND, reason: 'connection_closed' }
    try {
      if (this.failed) throw new HandshakeError('close404', 'after_failure', 'request after a failed exchange')
      switch (req._) {
        case 'req_pq':
        case 'req_pq_multi':
          return this.onReqPq(req, raw)
        case 'req_DH_params':
          return await this.onReqDhParams(req, raw)
        case 'set_client_DH_params':
          return await this.onSetClientDhParams(req, raw)
        case 'destroy_auth_key':
          // Unencrypted form: no key is bound to an auth_key_id = 0 connection.
          return this.reply({ _: 'destroy_auth_key_none' })
      }
    } catch (err) {
      return this.fail(err)
    }
  }

  private fail(err: unknown): HandshakeStep {
    if (err instanceof HandshakeError) {
      const code =
        err.reaction === 'close429'
          ? TRANSPORT_ERROR.FLOOD
          : err.reaction === 'close444'
            ? TRANSPORT_ERROR.INVALID_DC
            : TRANSPORT_ERROR.AUTH_KEY_NOT_FOUND
      if (err.reaction !== 'close429') this.failed = true
      this.note(`rejected_${err.reason}`, { code, err: err.message }, 'handshake rejected')
      return { kind: 'error', code, reason: err.reason }
    }
    this.failed = true
    this.log.error({ err }, 'handshake internal error')
    return { kind: 'error', code: TRANSPORT_ERROR.AUTH_KEY_NOT_FOUND, reason: 'internal' }
  }

  private reply(answer: HandshakeAnswer, ex?: Exchange, raw?: Buffer, created?: CreatedKey): HandshakeStep {
    const body = serialize(answer)
    if (ex && raw) {
      ex.lastRequest = Buffer.from(raw)
      ex.lastAnswer = { answer, body }
    }
    return created ? { kind: 'reply', answer, body, created } : { kind: 'reply', answer, body }
  }

  private repeat(ex: Exchange, raw: Buffer): HandshakeStep | undefined {
    if (ex.lastRequest && ex.lastAnswer && ex.lastRequest.equals(raw)) {
      this.log.debug('repeated handshake request: same answer again')
      return { kind: 'reply', answer: ex.lastAnswer.answer, body: ex.lastAnswer.body }
    }
    return undefined
  }

  /**
   * `method` is allowed in `state` only (undefined: go on). In the state it leads to, an exact
   * repeat gets the same answer again (a lost response); anything else is -404.
   */
  private expectState(ex: Exchange, state: 'pq_sent' | 'dh_sent', raw: Buffer, method: string): HandshakeStep | undefined {
    if (ex.state === state) return undefined
    const next: State = state === 'pq_sent' ? 'dh_sent' : 'done'
    const again = ex.state === next ? this.repeat(ex, raw) : undefined
    if (again) return again
    throw new HandshakeError('close404', `unexpected_${method}`, `${method} in state ${ex.state}`)
  }

  private now(): number {
    return this.service.opts.clock.now()
  }

  private lookup(nonce: Buffer, serverNonce: Buffer): Exchange {
    const ex = this.exchanges.get(nonce.toString('hex'))
    if (!ex) throw new HandshakeError('close404', 'unknown_nonce', 'no exchange with this nonce')
    if (!eq(ex.serverNonce, serverNonce)) throw new HandshakeError('close404', 'server_nonce_mismatch')
    if (this.now() > ex.deadline) {
      this.finish(ex, 'failed')
      throw new HandshakeError('close404', 'deadline', 'exchange deadline passed')
    }
    if (ex.state === 'failed') throw new HandshakeError('close404', 'after_failure')
    return ex
  }

  private finish(ex: Exchange, state: 'done' | 'failed'): void {
    ex.state = state
    if (ex.timer) clearTimeout(ex.timer)
    ex.timer = undefined
    ex.a = undefined
  }

  /**
   * Ends the oldest exchange whose resPQ the client never followed up. TDLib opens every connection
   * with one or two pings (req_pq_multi, td/mtproto/PingConnection.h) and then starts its key
   * exchange on the same connection: its pings must not count against the per-connection limit.
   * An exchange past resPQ is never dropped this way (tgnet loops if its exchange is replaced).
   */
  private dropOldestUnanswered(): void {
    for (const [k, ex] of this.exchanges) {
      if (ex.state !== 'pq_sent') continue
      this.finish(ex, 'failed')
      this.exchanges.delete(k)
      this.log.debug('resPQ never followed up: exchange dropped for a new req_pq')
      return
    }
  }

  private onReqPq(req: ReqPq, raw: Buffer): HandshakeStep {
    if (req.nonce.length !== 16) throw new HandshakeError('close404', 'bad_nonce')
    const key = req.nonce.toString('hex')
    const existing = this.exchanges.get(key)
    if (existing) {
      const again = existing.state === 'pq_sent' ? this.repeat(existing, raw) : undefined
      if (again) return again
      throw new HandshakeError('close404', 'nonce_reused', 'req_pq with a nonce already in use')
    }
    // Forget finished exchanges of this connection; count the live ones.
    for (const [k, ex] of this.exchanges) if (ex.state === 'done' || ex.state === 'failed') this.exchanges.delete(k)
    const o = this.service.opts
    if (this.inFlight >= o.maxPerConnection) this.dropOldestUnanswered()
    if (this.inFlight >= o.maxPerConnection) throw new HandshakeError('close429', 'per_connection_limit', 'too many handshakes on this connection')
    const refused = this.service.limiter.start(this.ip)
    if (refused !== undefined) throw new HandshakeError('close429', refused, `too many handshakes from this ${refused === 'rate_ip' ? 'address' : 'address prefix'}`)
    const ex: Exchange = {
      nonce: Buffer.from(req.nonce),
      serverNonce: o.random(16),
      pair: o.pq.take(),
      state: 'pq_sent',
      deadline: this.now() + o.deadlineMs,
      retries: 0,
    }
    ex.timer = setTimeout(() => {
      if (ex.state === 'pq_sent' || ex.state === 'dh_sent') {
        this.note('deadline', {}, 'handshake expired')
        this.finish(ex, 'failed')
      }
    }, o.deadlineMs)
    ex.timer.unref()
    this.exchanges.set(key, ex)
    return this.reply(
      {
        _: 'resPQ',
        nonce: ex.nonce,
        server_nonce: ex.serverNonce,
        pq: bigToMinBytes(ex.pair.pq),
        server_public_key_fingerprints: o.keys.offered(),
      },
      ex,
      raw,
    )
  }

  private async onReqDhParams(req: ReqDhParams, raw: Buffer): Promise<HandshakeStep> {
    const ex = this.lookup(req.nonce, req.server_nonce)
    const early = this.expectState(ex, 'pq_sent', raw, 'req_DH_params')
    if (early) return early
    if (bigFromBytes(req.p) !== ex.pair.p || bigFromBytes(req.q) !== ex.pair.q) throw new HandshakeError('close404', 'wrong_p_q', 'p, q do not factor our pq')
    const o = this.service.opts
    if (!o.keys.get(req.public_key_fingerprint)) throw new HandshakeError('close404', 'unknown_fingerprint', `no key ${BigInt.asUintN(64, req.public_key_fingerprint).toString(16)}`)
    if (req.encrypted_data.length > 256 || req.encrypted_data.length < 128) throw new HandshakeError('close404', 'bad_encrypted_length')

    let plain: Buffer
    try {
      plain = await o.crypto.rsaDecrypt(req.public_key_fingerprint, req.encrypted_data)
    } catch (err) {
      if (err instanceof RsaError) throw new HandshakeError('close404', `rsa_${err.reason}`, err.message)
      throw err
    }
    const inner = this.unwrapInner(plain)

    // new_nonce is known from here on: mismatches are answered with server_DH_params_fail.
    if (!eq(inner.nonce, ex.nonce) || !eq(inner.server_nonce, ex.serverNonce)) throw new HandshakeError('close404', 'inner_nonce_mismatch')
    if (inner.new_nonce.length !== 32) throw new HandshakeError('close404', 'bad_new_nonce')
    const dhFail = (reason: string, detail: object = {}, msg = 'server_DH_params_fail'): HandshakeStep => {
      this.note(`server_DH_params_fail_${reason}`, detail, msg)
      this.finish(ex, 'failed')
      this.failed = true
      return this.reply({ _: 'server_DH_params_fail', nonce: ex.nonce, server_nonce: ex.serverNonce, new_nonce_hash: newNonceHashPlain(inner.new_nonce) })
    }
    if (bigFromBytes(inner.pq) !== ex.pair.pq || bigFromBytes(inner.p) !== ex.pair.p || bigFromBytes(inner.q) !== ex.pair.q) return dhFail('inner_p_q_mismatch')
    let media = false
    if ('dc' in inner) {
      const abs = Math.abs(inner.dc)
      const dc = o.testMode ? abs - 10000 : abs
      if (!o.dcIds.includes(dc)) {
        if (o.dcIds.includes(o.testMode ? abs : abs - 10000)) throw new HandshakeError('close444', 'test_prod_mismatch')
        return dhFail('wrong_dc', { dc: inner.dc, served: o.dcIds }, `server_DH_params_fail: the client asked for dc ${inner.dc}, which is not served (dc_ids)`)
      }
      media = inner.dc < 0
      ex.dcId = dc
    }
    const temp = inner._ === 'p_q_inner_data_temp' || inner._ === 'p_q_inner_data_temp_dc'
    if (temp) {
      if (!inner.expires_in || inner.expires_in <= 0) return dhFail('bad_expires_in')
      ex.expiresIn = Math.min(inner.expires_in, o.maxTempSeconds)
      ex.type = media ? AuthKeyType.mediaTemp : AuthKeyType.temp
    } else {
      ex.type = AuthKeyType.perm
    }

    ex.newNonce = Buffer.from(inner.new_nonce)
    const { key, iv } = tmpAesKeyIv(ex.newNonce, ex.serverNonce)
    ex.tmpKey = key
    ex.tmpIv = iv
    const { a, gA } = await o.crypto.dhStart()
    ex.a = a
    const answer = serialize({
      _: 'server_DH_inner_data',
      nonce: ex.nonce,
      server_nonce: ex.serverNonce,
      g: DH_G,
      dh_prime: DH_PRIME,
      g_a: gA,
      server_time: Math.floor(this.now() / 1000),
    })
    const len = 20 + answer.length
    const withHash = Buffer.concat([sha1(answer), answer, o.random((16 - (len % 16)) % 16)])
    ex.state = 'dh_sent'
    return this.reply({ _: 'server_DH_params_ok', nonce: ex.nonce, server_nonce: ex.serverNonce, encrypted_answer: igeEncrypt(withHash, key, iv) }, ex, raw)
  }

  /** RSA_PAD first, then the legacy SHA-1 form; returns the inner data or throws -404. */
  private unwrapInner(plain: Buffer): PQInnerData {
    const padded = rsaPadUnwrap(plain)
    let obj: { _: string } | undefined
    if (padded) {
      try {
        obj = decodeWithLength(padded).obj
      } catch {
        throw new HandshakeError('close404', 'inner_not_tl')
      }
    } else {
      const cand = legacyCandidate(plain)
      if (!cand) throw new HandshakeError('close404', 'bad_padding', 'neither RSA_PAD nor legacy form')
      let decoded: { obj: { _: string }; length: number }
      try {
        decoded = decodeWithLength(cand)
      } catch {
        throw new HandshakeError('close404', 'bad_padding', 'neither RSA_PAD nor legacy form')
      }
      if (!legacyHashMatches(plain, decoded.length)) throw new HandshakeError('close404', 'bad_padding', 'legacy SHA-1 mismatch')
      this.log.debug('p_q_inner_data in the legacy SHA-1 RSA form')
      obj = decoded.obj
    }
    if (!PQ_INNER_TYPES.has(obj._)) throw new HandshakeError('close404', 'inner_wrong_type', `inner data is ${obj._}`)
    return obj as PQInnerData
  }

  private async onSetClientDhParams(req: SetClientDhParams, raw: Buffer): Promise<HandshakeStep> {
    const ex = this.lookup(req.nonce, req.server_nonce)
    const early = this.expectState(ex, 'dh_sent', raw, 'set_client_DH_params')
    if (early) return early
    const again = this.repeat(ex, raw)
    if (again) return again
    const o = this.service.opts
    const enc = req.encrypted_data
    if (enc.length % 16 !== 0 || enc.length < 32 || enc.length > 1024) throw new HandshakeError('close404', 'bad_encrypted_length')
    const plain = igeDecrypt(enc, ex.tmpKey!, ex.tmpIv!)
    let inner: ClientDhInnerData
    try {
      const { obj, length } = decodeWithLength(plain.subarray(20))
      if (obj._ !== 'client_DH_inner_data') throw new HandshakeError('close404', 'inner_wrong_type', `inner data is ${obj._}`)
      if (!eq(sha1(plain.subarray(20, 20 + length)), plain.subarray(0, 20))) throw new HandshakeError('close404', 'inner_sha1_mismatch')
      if (plain.length - 20 - length >= 16) throw new HandshakeError('close404', 'inner_padding_too_long')
      inner = obj as ClientDhInnerData
    } catch (err) {
      if (err instanceof HandshakeError) throw err
      throw new HandshakeError('close404', 'inner_not_tl')
    }
    if (!eq(inner.nonce, ex.nonce) || !eq(inner.server_nonce, ex.serverNonce)) throw new HandshakeError('close404', 'inner_nonce_mismatch')

    const newNonce = ex.newNonce!
    const base = { nonce: ex.nonce, server_nonce: ex.serverNonce }
    const genFail = (reason: string, authKey?: Buffer): HandshakeStep => {
      this.note(`dh_gen_fail_${reason}`, {}, 'dh_gen_fail')
      this.finish(ex, 'failed')
      this.failed = true
      const hash = authKey ? newNonceHash(newNonce, 3, authKey) : sha1(newNonce, Buffer.from([3]), Buffer.alloc(8)).subarray(4, 20)
      return this.reply({ _: 'dh_gen_fail', ...base, new_nonce_hash3: hash })
    }
    const expectedRetry = ex.lastAuxHash ? ex.lastAuxHash.readBigInt64LE(0) : 0n
    if (inner.retry_id !== expectedRetry) return genFail('wrong_retry_id')
    const gB = bigFromBytes(inner.g_b)
    const range = checkDhPublic(gB)
    if (range === 'not_in_1_p-1' || inner.g_b.length > 256) return genFail(`g_b_${range ?? 'too_long'}`)
    const gBBytes = Buffer.alloc(256)
    inner.g_b.copy(gBBytes, 256 - inner.g_b.length)
    const authKey = await o.crypto.dhFinish(ex.a!, gBBytes)
    // Closed while the modexp ran: nobody would receive dh_gen_ok, so do not store an orphan key.
    if (this.closed) throw new HandshakeError('close404', 'connection_closed')
    if (range) return genFail(`g_b_${range}`, authKey)
    // auth_key is g_ab as 256 big-endian bytes, a leading zero byte included (1 key in 256), and
    // gets dh_gen_ok with new_nonce_hash1 over those 256 bytes, as Telegram answers. Clients that
    // keep the zero (TDLib, tgnet, gotd, Pyrogram) use the key; clients that drop it (GramJS
    // Helpers.getByteArray, mtcute bigint.toBytes, Telethon get_byte_array) fail their own
    // new_nonce_hash1 check and start a new exchange, as they do against Telegram.

    const id = authKeyId(authKey)
    const nowSec = Math.floor(this.now() / 1000)
    const record: AuthKeyRecord = { id, key: authKey, type: ex.type!, createdAt: nowSec }
    if (ex.type !== AuthKeyType.perm) record.expiresAt = nowSec + ex.expiresIn!
    let put: 'created' | 'exists'
    try {
      put = await o.store.put(record)
    } catch (err) {
      if (err instanceof StoreError) {
        this.finish(ex, 'failed')
        throw new HandshakeError('unavailable', `store_${err.code}`, err.message)
      }
      throw err
    }
    if (put === 'exists') {
      ex.retries++
      if (ex.retries > o.maxRetries) return genFail('too_many_retries', authKey)
      ex.lastAuxHash = authKeyAuxHash(authKey)
      this.log.info({ retries: ex.retries }, 'auth_key_id collision: dh_gen_retry')
      return this.reply({ _: 'dh_gen_retry', ...base, new_nonce_hash2: newNonceHash(newNonce, 2, authKey) }, ex, raw)
    }
    const serverSalt = firstServerSalt(newNonce, ex.serverNonce)
    try {
      await o.store.saveSalts(id, [{ salt: serverSalt, validSince: nowSec, validUntil: nowSec + o.firstSaltSeconds }])
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'first server salt not saved')
    }
    this.finish(ex, 'done')
    this.log.debug({ type: ex.type }, 'auth key created')
    return this.reply({ _: 'dh_gen_ok', ...base, new_nonce_hash1: newNonceHash(newNonce, 1, authKey) }, ex, raw, ex.dcId === undefined ? { record, serverSalt } : { record, serverSalt, dcId: ex.dcId })
  }
}
