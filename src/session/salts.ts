/**
 * Server salts of one auth key: a rolling set of time windows (mtproto-description.md, "Server
 * Salt": a new salt every 30 minutes, the previous one still accepted for a further 1800 s), the
 * source of get_future_salts answers. Persisted by the caller through AuthKeyStore.saveSalts.
 */
import type { RandomSource } from '../crypto/random.js'
import type { ServerSalt } from '../store/types.js'

/** A new salt takes over every SALT_PERIOD_SECONDS. */
export const SALT_PERIOD_SECONDS = 1800
/** Each salt is accepted for this long from its validSince (one extra period of grace). */
export const SALT_VALIDITY_SECONDS = 3600
/** get_future_salts returns at most this many (the spec allows 1..64). */
export const FUTURE_SALTS_MAX = 64
/**
 * A future salt is accepted this many seconds before its window starts (a client whose clock runs a
 * little ahead switches early; the msg_id check tolerates the same +30 s).
 */
export const SALT_EARLY_ACCEPT_SECONDS = 30
/** Salts generated ahead of time whenever the set is refreshed. */
export const SALTS_AHEAD = 2

export class SaltSet {
  private salts: ServerSalt[]
  /** refresh() is a no-op until this second (nothing can change before). */
  private stableUntil = -1
  private cachedCurrent: bigint | undefined

  constructor(
    initial: readonly ServerSalt[],
    private readonly random: RandomSource,
  ) {
    this.salts = initial.map((s) => ({ ...s })).sort((a, b) => a.validSince - b.validSince)
  }

  /** The stored windows (for saveSalts). */
  snapshot(): ServerSalt[] {
    return this.salts.map((s) => ({ ...s }))
  }

  /**
   * Drops expired windows and makes sure `ahead` windows starting at or after now exist.
   * Returns true when the set changed (the caller persists it).
   */
  refresh(nowSec: number, ahead = SALTS_AHEAD): boolean {
    if (nowSec < this.stableUntil && ahead <= SALTS_AHEAD) return false
    const changed = this.refreshSlow(nowSec, ahead)
    // nothing changes before the earliest expiry or the next window start
    let until = Number.MAX_SAFE_INTEGER
    for (const s of this.salts) {
      if (s.validUntil < until) until = s.validUntil
      if (s.validSince > nowSec && s.validSince < until) until = s.validSince
    }
    this.stableUntil = until
    this.cachedCurrent = this.salts[this.currentIndex(nowSec)]!.salt
    return changed
  }

  private refreshSlow(nowSec: number, ahead: number): boolean {
    let changed = false
    const before = this.salts.length
    this.salts = this.salts.filter((s) => s.validUntil > nowSec)
    if (this.salts.length !== before) changed = true
    if (this.currentIndex(nowSec) < 0) {
      // nothing valid now: start a fresh window aligned on the period
      const since = Math.floor(nowSec / SALT_PERIOD_SECONDS) * SALT_PERIOD_SECONDS
      this.salts = this.salts.filter((s) => s.validSince > nowSec)
      this.salts.unshift(this.make(since))
      this.salts.sort((a, b) => a.validSince - b.validSince)
      changed = true
    }
    const cur = this.currentIndex(nowSec)
    while (this.salts.length - cur < ahead + 1) {
      const last = this.salts[this.salts.length - 1]!
      this.salts.push(this.make(last.validSince + SALT_PERIOD_SECONDS))
      changed = true
    }
    return changed
  }

  /** The salt the server hands out now (latest window that has started). Call refresh() first. */
  current(nowSec: number): bigint {
    if (nowSec < this.stableUntil && this.cachedCurrent !== undefined) return this.cachedCurrent
    const i = this.currentIndex(nowSec)
    if (i < 0) throw new Error('SaltSet.current: no valid salt; call refresh() first')
    return this.salts[i]!.salt
  }

  /** True when `salt` is accepted at `nowSec` (any window covering now). */
  isValid(salt: bigint, nowSec: number): boolean {
    if (salt === this.cachedCurrent && nowSec < this.stableUntil) return true
    for (const s of this.salts) {
      if (s.salt === salt && s.validSince <= nowSec + SALT_EARLY_ACCEPT_SECONDS && nowSec < s.validUntil) return true
    }
    return false
  }

  /**
   * Up to `num` (clamped to 1..64) salts starting with the current one, generating windows as
   * needed. Returns them and whether the set changed.
   */
  future(num: number, nowSec: number): { salts: ServerSalt[]; changed: boolean } {
    const n = Math.max(1, Math.min(FUTURE_SALTS_MAX, Math.floor(num)))
    const changed = this.refresh(nowSec, n - 1)
    const cur = this.currentIndex(nowSec)
    return { salts: this.salts.slice(cur, cur + n).map((s) => ({ ...s })), changed }
  }

  private currentIndex(nowSec: number): number {
    let best = -1
    for (let i = 0; i < this.salts.length; i++) {
      const s = this.salts[i]!
      if (s.validSince <= nowSec && nowSec < s.validUntil) best = i
    }
    return best
  }

  private make(validSince: number): ServerSalt {
    return { salt: this.random(8).readBigInt64LE(0), validSince, validUntil: validSince + SALT_VALIDITY_SECONDS }
  }
}
