import { ChunkBuffer } from './chunk-buffer.js'
import type { CodecOptions, Frame, Side } from './codec.js'

/**
 * What every length-prefixed codec shares: the read buffer and the loop that cuts it into
 * frames. Subclasses parse one frame (`next`) and do their own encoding.
 */
export abstract class FramedCodec {
  readonly side: Side
  protected readonly maxFrameSize: number
  protected readonly buf = new ChunkBuffer()

  constructor(opts: CodecOptions) {
    this.side = opts.side
    this.maxFrameSize = opts.maxFrameSize
  }

  get buffered(): number {
    return this.buf.length
  }

  push(chunk: Buffer): Frame[] {
    this.buf.push(chunk)
    const out: Frame[] = []
    for (;;) {
      const f = this.next()
      if (f === null) return out
      out.push(f)
    }
  }

  /** The next complete frame in `buf` (consumed), or null when more bytes are needed. Throws FramingError. */
  protected abstract next(): Frame | null
}
