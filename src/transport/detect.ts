import type { CodecName } from './codec.js'
import { OBFUSCATED_INIT_LENGTH } from './obfuscated.js'

/** What the first bytes of a connection say about its transport. */
export type Detection =
  /** Not enough bytes yet to decide. */
  | { readonly kind: 'more'; readonly need: number }
  /** A plain codec; `header` bytes of tag to drop before framing starts (full has none). */
  | { readonly kind: 'plain'; readonly codec: CodecName; readonly header: number }
  /** An obfuscated2 init occupies the first 64 bytes. */
  | { readonly kind: 'obfuscated'; readonly header: typeof OBFUSCATED_INIT_LENGTH }
  /** Something we do not serve on this port (HTTP, TLS, nonsense). */
  | { readonly kind: 'reject'; readonly reason: string }

const HTTP_WORDS = new Set<number>([0x44414548, 0x54534f50, 0x20544547, 0x4954504f])
const TLS_WORD = 0x02010316

export interface DetectOptions {
  /** Largest payload accepted; a full-transport first length above it is not plausible. */
  maxFrameSize: number
}

/**
 * Auto-detection on one port, as the spec's header rules allow: 0xef → abridged,
 * 0xeeeeeeee → intermediate, 0xdddddddd → padded intermediate, a plausible length with seqno 0 →
 * full, HTTP/TLS → rejected (not served), anything else → obfuscated2 (64-byte init).
 */
export function detectTransport(head: Buffer, opts: DetectOptions): Detection {
  if (head.length < 1) return { kind: 'more', need: 1 }
  if (head[0] === 0xef) return { kind: 'plain', codec: 'abridged', header: 1 }
  if (head.length < 4) return { kind: 'more', need: 4 }
  const first = head.readUInt32LE(0)
  if (first === 0xeeeeeeee) return { kind: 'plain', codec: 'intermediate', header: 4 }
  if (first === 0xdddddddd) return { kind: 'plain', codec: 'padded', header: 4 }
  if (HTTP_WORDS.has(first)) return { kind: 'reject', reason: 'HTTP transport is not served on this port' }
  if (first === TLS_WORD) return { kind: 'reject', reason: 'TLS: fake-TLS is served on TCP with an ee MTProxy secret only' }
  if (head.length < 8) return { kind: 'more', need: 8 }
  if (head.readUInt32LE(4) === 0) {
    if (first >= 12 && first - 12 <= opts.maxFrameSize) return { kind: 'plain', codec: 'full', header: 0 }
    return { kind: 'reject', reason: `full transport with implausible first length ${first}` }
  }
  if (head.length < OBFUSCATED_INIT_LENGTH) return { kind: 'more', need: OBFUSCATED_INIT_LENGTH }
  return { kind: 'obfuscated', header: OBFUSCATED_INIT_LENGTH }
}
