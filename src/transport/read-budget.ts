/**
 * A process-wide budget for bytes buffered in incomplete frames, shared by every connection of
 * every listener. Above the soft limit a connection that grows a partial frame stops being read for
 * a moment (backpressure); above the hard limit the connections whose partial frames are the oldest
 * (the slowest senders) are closed until the total is back under the soft limit.
 */

/** A connection as the budget sees it. */
export interface BudgetHolder {
  /** Clock ms at which its current partial frame began. */
  readonly partialSince: number
  /** Closes it; its buffered bytes are returned through change(). */
  evict(reason: string): void
}

export interface ReadBudgetStats {
  /** Connections closed to bring the total under the limit. */
  evicted: number
  /** Times a connection was paused because the total was above the soft limit. */
  paused: number
  /** Highest total seen. */
  peak: number
}

export class ReadBudget {
  private total = 0
  private readonly holders = new Map<BudgetHolder, number>()
  private evicting = false
  readonly softLimit: number
  readonly stats: ReadBudgetStats = { evicted: 0, paused: 0, peak: 0 }

  constructor(readonly limit: number) {
    this.softLimit = Math.floor(limit * 0.75)
  }

  /** Bytes buffered in partial frames now. */
  get used(): number {
    return this.total
  }

  get overSoftLimit(): boolean {
    return this.total > this.softLimit
  }

  /** `h` now buffers `bytes` (0 when it completed its frame or closed). */
  set(h: BudgetHolder, bytes: number): void {
    const before = this.holders.get(h) ?? 0
    if (bytes === before) return
    this.total += bytes - before
    if (bytes > 0) this.holders.set(h, bytes)
    else this.holders.delete(h)
    if (this.total > this.stats.peak) this.stats.peak = this.total
    if (this.total > this.limit) this.evict()
  }

  private evict(): void {
    if (this.evicting) return
    this.evicting = true
    try {
      const oldest = [...this.holders.keys()].sort((a, b) => a.partialSince - b.partialSince)
      for (const h of oldest) {
        if (this.total <= this.softLimit) break
        this.stats.evicted++
        h.evict('global read buffer budget exceeded')
        // a holder that did not give its bytes back is forgotten here so the total stays true
        const left = this.holders.get(h)
        if (left !== undefined) {
          this.total -= left
          this.holders.delete(h)
        }
      }
    } finally {
      this.evicting = false
    }
  }
}
