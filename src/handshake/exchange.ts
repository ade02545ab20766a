/**
 * The types the handshake service and its steps share: the service's options, one exchange's
 * state, a step's outcome, and what a step sees of its connection (StepContext).
 */
import type { RandomSource } from '../crypto/random.js'
import type { AuthKeyRecord, AuthKeyStore, AuthKeyType } from '../store/types.js'
import type { Clock } from '../util/clock.js'
import type { Logger } from '../util/log.js'
import type { HandshakeCrypto } from './crypto-backend.js'
import type { HandshakeRateOptions } from './limits.js'
import type { HandshakeAnswer } from './messages.js'
import type { PqPair, PqSource } from './pq.js'
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

/** HandshakeServiceOptions with every default filled in. */
export type HandshakeSettings = Required<Omit<HandshakeServiceOptions, 'testMode'>> & { testMode: boolean }

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

export type ExchangeState = 'pq_sent' | 'dh_sent' | 'done' | 'failed'

/** One exchange of a connection, from resPQ on. */
export interface Exchange {
  nonce: Buffer
  serverNonce: Buffer
  pair: PqPair
  state: ExchangeState
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

/** What a step (req_DH_params, set_client_DH_params) sees of its service and connection. */
export interface StepContext {
  readonly opts: HandshakeSettings
  readonly log: Logger
  /** The connection has closed (read again after each await). */
  readonly closed: boolean
  /** The service clock, in ms. */
  now(): number
  /** A line the client can cause, rate-limited per reason. */
  note(reason: string, obj: object, msg: string): void
  /** The answer as a step; with `ex` and `raw`, remembered for an exact repeat of the request. */
  reply(answer: HandshakeAnswer, ex?: Exchange, raw?: Buffer, created?: CreatedKey): HandshakeStep
  /** Ends `ex`: its timer stopped, its DH secret dropped. */
  finish(ex: Exchange, state: 'done' | 'failed'): void
  /** Every later request of the connection gets -404. */
  markFailed(): void
}
