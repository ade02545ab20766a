import type { RandomSource } from '../crypto/random.js'
import { secureRandom } from '../crypto/random.js'
import { FramedCodec } from './framed.js'
import {
  normaliseQuickAckToken,
  transportErrorPayload,
  type Codec,
  type CodecOptions,
  type Frame,
} from './codec.js'
import { FramingError } from './errors.js'

/**
 * Intermediate transport (0xeeeeeeee): 4-byte LE length + payload. Client→server: the length's
 * top bit requests a quick ack. Server→client: a quick-ack token is written in place of a length
 * (4 bytes LE, top bit set) — the form TDLib and Telegram Android read.
 */
export class IntermediateCodec extends FramedCodec implements Codec {
  readonly name: 'intermediate' | 'padded' = 'intermediate'
  readonly supportsQuickAck = true

  /** Extra bytes a frame may carry beyond maxFrameSize (padded: up to 15 bytes of padding). */
  protected get slack(): number {
    return 0
  }

  protected checkLength(len: number): void {
    if (len % 4 !== 0) throw new FramingError('bad_length', `intermediate: length ${len} is not a multiple of 4`)
  }

  protected next(): Frame | null {
    const buf = this.buf
    if (buf.length < 4) return null
    const v = buf.uint32le(0)
    const high = (v & 0x80000000) !== 0
    if (high && this.side === 'client') {
      buf.skip(4)
      return { type: 'quickAck', token: v }
    }
    const len = v & 0x7fffffff
    if (len === 0) throw new FramingError('bad_length', `${this.name}: zero-length frame`)
    if (len > this.maxFrameSize + this.slack) {
      throw new FramingError('frame_too_large', `${this.name}: frame of ${len} bytes exceeds ${this.maxFrameSize}`)
    }
    this.checkLength(len)
    if (buf.length < 4 + len) return null
    buf.skip(4)
    return { type: 'packet', payload: buf.take(len), quickAck: high }
  }

  /** Padding length for the next frame. */
  protected paddingLength(): number {
    return 0
  }

  protected fillPadding(_into: Buffer): void {}

  encodePacket(payload: Uint8Array, quickAck = false): Buffer {
    const pad = this.paddingLength()
    const len = payload.length + pad
    if (len > 0x7fffffff) throw new RangeError(`${this.name}: payload too large`)
    const out = Buffer.allocUnsafe(4 + len)
    const qa = quickAck && this.side === 'client' ? 0x80000000 : 0
    out.writeUInt32LE((len | qa) >>> 0, 0)
    out.set(payload, 4)
    if (pad > 0) this.fillPadding(out.subarray(4 + payload.length))
    return out
  }

  encodeQuickAck(token: number): Buffer {
    const out = Buffer.allocUnsafe(4)
    out.writeUInt32LE(normaliseQuickAckToken(token), 0)
    return out
  }

  encodeTransportError(code: number): Buffer {
    const out = Buffer.allocUnsafe(8)
    out.writeUInt32LE(4, 0)
    transportErrorPayload(code).copy(out, 4)
    return out
  }
}

/**
 * Padded intermediate (0xdddddddd): as intermediate, with 0–15 random bytes after the payload,
 * counted in the length. Received payloads therefore include the sender's padding; the crypto
 * layer trims an encrypted message to a multiple of 16 (unencrypted messages carry their length).
 * The server side pads 0–3 bytes: gotd (proto/codec readPaddedIntermediate) and Telethon
 * (RandomizedIntermediatePacketCodec) strip only `length % 4` bytes from what they receive.
 * Quick acks use the intermediate form (TDLib and Telegram Android read the padded transport with
 * the same code), not the spec page's `tlen|FFFFFFFF|token|pad` variant.
 */
const POOL = 4096

export class PaddedIntermediateCodec extends IntermediateCodec {
  override readonly name = 'padded' as const
  private readonly random: RandomSource
  /** Random bytes fetched in bulk: one RandomSource call per POOL bytes, not two per frame. */
  private pool: Buffer = Buffer.alloc(0)
  private poolPos = 0
  private readonly padMask: number

  constructor(opts: CodecOptions) {
    super(opts)
    this.random = opts.random ?? secureRandom
    this.padMask = opts.side === 'server' ? 3 : 15
  }

  private take(n: number): Buffer {
    if (this.poolPos + n > this.pool.length) {
      this.pool = this.random(POOL)
      this.poolPos = 0
    }
    const out = this.pool.subarray(this.poolPos, this.poolPos + n)
    this.poolPos += n
    return out
  }

  protected override get slack(): number {
    return 15
  }

  protected override checkLength(_len: number): void {}

  protected override paddingLength(): number {
    return this.take(1)[0]! & this.padMask
  }

  protected override fillPadding(into: Buffer): void {
    this.take(into.length).copy(into)
  }
}
