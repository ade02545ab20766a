/**
 * Handshakes started (req_pq / req_pq_multi) per source prefix (IPv4 /24, IPv6 /64): a token
 * bucket each, so a burst from an office behind one NAT address goes through and a sustained flood
 * is held to the rate; over it → transport error -429. Nothing is held while an exchange runs: a
 * client that starts exchanges and never finishes them spends tokens, not slots others need.
 */
import { sourceAddress, sourcePrefix } from '../transport/source-limits.js'
import { systemClock, type Clock } from '../util/clock.js'
import { KeyedBuckets } from '../util/token-bucket.js'

export interface HandshakeRateOptions {
  /** Handshakes per second per prefix (the bucket's refill). */
  perSecond: number
  /** Handshakes a prefix may start at once (the bucket's size). */
  burst: number
}

export const DEFAULT_HANDSHAKE_RATE: Readonly<HandshakeRateOptions> = Object.freeze({ perSecond: 16, burst: 128 })

export class HandshakeRateLimiter {
  private readonly buckets: KeyedBuckets
  /** Starts refused (tests, metrics). */
  refused = 0

  constructor(
    readonly options: HandshakeRateOptions = DEFAULT_HANDSHAKE_RATE,
    private readonly clock: Clock = systemClock,
  ) {
    this.buckets = new KeyedBuckets(options.perSecond, options.burst)
  }

  /** Whether a client at `ip` may start a handshake now. */
  tryStart(ip: string): boolean {
    if (this.buckets.take(sourcePrefix(sourceAddress(ip)), 1, this.clock.now())) return true
    this.refused++
    return false
  }
}
