import { FramedCodec } from './framed.js'
import { transportErrorPayload, type Codec, type Frame } from './codec.js'
import { crc32 } from '../util/crc32.js'
import { FramingError } from './errors.js'

/**
 * Full transport: LE length (of the whole frame) + LE seqno + payload + CRC32 over the rest.
 * Sequence numbers start at 0 per direction and are checked on every received frame. No quick acks.
 */
export class FullCodec extends FramedCodec implements Codec {
  readonly name = 'full' as const
  readonly supportsQuickAck = false
  private recvSeq = 0
  private sendSeq = 0

  protected next(): Frame | null {
    const buf = this.buf
    if (buf.length < 8) return null
    const len = buf.uint32le(0)
    if (len < 12) throw new FramingError('bad_length', `full: frame length ${len} below 12`)
    if (len - 12 > this.maxFrameSize) {
      throw new FramingError('frame_too_large', `full: frame of ${len - 12} bytes exceeds ${this.maxFrameSize}`)
    }
    const seq = buf.uint32le(4)
    if (seq !== this.recvSeq) throw new FramingError('bad_seqno', `full: seqno ${seq}, expected ${this.recvSeq}`)
    if (buf.length < len) return null
    const frame = buf.take(len)
    const want = frame.readUInt32LE(len - 4)
    const got = crc32(frame.subarray(0, len - 4))
    if (want !== got) throw new FramingError('bad_checksum', `full: crc32 mismatch on frame ${seq}`)
    this.recvSeq = (this.recvSeq + 1) >>> 0
    return { type: 'packet', payload: frame.subarray(8, len - 4), quickAck: false }
  }

  encodePacket(payload: Uint8Array): Buffer {
    const len = payload.length + 12
    if (len > 0xffffffff) throw new RangeError('full: payload too large')
    const out = Buffer.allocUnsafe(len)
    out.writeUInt32LE(len, 0)
    out.writeUInt32LE(this.sendSeq, 4)
    out.set(payload, 8)
    out.writeUInt32LE(crc32(out.subarray(0, len - 4)), len - 4)
    this.sendSeq = (this.sendSeq + 1) >>> 0
    return out
  }

  encodeQuickAck(): null {
    return null
  }

  encodeTransportError(code: number): Buffer {
    return this.encodePacket(transportErrorPayload(code))
  }
}
