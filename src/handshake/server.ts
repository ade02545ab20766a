/**
 * Server side of the auth-key exchange (mtproto/auth_key), one Exchange per (connection, nonce):
 *
 *   req_pq / req_pq_multi ──► resPQ                                   state: pq_sent
 *   req_DH_params         ──► server_DH_params_ok | _fail | -404      state: dh_sent
 *   set_client_DH_params  ──► dh_gen_ok | dh_gen_retry | dh_gen_fail  state: done (retry: dh_sent)
 *
 * A key whose first byte is 0 is stored and acknowledged like any other (see set-client-dh-params.ts).
 *
 * An exactly repeated request gets the same answer again (spec: lost responses); anything else
 * out of order, any check that fails before new_nonce is known, an unknown fingerprint, or a
 * message after a failure gets transport error -404 (and the connection closes). Limits: a
 * deadline per exchange, exchanges in flight per connection and started per source prefix (→ -429).
 */
import { constantTimeEqual } from '../crypto/hash.js'
import { secureRandom } from '../crypto/random.js'
import { systemClock } from '../util/clock.js'
import { rootLogger, type Logger } from '../util/log.js'
import { TRANSPORT_ERROR } from '../transport/errors.js'
import { HandshakeError } from './errors.js'
import type { CreatedKey, Exchange, ExchangeState, HandshakeServiceOptions, HandshakeSettings, HandshakeStep, StepContext } from './exchange.js'
import { LogLimiter } from '../util/log-limiter.js'
import { HandshakeRateLimiter } from './limits.js'
import { serialize, type HandshakeAnswer, type HandshakeRequest, type ReqDhParams, type ReqPq, type SetClientDhParams } from './messages.js'
import { bigToMinBytes, PqPool } from './pq.js'
import { answerReqDhParams } from './req-dh-params.js'
import { answerSetClientDhParams } from './set-client-dh-params.js'

export type { CreatedKey, HandshakeServiceOptions, HandshakeStep } from './exchange.js'

/** Shared by all connections of a server: keys, crypto backend, store, limits. */
export class HandshakeService {
  readonly opts: HandshakeSettings
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

  /** This connection as its steps see it. */
  private readonly steps: StepContext

  constructor(
    private readonly service: HandshakeService,
    readonly ip: string,
  ) {
    const conn = this
    this.steps = {
      opts: service.opts,
      get log() {
        return conn.log
      },
      get closed() {
        return conn.closed
      },
      now: () => this.now(),
      note: (reason, obj, msg) => this.note(reason, obj, msg),
      reply: (answer, ex, raw, created) => this.reply(answer, ex, raw, created),
      finish: (ex, state) => this.finish(ex, state),
      markFailed: () => {
        this.failed = true
      },
    }
  }

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
    const next: ExchangeState = state === 'pq_sent' ? 'dh_sent' : 'done'
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
    if (!constantTimeEqual(ex.serverNonce, serverNonce)) throw new HandshakeError('close404', 'server_nonce_mismatch')
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
    return answerReqDhParams(this.steps, ex, req, raw)
  }

  private async onSetClientDhParams(req: SetClientDhParams, raw: Buffer): Promise<HandshakeStep> {
    const ex = this.lookup(req.nonce, req.server_nonce)
    const early = this.expectState(ex, 'dh_sent', raw, 'set_client_DH_params')
    if (early) return early
    const again = this.repeat(ex, raw)
    if (again) return again
    return answerSetClientDhParams(this.steps, ex, req, raw)
  }
}
