/**
 * What a client may make the session layer expand or repeat, per connection, in one unit
 * ("expansion bytes"): bytes inflated from gzip_packed, answers re-sent on request, and the work of
 * containers and service messages (MESSAGE_COST per message in a container, SERVICE_BYTE_COST per
 * byte of msgs_ack, msgs_state_req, msg_resend_req and the like: each msg_id in them is looked up
 * and answered). One packet may spend at most `perPacket` (its gzip_packed, containers and query
 * wrappers included); every connection has a token bucket of `perSecond` (burst 2 × perPacket)
 * that every packet's spending draws on. A packet that hits its limit, or a connection whose bucket
 * runs dry, is closed; the costs are set so that legitimate traffic (a few acks, a dozen messages
 * per container) spends a small fraction.
 */
import type { InflateBudget } from '../tl/index.js'
import { TokenBucket } from '../util/token-bucket.js'

export interface ExpansionLimits {
  /** Bytes all gzip_packed of one packet may inflate to together. */
  perPacket: number
  /** Expansion bytes per second per connection. */
  perSecond: number
}

export const DEFAULT_EXPANSION_LIMITS: Readonly<ExpansionLimits> = Object.freeze({ perPacket: 2 * 1024 * 1024, perSecond: 16 * 1024 * 1024 })

/** Charged per message of a container (parsing, checks, an answer each). */
export const MESSAGE_COST = 256
/** Charged per byte of a service message (8 bytes per msg_id: ~128 per id looked up and answered). */
export const SERVICE_BYTE_COST = 16

/** Connections remembered before full (idle) buckets are dropped. */
const MAX_TRACKED = 100_000

/** The allowance of one inbound packet. */
export class PacketBudget implements InflateBudget {
  /** Set by inflateGzip when a gzip_packed was refused for want of budget. */
  exceeded = false
  /** Bytes re-sent because of this packet (msg_resend_req). */
  resent = 0

  constructor(
    public left: number,
    readonly initial: number,
  ) {}

  /** Bytes this packet made the server produce or work through. */
  get spent(): number {
    return this.initial - Math.max(0, this.left) + this.resent
  }

  /** Spends `n` of the packet's allowance; false (and `exceeded`) when that goes over it. */
  spend(n: number): boolean {
    this.left -= n
    if (this.left < 0) this.exceeded = true
    return !this.exceeded
  }
}

export class ExpansionBudgets {
  private readonly byConn = new Map<string, TokenBucket>()
  readonly limits: ExpansionLimits

  constructor(limits: Partial<ExpansionLimits> = {}) {
    this.limits = { ...DEFAULT_EXPANSION_LIMITS, ...limits }
  }

  /** The budget of a packet arriving on `connId` at `now` (ms). */
  packet(connId: string, now: number): PacketBudget {
    const b = this.byConn.get(connId)
    const left = Math.max(0, Math.min(this.limits.perPacket, b === undefined ? Infinity : Math.floor(b.available(now))))
    return new PacketBudget(left, left)
  }

  /** Charges what the packet spent; true when the connection went over its limits. */
  settle(connId: string, p: PacketBudget, now: number): boolean {
    const spent = p.spent
    if (spent > 0) {
      let b = this.byConn.get(connId)
      if (b === undefined) {
        if (this.byConn.size >= MAX_TRACKED) this.prune(now)
        b = new TokenBucket(this.limits.perSecond, 2 * this.limits.perPacket, now)
        this.byConn.set(connId, b)
      }
      b.spend(spent, now)
      if (b.available(now) < 0) return true
    }
    return p.exceeded
  }

  /** The connection ended. */
  forget(connId: string): void {
    this.byConn.delete(connId)
  }

  private prune(now: number): void {
    for (const [k, b] of this.byConn) if (b.full(now)) this.byConn.delete(k)
  }
}
