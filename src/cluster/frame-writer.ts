/**
 * The writing half of a hot-path stream: items are queued, batched into one frame per event-loop
 * turn (up to maxBatch items), and written while the stream accepts them. When write() returns false
 * the writer waits for 'drain' (gRPC's backpressure); the queue is bounded (maxQueued items) and a
 * push beyond it is refused so the caller can give the protocol's answer (close the connection).
 * Between the two, `aboveHighWater` tells the caller to slow its producers down (the gateway pauses
 * the client sockets feeding the stream) and onLowWater says when to let them go again.
 */

export interface FrameWriterOptions {
  /** Items held while the stream is blocked; push() refuses beyond (default 20000). */
  maxQueued?: number
  /** Items per frame (default 256). */
  maxBatch?: number
  /** Queue length from which aboveHighWater is true (default maxQueued / 2). */
  highWater?: number
  /** Once above the high-water mark, onLowWater runs when the queue is back to this (default maxQueued / 8). */
  lowWater?: number
  /** The queue went from above the high-water mark down to the low-water mark. */
  onLowWater?: () => void
}

export class FrameWriter<Item> {
  private queue: Item[] = []
  private scheduled = false
  private blocked = false
  private closed = false
  private readonly maxQueued: number
  private readonly maxBatch: number
  private readonly highWater: number
  private readonly lowWater: number
  private high = false
  readonly stats = { frames: 0, items: 0, blocked: 0, refused: 0 }

  /** `write` returns false when the stream's buffer is full (call resume() on its 'drain'). */
  constructor(
    private readonly write: (frame: { items: Item[] }) => boolean,
    private readonly opts: FrameWriterOptions = {},
  ) {
    this.maxQueued = opts.maxQueued ?? 20_000
    this.maxBatch = opts.maxBatch ?? 256
    this.highWater = Math.max(1, opts.highWater ?? Math.floor(this.maxQueued / 2))
    this.lowWater = Math.min(this.highWater - 1, opts.lowWater ?? Math.floor(this.maxQueued / 8))
  }

  /** Queues one item; false when the queue is full or the writer is closed (the item is not sent). */
  push(item: Item): boolean {
    if (this.closed || this.queue.length >= this.maxQueued) {
      this.stats.refused++
      return false
    }
    this.queue.push(item)
    if (this.queue.length >= this.highWater) this.high = true
    if (!this.scheduled && !this.blocked) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
    return true
  }

  /** Items waiting to be written. */
  get queued(): number {
    return this.queue.length
  }

  get isBlocked(): boolean {
    return this.blocked
  }

  /** The queue reached the high-water mark and has not come back to the low-water mark since. */
  get aboveHighWater(): boolean {
    return this.high
  }

  /** The stream drained: write what waits. */
  resume(): void {
    if (!this.blocked) return
    this.blocked = false
    this.flush()
  }

  /** Writes everything queued now (ignores the per-turn batching); stops at backpressure. */
  flush(): void {
    this.scheduled = false
    while (this.queue.length > 0 && !this.blocked && !this.closed) {
      const items = this.queue.length <= this.maxBatch ? this.queue : this.queue.slice(0, this.maxBatch)
      this.queue = this.queue.length <= this.maxBatch ? [] : this.queue.slice(this.maxBatch)
      this.stats.frames++
      this.stats.items += items.length
      if (!this.write({ items })) {
        this.blocked = true
        this.stats.blocked++
      }
    }
    if (this.high && this.queue.length <= this.lowWater && !this.closed) {
      this.high = false
      this.opts.onLowWater?.()
    }
  }

  /** No more writes; returns what was still queued (for the caller to account for). */
  close(): Item[] {
    this.closed = true
    this.high = false
    const rest = this.queue
    this.queue = []
    return rest
  }
}
