/**
 * Portable AES-256-IGE in TypeScript (32-bit T-tables, state kept in four int32 words), used when
 * the native addon cannot be loaded. No node:crypto: OpenSSL's ECB through node:crypto costs one
 * JS→C++ call per 16-byte block, which is slower than this.
 *
 * Both functions take `dst` (may be `src` itself for in-place operation, must not partially overlap).
 */

// ---- tables (built once from GF(2^8) log/antilog tables) ----

const SBOX = new Uint8Array(256)
const INV_SBOX = new Uint8Array(256)
const TE0 = new Int32Array(256)
const TE1 = new Int32Array(256)
const TE2 = new Int32Array(256)
const TE3 = new Int32Array(256)
const TD0 = new Int32Array(256)
const TD1 = new Int32Array(256)
const TD2 = new Int32Array(256)
const TD3 = new Int32Array(256)

;(function buildTables(): void {
  // powers and logs of the generator 3
  const exp = new Uint8Array(256)
  const log = new Uint8Array(256)
  let x = 1
  for (let i = 0; i < 255; i++) {
    exp[i] = x
    log[x] = i
    x ^= ((x << 1) ^ (x & 0x80 ? 0x1b : 0)) & 0xff // x *= 3
  }
  const mul = (a: number, b: number): number => (a === 0 || b === 0 ? 0 : exp[(log[a]! + log[b]!) % 255]!)
  for (let i = 0; i < 256; i++) {
    const inv = i === 0 ? 0 : exp[(255 - log[i]!) % 255]!
    let s = inv
    for (let k = 1; k <= 4; k++) s ^= ((inv << k) | (inv >> (8 - k))) & 0xff
    s ^= 0x63
    SBOX[i] = s
    INV_SBOX[s] = i
  }
  for (let i = 0; i < 256; i++) {
    const s = SBOX[i]!
    const e = (mul(s, 2) << 24) | (s << 16) | (s << 8) | mul(s, 3)
    TE0[i] = e
    TE1[i] = (e >>> 8) | (e << 24)
    TE2[i] = (e >>> 16) | (e << 16)
    TE3[i] = (e >>> 24) | (e << 8)
    const v = INV_SBOX[i]!
    const d = (mul(v, 14) << 24) | (mul(v, 9) << 16) | (mul(v, 13) << 8) | mul(v, 11)
    TD0[i] = d
    TD1[i] = (d >>> 8) | (d << 24)
    TD2[i] = (d >>> 16) | (d << 16)
    TD3[i] = (d >>> 24) | (d << 8)
  }
})()

// ---- key schedule ----

/** Encryption round keys: 60 big-endian words. */
function expandEncKey(key: Uint8Array): Int32Array {
  const rk = new Int32Array(60)
  for (let i = 0; i < 8; i++) {
    rk[i] = (key[4 * i]! << 24) | (key[4 * i + 1]! << 16) | (key[4 * i + 2]! << 8) | key[4 * i + 3]!
  }
  let rcon = 1
  for (let i = 8; i < 60; i++) {
    let t = rk[i - 1]!
    if (i % 8 === 0) {
      t =
        ((SBOX[(t >>> 16) & 255]! << 24) | (SBOX[(t >>> 8) & 255]! << 16) | (SBOX[t & 255]! << 8) | SBOX[t >>> 24]!) ^
        (rcon << 24)
      rcon = ((rcon << 1) ^ (rcon & 0x80 ? 0x1b : 0)) & 0xff
    } else if (i % 8 === 4) {
      t = (SBOX[t >>> 24]! << 24) | (SBOX[(t >>> 16) & 255]! << 16) | (SBOX[(t >>> 8) & 255]! << 8) | SBOX[t & 255]!
    }
    rk[i] = rk[i - 8]! ^ t
  }
  return rk
}

