import type { RandomSource } from '../crypto/random.js'

/** The four MTProto TCP framings. */
export type CodecName = 'abridged' | 'intermediate' | 'padded' | 'full'

/**
 * Which end of the connection the codec sits on. The wire format is asymmetric only for quick
 * acks: a server reads the quick-ack-requested bit and writes tokens; a client sets the bit and
 * reads tokens.
 */
export type Side = 'server' | 'client'

/** A decoded unit. `quickAck` on a packet means the peer asked for a quick ack (server side). */
export type Frame =
  | { readonly type: 'packet'; readonly payload: Buffer; readonly quickAck: boolean }
  | { readonly type: 'quickAck'; readonly token: number }

export interface CodecOptions {
  side: Side
  /** Largest payload accepted from the peer, bytes. A bigger length header is a FramingError. */
  maxFrameSize: number
  /** Random bytes for padded-intermediate padding. */
  random?: RandomSource
}

/**
 * One MTProto transport framing, stateful in both directions (the full transport keeps seqnos).
 * Decoding is incremental: feed arbitrary chunks, get back the frames they complete.
 */
export interface Codec {
  readonly name: CodecName
  readonly side: Side
  /** True when this framing carries quick acks (all but full). */
  readonly supportsQuickAck: boolean
  /** Bytes held for an incomplete frame. */
  readonly buffered: number
  /** Appends bytes; returns the frames they complete, in order. Throws FramingError. */
  push(chunk: Buffer): Frame[]
  /**
   * Frames one payload. `quickAck` sets the quick-ack-requested bit (client side only; ignored by
   * framings without quick acks).
   */
  encodePacket(payload: Uint8Array, quickAck?: boolean): Buffer
  /** Frames a quick-ack token (server side). Null when the framing has no quick acks. */
  encodeQuickAck(token: number): Buffer | null
  /** Frames a transport error (-404, -429, -444): the 4-byte int32 LE packet, never padded. */
  encodeTransportError(code: number): Buffer
}

/** The tag a plain (non-obfuscated) client sends first; full has none. */
export function codecTag(name: CodecName): Buffer {
  switch (name) {
    case 'abridged':
      return Buffer.from([0xef])
    case 'intermediate':
      return Buffer.from([0xee, 0xee, 0xee, 0xee])
    case 'padded':
      return Buffer.from([0xdd, 0xdd, 0xdd, 0xdd])
    case 'full':
      return Buffer.alloc(0)
  }
}

/** The 4-byte protocol identifier carried at offset 56 of an obfuscated2 init. */
export function obfuscatedTag(name: Exclude<CodecName, 'full'>): Buffer {
  const b = name === 'abridged' ? 0xef : name === 'intermediate' ? 0xee : 0xdd
  return Buffer.from([b, b, b, b])
}

/** The codec an obfuscated2 protocol identifier names, or null. */
export function codecForObfuscatedTag(tag: number): Exclude<CodecName, 'full'> | null {
  switch (tag >>> 0) {
    case 0xefefefef:
      return 'abridged'
    case 0xeeeeeeee:
      return 'intermediate'
    case 0xdddddddd:
      return 'padded'
    default:
      return null
  }
}

/** The 4-byte payload of a transport error (-404, -429, -444): int32 little-endian. */
export function transportErrorPayload(code: number): Buffer {
  const b = Buffer.allocUnsafe(4)
  b.writeInt32LE(code, 0)
  return b
}

/** If `payload` is a transport error packet, its (negative) code; otherwise null. */
export function parseTransportError(payload: Uint8Array): number | null {
  if (payload.length !== 4) return null
  const code = Buffer.from(payload.buffer, payload.byteOffset, 4).readInt32LE(0)
  return code < 0 ? code : null
}

/** Quick-ack tokens always carry the top bit; make sure the one we send does. */
export function normaliseQuickAckToken(token: number): number {
  return (token | 0x80000000) >>> 0
}
