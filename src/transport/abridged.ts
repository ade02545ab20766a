import { FramedCodec } from './framed.js'
import {
  normaliseQuickAckToken,
  transportErrorPayload,
  type Codec,
  type Frame,
} from './codec.js'
import { FramingError } from './errors.js'

/**
 * Abridged transport (0xef). Length in 4-byte words: one byte below 127, else 0x7f + 3 bytes LE.
 * Client→server: the top bit of the first byte requests a quick ack. Server→client: a quick-ack
 * token is sent as 4 bytes big-endian (bswapped), recognisable by its first byte's top bit.
 */
export class AbridgedCodec extends FramedCodec implements Codec {
  readonly name = 'abridged' as const
  readonly supportsQuickAck = true

  protected next(): Frame | null {
    const buf = this.buf
    if (buf.length < 1) return null
    const first = buf.byteAt(0)
    const high = (first & 0x80) !== 0
    if (high && this.side === 'client') {
      if (buf.length < 4) return null
      const token = buf.uint32be(0)
      buf.skip(4)
      return { type: 'quickAck', token }
    }
    let words: number
    let header: number
    if ((first & 0x7f) === 0x7f) {
      if (buf.length < 4) return null
      words = buf.uint32le(0) >>> 8
      header = 4
    } else {
      words = first & 0x7f
      header = 1
    }
    const size = words * 4
    if (size === 0) throw new FramingError('bad_length', 'abridged: zero-length frame')
    if (size > this.maxFrameSize) {
      throw new FramingError('frame_too_large', `abridged: frame of ${size} bytes exceeds ${this.maxFrameSize}`)
    }
    if (buf.length < header + size) return null
    buf.skip(header)
    return { type: 'packet', payload: buf.take(size), quickAck: high }
  }

  encodePacket(payload: Uint8Array, quickAck = false): Buffer {
    const len = payload.length
    if (len % 4 !== 0) throw new RangeError(`abridged: payload length ${len} is not a multiple of 4`)
    const words = len / 4
    if (words >= 1 << 24) throw new RangeError(`abridged: payload of ${len} bytes is too large`)
    const qa = quickAck && this.side === 'client' ? 0x80 : 0
    if (words < 0x7f) {
      const out = Buffer.allocUnsafe(1 + len)
      out[0] = words | qa
      out.set(payload, 1)
      return out
    }
    const out = Buffer.allocUnsafe(4 + len)
    out[0] = 0x7f | qa
    out[1] = words & 0xff
    out[2] = (words >>> 8) & 0xff
    out[3] = (words >>> 16) & 0xff
    out.set(payload, 4)
    return out
  }

  encodeQuickAck(token: number): Buffer {
    const out = Buffer.allocUnsafe(4)
    out.writeUInt32BE(normaliseQuickAckToken(token), 0)
    return out
  }

  encodeTransportError(code: number): Buffer {
    return this.encodePacket(transportErrorPayload(code))
  }
}
