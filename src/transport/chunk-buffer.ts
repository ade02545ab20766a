/**
 * A queue of received chunks. Decoders peek at headers across chunk boundaries and take whole
 * frames out; a frame that lies inside one chunk is returned as a subarray (no copy), a frame
 * spanning chunks is concatenated once, when it is complete.
 */
export class ChunkBuffer {
  private chunks: Buffer[] = []
  /** Read offset into chunks[0]. */
  private head = 0
  private total = 0

  get length(): number {
    return this.total
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.total += chunk.length
  }

  /** Byte at offset `i` from the read position (caller ensures i < length). */
  byteAt(i: number): number {
    let idx = 0
    let off = this.head + i
    while (off >= this.chunks[idx]!.length) {
      off -= this.chunks[idx]!.length
      idx++
    }
    return this.chunks[idx]![off]!
  }

  /** Little-endian uint32 at offset `i` (caller ensures i + 4 <= length). */
  uint32le(i: number): number {
    const c = this.chunks[0]!
    const p = this.head + i
    if (p + 4 <= c.length) return c.readUInt32LE(p)
    return (this.byteAt(i) | (this.byteAt(i + 1) << 8) | (this.byteAt(i + 2) << 16) | (this.byteAt(i + 3) << 24)) >>> 0
  }

  /** Big-endian uint32 at offset `i`. */
  uint32be(i: number): number {
    return ((this.byteAt(i) << 24) | (this.byteAt(i + 1) << 16) | (this.byteAt(i + 2) << 8) | this.byteAt(i + 3)) >>> 0
  }

  /** Removes and returns the next `n` bytes (caller ensures n <= length). */
  take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0)
    const c = this.chunks[0]!
    if (this.head + n <= c.length) {
      const out = c.subarray(this.head, this.head + n)
      this.advance(n)
      return out
    }
    const out = Buffer.allocUnsafe(n)
    let filled = 0
    while (filled < n) {
      const cur = this.chunks[0]!
      const avail = cur.length - this.head
      const k = Math.min(avail, n - filled)
      cur.copy(out, filled, this.head, this.head + k)
      filled += k
      this.advance(k)
    }
    return out
  }

  /** Drops the next `n` bytes. */
  skip(n: number): void {
    while (n > 0) {
      const cur = this.chunks[0]!
      const k = Math.min(cur.length - this.head, n)
      this.advance(k)
      n -= k
    }
  }

  /** Everything still buffered, as one buffer (used when handing leftovers to another decoder). */
  takeAll(): Buffer {
    return this.take(this.total)
  }

  private advance(n: number): void {
    this.head += n
    this.total -= n
    while (this.chunks.length > 0 && this.head >= this.chunks[0]!.length) {
      this.head -= this.chunks[0]!.length
      this.chunks.shift()
    }
  }
}
