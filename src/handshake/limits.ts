/**
 * Handshakes started (req_pq / req_pq_multi) per source address and per source prefix (IPv4 /24,
 * IPv6 /64): a token bucket each, so a burst from an office behind one NAT address goes through
 * and a sustained flood is held to the rate; over either → transport error -429. The address's
 * bucket is the smaller one and is asked first: one address flooding is held to its own rate
 * before it can empty the bucket its prefix shares with its neighbours. Nothing is held while an
 * exchange runs: a client that starts exchanges and never finishes them spends tokens, not slots
 * others need.
 */
import { sourceAddress, sourcePrefix } from '../transport/source-limits.js'
import { systemClock, type Clock } from '../util/clock.js'
import { KeyedBuckets } from '../util/token-bucket.js'

export interface HandshakeRateOptions {
  /** Handshakes per second per address (the bucket's refill). */
  perSecondPerIp: number
  /** Handshakes an address may start at once (the bucket's size). */
  burstPerIp: number
  /** Handshakes per second per prefix. */
  perSecondPerPrefix: number
  /** Handshakes a prefix may start at once. */
  burstPerPrefix: number
}

export const DEFAULT_HANDSHAKE_RATE: Readonly<HandshakeRateOptions> = Object.freeze({
  perSecondPerIp: 8,
  burstPerIp: 64,
  perSecondPerPrefix: 16,
  burstPerPrefix: 128,
})

/** Which bucket refused a handshake. */
export type HandshakeRefusal = 'rate_ip' | 'rate_prefix'

export class HandshakeRateLimiter {
  readonly options: Readonly<HandshakeRateOptions>
  private readonly perIp: KeyedBuckets
  private readonly perPrefix: KeyedBuckets
  /** Starts refused, in all (tests, metrics). */
  refused = 0
  /** Starts refused, by the bucket that refused them. */
  readonly refusedBy: Record<HandshakeRefusal, number> = { rate_ip: 0, rate_prefix: 0 }

  constructor(
    options: Partial<HandshakeRateOptions> = {},
    private readonly clock: Clock = systemClock,
  ) {
    this.options = { ...DEFAULT_HANDSHAKE_RATE, ...options }
    this.perIp = new KeyedBuckets(this.options.perSecondPerIp, this.options.burstPerIp)
    this.perPrefix = new KeyedBuckets(this.options.perSecondPerPrefix, this.options.burstPerPrefix)
  }

  /** Takes a token for a handshake from `ip` now: undefined when it may start, else the bucket that refused it. */
  start(ip: string): HandshakeRefusal | undefined {
    const addr = sourceAddress(ip)
    const now = this.clock.now()
    const refusal = !this.perIp.take(addr, 1, now) ? 'rate_ip' : !this.perPrefix.take(sourcePrefix(addr), 1, now) ? 'rate_prefix' : undefined
    if (refusal === undefined) return undefined
    this.refused++
    this.refusedBy[refusal]++
    return refusal
  }
}
