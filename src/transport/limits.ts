/** Named limits of the transport layer; every one is configurable. */
export interface TransportLimits {
  /** Largest payload accepted in one frame, bytes. Above it: log, transport error -404, close. */
  maxFrameSize: number
  /** Cap on bytes a connection buffers while a frame is incomplete (≥ maxFrameSize + header). */
  maxReadBuffer: number
  /** Stop reading a socket while more than this many bytes wait to be written; resume on drain. */
  writeHighWaterMark: number
  /** Close a connection whose unflushed writes exceed this (a peer that never reads). */
  maxWriteBuffer: number
  /** Close a connection that sent nothing for this long, ms. */
  idleTimeoutMs: number
  /** Close a connection whose transport header (tag / obfuscated init) is not complete after this, ms. */
  headerTimeoutMs: number
  /**
   * Close a connection that has not sent a valid packet (one that decrypted, or a handshake message
   * that was answered) this long after its header, ms.
   */
  firstPacketTimeoutMs: number
  /**
   * A frame must be complete within frameTimeoutMs, plus the time its bytes received so far take at
   * minFrameBytesPerSecond, after its first byte arrived; otherwise the connection is closed (a
   * slow sender holding a buffer). The deadline runs while reading is paused too.
   */
  frameTimeoutMs: number
  minFrameBytesPerSecond: number
  /** After close(): wait this long for the write side to flush before destroying the socket, ms. */
  closeGraceMs: number
}

export const DEFAULT_LIMITS: Readonly<TransportLimits> = Object.freeze({
  // saveBigFilePart carries 512 KiB; leave room for the MTProto envelope and larger server-side limits.
  maxFrameSize: 2 * 1024 * 1024,
  maxReadBuffer: 2 * 1024 * 1024 + 64,
  writeHighWaterMark: 1024 * 1024,
  maxWriteBuffer: 16 * 1024 * 1024,
  idleTimeoutMs: 5 * 60 * 1000,
  headerTimeoutMs: 10 * 1000,
  firstPacketTimeoutMs: 15 * 1000,
  frameTimeoutMs: 20 * 1000,
  minFrameBytesPerSecond: 4096,
  closeGraceMs: 2000,
})

/** Defaults overlaid with `partial`; keeps maxReadBuffer at least one maximal frame plus header. */
export function resolveLimits(partial: Partial<TransportLimits> = {}): TransportLimits {
  const l: TransportLimits = { ...DEFAULT_LIMITS, ...partial }
  if (partial.maxReadBuffer === undefined) l.maxReadBuffer = l.maxFrameSize + 64
  for (const [k, v] of Object.entries(l)) {
    if (!Number.isFinite(v) || v < 0 || (k === 'minFrameBytesPerSecond' && v === 0)) throw new RangeError(`transport limit ${k} must be a non-negative number`)
  }
  if (l.maxReadBuffer < l.maxFrameSize + 16) throw new RangeError('maxReadBuffer must be at least maxFrameSize + 16')
  return l
}
