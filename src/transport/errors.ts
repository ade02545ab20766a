/**
 * Typed framing errors. Every error a decoder or the transport acceptor can raise is a
 * FramingError with a machine-readable `kind`; `wireCode` is the transport error the server
 * answers with before closing (null when no codec is known yet, so nothing can be framed).
 */
export type FramingErrorKind =
  | 'frame_too_large' // length header above the configured maximum
  | 'bad_length' // zero, misaligned or otherwise impossible length
  | 'bad_checksum' // full transport CRC32 mismatch
  | 'bad_seqno' // full transport sequence number out of order
  | 'read_buffer_overflow' // more bytes buffered than the configured cap
  | 'unknown_protocol' // first bytes match no supported transport
  | 'unsupported_protocol' // HTTP / TLS on a raw MTProto port
  | 'bad_obfuscated_init' // obfuscated2 init payload invalid (forbidden words, unknown tag)
  | 'obfuscation_required' // plain transport where obfuscation is mandatory (WebSocket)
  | 'bad_dc' // MTProxy-keyed init for a DC this server does not serve

/** Transport error codes (int32 LE packets) as the spec lists them. */
export const TRANSPORT_ERROR = {
  /** auth key not found / malformed MTProto fields / bad framing */
  AUTH_KEY_NOT_FOUND: -404,
  /** transport flood */
  FLOOD: -429,
  /** invalid DC */
  INVALID_DC: -444,
} as const

/** Transport error packets sent by this process, by code (metrics): every sender counts here. */
export const transportErrorsSent = new Map<number, number>()

export function countTransportError(code: number): void {
  transportErrorsSent.set(code, (transportErrorsSent.get(code) ?? 0) + 1)
}

export class FramingError extends Error {
  override readonly name = 'FramingError'
  constructor(
    readonly kind: FramingErrorKind,
    message: string,
    /** Transport error to send before closing, or null when no codec is established. */
    readonly wireCode: number | null = TRANSPORT_ERROR.AUTH_KEY_NOT_FOUND,
  ) {
    super(message)
  }
}
