/**
 * 64-bit integers (TL `long`: msg_id, session_id, salt, auth_key_id) between bigints, buffers and
 * 32-bit halves without the intermediate bigints that Buffer.readBigInt64LE / writeBigInt64LE and
 * `x >> 32n` / `x & 3n` allocate. These run several times for every message, and the garbage they
 * make is a good part of a busy server's allocation rate.
 *
 * A bigint stored into a one-element BigInt64Array is read back as two int32s (and vice versa);
 * the scratch is module-level, so every function is synchronous and returns before the next call.
 */
const s64 = new BigInt64Array(1)
const s32 = new Int32Array(s64.buffer)
const s8 = new Uint8Array(s64.buffer)
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
const LO = LITTLE_ENDIAN ? 0 : 1
const HI = LITTLE_ENDIAN ? 1 : 0

/** Low 32 bits of a 64-bit value, unsigned. */
export function low32(v: bigint): number {
  s64[0] = v
  return s32[LO]! >>> 0
}

/** High 32 bits of a 64-bit value, signed (for a msg_id: its unix time in seconds). */
export function high32(v: bigint): number {
  s64[0] = v
  return s32[HI]!
}

/** The signed 64-bit value hi·2³² + (lo as unsigned). */
export function fromHalves(hi: number, lo: number): bigint {
  s32[HI] = hi
  s32[LO] = lo
  return s64[0]!
}

/** Buffer.readBigInt64LE with one allocation (the result) instead of four. Caller checks bounds. */
export function readInt64LE(buf: Uint8Array, offset: number): bigint {
  if (LITTLE_ENDIAN) {
    s8[0] = buf[offset]!
    s8[1] = buf[offset + 1]!
    s8[2] = buf[offset + 2]!
    s8[3] = buf[offset + 3]!
    s8[4] = buf[offset + 4]!
    s8[5] = buf[offset + 5]!
    s8[6] = buf[offset + 6]!
    s8[7] = buf[offset + 7]!
  } else {
    for (let i = 0; i < 8; i++) s8[7 - i] = buf[offset + i]!
  }
  return s64[0]!
}

/** Buffer.writeBigInt64LE without allocating (signed or unsigned 64-bit input, written mod 2⁶⁴). Caller checks bounds. */
export function writeInt64LE(buf: Uint8Array, v: bigint, offset: number): void {
  s64[0] = v
  if (LITTLE_ENDIAN) {
    buf[offset] = s8[0]!
    buf[offset + 1] = s8[1]!
    buf[offset + 2] = s8[2]!
    buf[offset + 3] = s8[3]!
    buf[offset + 4] = s8[4]!
    buf[offset + 5] = s8[5]!
    buf[offset + 6] = s8[6]!
    buf[offset + 7] = s8[7]!
  } else {
    for (let i = 0; i < 8; i++) buf[offset + i] = s8[7 - i]!
  }
}

/** Whether buf[offset..offset+8) holds the little-endian 64-bit value with halves `hi`, `lo` (both as signed int32, e.g. high32(v), low32(v) | 0). */
export function equalsHalvesLE(buf: Uint8Array, offset: number, hi: number, lo: number): boolean {
  return (
    (buf[offset]! | (buf[offset + 1]! << 8) | (buf[offset + 2]! << 16) | (buf[offset + 3]! << 24)) === lo &&
    (buf[offset + 4]! | (buf[offset + 5]! << 8) | (buf[offset + 6]! << 16) | (buf[offset + 7]! << 24)) === hi
  )
}
