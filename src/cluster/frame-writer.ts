/**
 * The writing half of a hot-path stream: items are queued, batched into one frame per event-loop
 * turn (up to maxBatch items), and written while the stream accepts them. When write() returns false
 * the writer waits for 'drain' (gRPC's backpressure); the queue is bounded (maxQueued items) and a
 * push beyond it is refused so the caller can give the protocol's answer (close the connection).
 */

export interface FrameWriterOptions {
  /** Items held while the stream is blocked; push() refuses beyond (default 20000). */
  maxQueued?: number
  /** Items per frame (default 256). */
  maxBatch?: number
}

export class FrameWriter<Item> {
  private queue: Item[] = []
  private scheduled = false
  private blocked = false
  private closed = false
  private readonly maxQueued: number
  private readonly maxBatch: number
  readonly stats = { frames: 0, items: 0, blocked: 0, refused: 0 }

  /** `write` returns false when the stream's buffer is full (call resume() on its 'drain'). */
  constructor(
    private readonly write: (frame: { items: Item[] }) => boolean,
    opts: FrameWriterOptions = {},
  ) {
    this.maxQueued = opts.maxQueued ?? 20_000
    this.maxBatch = opts.maxBatch ?? 256
  }

  /** Queues one item; false when the queue is full or the writer is closed (the item is not sent). */
  push(item: Item): boolean {
    if (this.closed || this.queue.length >= this.maxQueued) {
      this.stats.refused++
      return false
    }
    this.queue.push(item)
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
  }

  /** No more writes; returns what was still queued (for the caller to account for). */
  close(): Item[] {
    this.closed = true
    const rest = this.queue
    this.queue = []
    return rest
  }
}