/** Decryption round keys for the equivalent inverse cipher: reversed, InvMixColumns on the middle rounds. */
function expandDecKey(rk: Int32Array): Int32Array {
  const dk = new Int32Array(60)
  for (let round = 0; round <= 14; round++) {
    for (let j = 0; j < 4; j++) {
      const w = rk[4 * (14 - round) + j]!
      dk[4 * round + j] =
        round === 0 || round === 14
          ? w
          : TD0[SBOX[w >>> 24]!]! ^ TD1[SBOX[(w >>> 16) & 255]!]! ^ TD2[SBOX[(w >>> 8) & 255]!]! ^ TD3[SBOX[w & 255]!]!
    }
  }
  return dk
}

function readWord(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!
}

function writeWord(b: Uint8Array, o: number, w: number): void {
  b[o] = w >>> 24
  b[o + 1] = w >>> 16
  b[o + 2] = w >>> 8
  b[o + 3] = w
}

function check(src: Uint8Array, dst: Uint8Array, key: Uint8Array, iv: Uint8Array): void {
  if (key.length !== 32) throw new RangeError('IGE key must be 32 bytes')
  if (iv.length !== 32) throw new RangeError('IGE iv must be 32 bytes')
  if (src.length % 16 !== 0) throw new RangeError('IGE data length must be a multiple of 16')
  if (dst.length !== src.length) throw new RangeError('IGE dst must have the same length as src')
}

/** AES-256-IGE encryption of `src` into `dst` (dst may be src). */
export function igeEncryptPortable(src: Uint8Array, dst: Uint8Array, key: Uint8Array, iv: Uint8Array): void {
  check(src, dst, key, iv)
  const rk = expandEncKey(key)
  // previous ciphertext (c) and previous plaintext (p)
  let c0 = readWord(iv, 0), c1 = readWord(iv, 4), c2 = readWord(iv, 8), c3 = readWord(iv, 12)
  let p0 = readWord(iv, 16), p1 = readWord(iv, 20), p2 = readWord(iv, 24), p3 = readWord(iv, 28)
  for (let off = 0; off < src.length; off += 16) {
    const x0 = readWord(src, off), x1 = readWord(src, off + 4), x2 = readWord(src, off + 8), x3 = readWord(src, off + 12)
    let s0 = x0 ^ c0 ^ rk[0]!, s1 = x1 ^ c1 ^ rk[1]!, s2 = x2 ^ c2 ^ rk[2]!, s3 = x3 ^ c3 ^ rk[3]!
    let k = 4
    for (let round = 1; round < 14; round++, k += 4) {
      const t0 = TE0[s0 >>> 24]! ^ TE1[(s1 >>> 16) & 255]! ^ TE2[(s2 >>> 8) & 255]! ^ TE3[s3 & 255]! ^ rk[k]!
      const t1 = TE0[s1 >>> 24]! ^ TE1[(s2 >>> 16) & 255]! ^ TE2[(s3 >>> 8) & 255]! ^ TE3[s0 & 255]! ^ rk[k + 1]!
      const t2 = TE0[s2 >>> 24]! ^ TE1[(s3 >>> 16) & 255]! ^ TE2[(s0 >>> 8) & 255]! ^ TE3[s1 & 255]! ^ rk[k + 2]!
      const t3 = TE0[s3 >>> 24]! ^ TE1[(s0 >>> 16) & 255]! ^ TE2[(s1 >>> 8) & 255]! ^ TE3[s2 & 255]! ^ rk[k + 3]!
      s0 = t0; s1 = t1; s2 = t2; s3 = t3
    }
    c0 = ((SBOX[s0 >>> 24]! << 24) | (SBOX[(s1 >>> 16) & 255]! << 16) | (SBOX[(s2 >>> 8) & 255]! << 8) | SBOX[s3 & 255]!) ^ rk[56]! ^ p0
    c1 = ((SBOX[s1 >>> 24]! << 24) | (SBOX[(s2 >>> 16) & 255]! << 16) | (SBOX[(s3 >>> 8) & 255]! << 8) | SBOX[s0 & 255]!) ^ rk[57]! ^ p1
    c2 = ((SBOX[s2 >>> 24]! << 24) | (SBOX[(s3 >>> 16) & 255]! << 16) | (SBOX[(s0 >>> 8) & 255]! << 8) | SBOX[s1 & 255]!) ^ rk[58]! ^ p2
    c3 = ((SBOX[s3 >>> 24]! << 24) | (SBOX[(s0 >>> 16) & 255]! << 16) | (SBOX[(s1 >>> 8) & 255]! << 8) | SBOX[s2 & 255]!) ^ rk[59]! ^ p3
    writeWord(dst, off, c0)
    writeWord(dst, off + 4, c1)
    writeWord(dst, off + 8, c2)
    writeWord(dst, off + 12, c3)
    p0 = x0; p1 = x1; p2 = x2; p3 = x3
  }
  rk.fill(0)
}

