/**
 * The write side of a connection: frames encoded in one event-loop turn go out in one socket
 * write, the write buffer is bounded (a peer that does not read is dropped), and reading pauses
 * while writes back up above the high-water mark.
 */
import type { Connection } from './connection.js'

/** Queued frames are written at once when they reach this many bytes (no point holding big writes). */
export const COALESCE_MAX_BYTES = 64 * 1024

/** Queues an encoded frame of `c`; false when it overflowed the write buffer (the connection is then gone). */
export function writeFrame(c: Connection, frame: Buffer): boolean {
  if (c.outq === undefined) {
    c.outq = [frame]
    process.nextTick(flushWrites, c)
  } else c.outq.push(frame)
  c.outBytes += frame.length
  if (c.outBytes >= COALESCE_MAX_BYTES) flushWrites(c)
  const pending = c.outBytes + c.socket.pendingWriteBytes
  if (pending > c.limits.maxWriteBuffer) {
    c.note('warn', 'write_buffer_overflow', { pending }, 'write buffer overflow (peer not reading); closing')
    c.closedReason = 'write buffer overflow'
    c.deadlines.stop()
    c.releaseBudget()
    dropWrites(c)
    c.socket.destroy()
    c.emitClose('write buffer overflow')
    return false
  }
  if (!c.writePaused && pending > c.limits.writeHighWaterMark) {
    c.writePaused = true
    c.debug({ pending }, 'write backpressure: pausing reads')
    c.updateReading()
  }
  return true
}

/** Writes what this turn queued in one socket write. */
export function flushWrites(c: Connection): void {
  const q = c.outq
  if (q === undefined) return
  c.outq = undefined
  const n = c.outBytes
  c.outBytes = 0
  if (q.length === 0) return
  c.socket.write(q.length === 1 ? q[0]! : Buffer.concat(q, n))
  // Paused by bytes that were only queued here: if the socket took them below the high-water
  // mark, no 'drain' will come for them.
  if (c.writePaused && c.socket.pendingWriteBytes <= c.limits.writeHighWaterMark) writesDrained(c)
}

/** Forgets what is queued and not yet written (the socket is gone). */
export function dropWrites(c: Connection): void {
  if (c.outq !== undefined) c.outq.length = 0
  c.outBytes = 0
}

/** The writes went below the high-water mark: reading resumes if they paused it. */
export function writesDrained(c: Connection): void {
  if (c.writePaused) {
    c.writePaused = false
    c.debug('writes drained: resuming reads')
    c.updateReading()
  }
}
