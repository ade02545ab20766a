/**
 * Limits per source address, shared by every listener of a process: open connections in total,
 * per address and per prefix (IPv4 /24, IPv6 /64), and new connections per second (token buckets
 * per address and per prefix). A connection is admitted once its real source address is known and
 * released exactly once when it ends.
 */
import { KeyedBuckets } from '../util/token-bucket.js'

export interface SourceLimits {
  /** Open connections over all listeners. */
  maxConnections: number
  maxConnectionsPerIp: number
  maxConnectionsPerPrefix: number
  newConnectionsPerSecondPerIp: number
  newConnectionsBurstPerIp: number
  newConnectionsPerSecondPerPrefix: number
  newConnectionsBurstPerPrefix: number
}

export const DEFAULT_SOURCE_LIMITS: Readonly<SourceLimits> = Object.freeze({
  maxConnections: 100_000,
  maxConnectionsPerIp: 256,
  maxConnectionsPerPrefix: 1024,
  newConnectionsPerSecondPerIp: 16,
  newConnectionsBurstPerIp: 64,
  newConnectionsPerSecondPerPrefix: 64,
  newConnectionsBurstPerPrefix: 256,
})

export type RefusalReason = 'max_connections' | 'per_ip' | 'per_prefix' | 'rate_ip' | 'rate_prefix'

export interface SourceStats {
  admitted: number
  refused: Record<RefusalReason, number>
}

/**
 * The prefix an address belongs to for limits: "a.b.c" for IPv4 (and IPv4-mapped IPv6), the first
 * four hextets for IPv6.
 */
export function sourcePrefix(ip: string): string {
  const mapped = ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip
  if (!mapped.includes(':')) {
    const dot = mapped.lastIndexOf('.')
    return dot < 0 ? mapped : mapped.slice(0, dot)
  }
  const zone = mapped.indexOf('%')
  const addr = zone < 0 ? mapped : mapped.slice(0, zone)
  const [head = '', tail] = addr.split('::') as [string, string | undefined]
  const h = head === '' ? [] : head.split(':')
  const t = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = tail === undefined ? h : [...h, ...new Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t]
  return groups
    .slice(0, 4)
    .map((g) => (parseInt(g, 16) || 0).toString(16))
    .join(':')
}

/** The client address key of a normalised IPv4-mapped address ("::ffff:1.2.3.4" → "1.2.3.4"). */
export function sourceAddress(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip
}

export class SourceLimiter {
  private total = 0
  private readonly perIp = new Map<string, number>()
  private readonly perPrefix = new Map<string, number>()
  private readonly ipRate: KeyedBuckets
  private readonly prefixRate: KeyedBuckets
  readonly limits: SourceLimits
  readonly stats: SourceStats = { admitted: 0, refused: { max_connections: 0, per_ip: 0, per_prefix: 0, rate_ip: 0, rate_prefix: 0 } }

  constructor(limits: Partial<SourceLimits> = {}) {
    this.limits = { ...DEFAULT_SOURCE_LIMITS, ...limits }
    this.ipRate = new KeyedBuckets(this.limits.newConnectionsPerSecondPerIp, this.limits.newConnectionsBurstPerIp)
    this.prefixRate = new KeyedBuckets(this.limits.newConnectionsPerSecondPerPrefix, this.limits.newConnectionsBurstPerPrefix)
  }

  get open(): number {
    return this.total
  }

  /** Open connections from `ip` (tests, introspection). */
  openFrom(ip: string): number {
    return this.perIp.get(sourceAddress(ip)) ?? 0
  }

  /**
   * Admits a new connection from `ip` at `now` (ms): a release function to call once when it ends,
   * or the reason it is refused.
   */
  admit(ip: string, now: number): (() => void) | RefusalReason {
    const l = this.limits
    const addr = sourceAddress(ip)
    const prefix = sourcePrefix(addr)
    const byIp = this.perIp.get(addr) ?? 0
    const byPrefix = this.perPrefix.get(prefix) ?? 0
    let refused: RefusalReason | undefined
    if (this.total >= l.maxConnections) refused = 'max_connections'
    else if (byIp >= l.maxConnectionsPerIp) refused = 'per_ip'
    else if (byPrefix >= l.maxConnectionsPerPrefix) refused = 'per_prefix'
    else if (!this.ipRate.take(addr, 1, now)) refused = 'rate_ip'
    else if (!this.prefixRate.take(prefix, 1, now)) refused = 'rate_prefix'
    if (refused !== undefined) {
      this.stats.refused[refused]++
      return refused
    }
    this.total++
    this.perIp.set(addr, byIp + 1)
    this.perPrefix.set(prefix, byPrefix + 1)
    this.stats.admitted++
    return releaser(this, addr)
  }

  /** @internal Gives back the slot of a connection from source address `addr`. */
  release(addr: string): void {
    this.total--
    decrement(this.perIp, addr)
    decrement(this.perPrefix, sourcePrefix(addr))
  }
}

/** The release function of one admitted connection: its own small scope (the limiter, the address, a flag), held as long as the connection. */
function releaser(limiter: SourceLimiter, addr: string): () => void {
  let released = false
  return () => {
    if (released) return
    released = true
    limiter.release(addr)
  }
}

function decrement(m: Map<string, number>, k: string): void {
  const n = (m.get(k) ?? 1) - 1
  if (n <= 0) m.delete(k)
  else m.set(k, n)
}
