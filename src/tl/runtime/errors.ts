/**
 * Typed errors and named limits of the TL layer. Every malformed input the codec meets ends in a
 * {@link TlError} carrying the byte offset where it was detected and what was expected there.
 */

/** Longest vector the decoder accepts (elements). */
export const MAX_VECTOR_LENGTH = 1 << 20
/** Longest TL `bytes`/`string` the decoder accepts (bytes). (The 3-byte length form could claim ~16 MiB.) */
export const MAX_BYTES_LENGTH = 8 * 1024 * 1024
/** Largest buffer `decode()` accepts (bytes). */
export const MAX_MESSAGE_SIZE = 32 * 1024 * 1024
/** Deepest nesting of boxed objects / vectors the decoder follows. */
export const MAX_DEPTH = 64
/** Most bytes a `gzip_packed` body may inflate to. */
export const MAX_GZIP_OUTPUT = 16 * 1024 * 1024
/** Most messages a `msg_container` may hold (the spec bound clients use is 1020). */
export const MAX_CONTAINER_MESSAGES = 1024

export type TlErrorCode =
  | 'TRUNCATED' // input ended before the value did
  | 'UNKNOWN_CONSTRUCTOR' // constructor id not in the registry
  | 'UNEXPECTED_CONSTRUCTOR' // a known id where another was required (vector, Bool, ...)
  | 'LIMIT' // a length/count/depth limit was exceeded
  | 'BAD_VALUE' // a value that cannot be valid (bad length prefix, bad gzip, ...)
  | 'TRAILING' // decode() left bytes unconsumed
  | 'ENCODE' // an object could not be serialised (missing field, wrong type, unknown name)

export class TlError extends Error {
  override readonly name = 'TlError'
  constructor(
    readonly code: TlErrorCode,
    message: string,
    /** Byte offset in the input (decode) or output (encode) where the problem was detected. */
    readonly offset: number,
    /** What the codec expected to find at `offset`. */
    readonly expected: string,
  ) {
    super(`${message} at offset ${offset} (expected ${expected})`)
  }
}

export function hex32(id: number): string {
  return '0x' + (id >>> 0).toString(16).padStart(8, '0')
}