/** AES-256-IGE decryption of `src` into `dst` (dst may be src). */
export function igeDecryptPortable(src: Uint8Array, dst: Uint8Array, key: Uint8Array, iv: Uint8Array): void {
  check(src, dst, key, iv)
  const ek = expandEncKey(key)
  const dk = expandDecKey(ek)
  ek.fill(0)
  let c0 = readWord(iv, 0), c1 = readWord(iv, 4), c2 = readWord(iv, 8), c3 = readWord(iv, 12)
  let p0 = readWord(iv, 16), p1 = readWord(iv, 20), p2 = readWord(iv, 24), p3 = readWord(iv, 28)
  for (let off = 0; off < src.length; off += 16) {
    const x0 = readWord(src, off), x1 = readWord(src, off + 4), x2 = readWord(src, off + 8), x3 = readWord(src, off + 12)
    let s0 = x0 ^ p0 ^ dk[0]!, s1 = x1 ^ p1 ^ dk[1]!, s2 = x2 ^ p2 ^ dk[2]!, s3 = x3 ^ p3 ^ dk[3]!
    let k = 4
    for (let round = 1; round < 14; round++, k += 4) {
      const t0 = TD0[s0 >>> 24]! ^ TD1[(s3 >>> 16) & 255]! ^ TD2[(s2 >>> 8) & 255]! ^ TD3[s1 & 255]! ^ dk[k]!
      const t1 = TD0[s1 >>> 24]! ^ TD1[(s0 >>> 16) & 255]! ^ TD2[(s3 >>> 8) & 255]! ^ TD3[s2 & 255]! ^ dk[k + 1]!
      const t2 = TD0[s2 >>> 24]! ^ TD1[(s1 >>> 16) & 255]! ^ TD2[(s0 >>> 8) & 255]! ^ TD3[s3 & 255]! ^ dk[k + 2]!
      const t3 = TD0[s3 >>> 24]! ^ TD1[(s2 >>> 16) & 255]! ^ TD2[(s1 >>> 8) & 255]! ^ TD3[s0 & 255]! ^ dk[k + 3]!
      s0 = t0; s1 = t1; s2 = t2; s3 = t3
    }
    p0 = ((INV_SBOX[s0 >>> 24]! << 24) | (INV_SBOX[(s3 >>> 16) & 255]! << 16) | (INV_SBOX[(s2 >>> 8) & 255]! << 8) | INV_SBOX[s1 & 255]!) ^ dk[56]! ^ c0
    p1 = ((INV_SBOX[s1 >>> 24]! << 24) | (INV_SBOX[(s0 >>> 16) & 255]! << 16) | (INV_SBOX[(s3 >>> 8) & 255]! << 8) | INV_SBOX[s2 & 255]!) ^ dk[57]! ^ c1
    p2 = ((INV_SBOX[s2 >>> 24]! << 24) | (INV_SBOX[(s1 >>> 16) & 255]! << 16) | (INV_SBOX[(s0 >>> 8) & 255]! << 8) | INV_SBOX[s3 & 255]!) ^ dk[58]! ^ c2
    p3 = ((INV_SBOX[s3 >>> 24]! << 24) | (INV_SBOX[(s2 >>> 16) & 255]! << 16) | (INV_SBOX[(s1 >>> 8) & 255]! << 8) | INV_SBOX[s0 & 255]!) ^ dk[59]! ^ c3
    writeWord(dst, off, p0)
    writeWord(dst, off + 4, p1)
    writeWord(dst, off + 8, p2)
    writeWord(dst, off + 12, p3)
    c0 = x0; c1 = x1; c2 = x2; c3 = x3
  }
  dk.fill(0)
}
