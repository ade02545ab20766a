/**
 * Server message identifiers (mtproto-description.md, "Message Identifier"): unix time in the high
 * 32 bits and its fraction in the low ones, ≡ 1 (mod 4) for responses to a client message and ≡ 3
 * otherwise, strictly increasing. The session layer has one; the gateway one per connection for
 * the handshake's unencrypted answers.
 */
import type { Clock } from './clock.js'
import { fromHalves } from './int64.js'

/**
 * When the server clock steps back by more than this, msg_ids follow the clock again instead of
 * staying ahead of it: clients synchronise their clocks from our msg_ids (codes 16/17), so ids
 * stuck in the future would make every client's messages "too high" (an endless 17 loop).
 */
export const MAX_CLOCK_STEP_BACK_MS = 30_000

/** Generates server msg_ids: time-based, strictly increasing, with the requested residue mod 4. */
export class ServerMsgIdGenerator {
  /** The last id as two numbers (seconds, 32-bit fraction): no bigint arithmetic per id. */
  private lastHi = 0
  private lastLo = 0
  private lastMs = -1

  constructor(private readonly clock: Clock) {}

  /** `response`: ≡ 1 mod 4 (answers to a client message); otherwise ≡ 3 mod 4. */
  next(response: boolean): bigint {
    this.advance(response)
    return fromHalves(this.lastHi, this.lastLo)
  }

  /** next(), written as a little-endian long into buf[offset..offset+8) (no bigint made). */
  nextInto(buf: Buffer, offset: number, response: boolean): void {
    this.advance(response)
    buf.writeUInt32LE(this.lastLo, offset)
    buf.writeInt32LE(this.lastHi, offset + 4)
  }

  private advance(response: boolean): void {
    const want = response ? 1 : 3
    const now = this.clock.now()
    let hi: number
    let lo: number
    if (now === this.lastMs) {
      hi = this.lastHi
      lo = this.lastLo + 1
    } else {
      // the msg_id of `now` (msToMsgId in src/session/msg-id.ts), in numbers
      hi = Math.floor(now / 1000)
      lo = Math.floor(((now - hi * 1000) * 4294967296) / 1000)
      const notAhead = hi < this.lastHi || (hi === this.lastHi && lo <= this.lastLo)
      if (notAhead && this.lastHi * 1000 + (this.lastLo * 1000) / 4294967296 - now <= MAX_CLOCK_STEP_BACK_MS) {
        hi = this.lastHi
        lo = this.lastLo + 1
      }
      this.lastMs = now
    }
    lo += (want - (lo & 3) + 4) & 3
    if (lo >= 4294967296) {
      lo -= 4294967296
      hi++
    }
    this.lastHi = hi
    this.lastLo = lo
  }
}
