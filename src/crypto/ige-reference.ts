/**
 * Reference AES-256 and IGE mode, written for clarity, not speed (FIPS-197 step by step, no tables
 * beyond the S-box, which is itself derived from GF(2^8) arithmetic). Tests use it to cross-check
 * the native addon and the portable implementation. Never used on a hot path.
 */

/** Multiplication by x (i.e. by 2) in GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1. */
function xtime(a: number): number {
  return ((a << 1) ^ (a & 0x80 ? 0x1b : 0)) & 0xff
}

/** General multiplication in GF(2^8). */
function gmul(a: number, b: number): number {
  let p = 0
  while (b) {
    if (b & 1) p ^= a
    a = xtime(a)
    b >>= 1
  }
  return p
}

function rotl8(x: number, n: number): number {
  return ((x << n) | (x >> (8 - n))) & 0xff
}

/** S-box: multiplicative inverse in GF(2^8) (0 maps to 0) followed by the affine transform. */
const SBOX = new Uint8Array(256)
const INV_SBOX = new Uint8Array(256)
for (let x = 0; x < 256; x++) {
  let inv = 0
  if (x !== 0) {
    for (let y = 1; y < 256; y++) {
      if (gmul(x, y) === 1) {
        inv = y
        break
      }
    }
  }
  const s = inv ^ rotl8(inv, 1) ^ rotl8(inv, 2) ^ rotl8(inv, 3) ^ rotl8(inv, 4) ^ 0x63
  SBOX[x] = s
  INV_SBOX[s] = x
}

const NR = 14 // rounds for AES-256
const NK = 8 // key words for AES-256

/** Key expansion: 15 round keys of 16 bytes each, as one 240-byte array. */
export function expandKeyReference(key: Uint8Array): Uint8Array {
  if (key.length !== 32) throw new RangeError('AES-256 key must be 32 bytes')
  const w = new Uint8Array(16 * (NR + 1))
  w.set(key)
  let rcon = 1
  for (let i = NK; i < 4 * (NR + 1); i++) {
    const t = w.slice(4 * (i - 1), 4 * i)
    if (i % NK === 0) {
      // RotWord, SubWord, Rcon
      const t0 = t[0]!
      t[0] = SBOX[t[1]!]! ^ rcon
      t[1] = SBOX[t[2]!]!
      t[2] = SBOX[t[3]!]!
      t[3] = SBOX[t0]!
      rcon = xtime(rcon)
    } else if (i % NK === 4) {
      for (let j = 0; j < 4; j++) t[j] = SBOX[t[j]!]!
    }
    for (let j = 0; j < 4; j++) w[4 * i + j] = w[4 * (i - NK) + j]! ^ t[j]!
  }
  return w
}

// The state is 16 bytes in column-major order: state[r + 4c] is row r, column c (as in the input).

function addRoundKey(s: Uint8Array, w: Uint8Array, round: number): void {
  for (let i = 0; i < 16; i++) s[i]! ^= w[16 * round + i]!
}

function subBytes(s: Uint8Array, box: Uint8Array): void {
  for (let i = 0; i < 16; i++) s[i] = box[s[i]!]!
}

function shiftRows(s: Uint8Array, inverse: boolean): void {
  const t = s.slice()
  for (let r = 1; r < 4; r++) {
    for (let c = 0; c < 4; c++) {
      const from = inverse ? (c - r + 4) % 4 : (c + r) % 4
      s[r + 4 * c] = t[r + 4 * from]!
    }
  }
}

function mixColumns(s: Uint8Array, inverse: boolean): void {
  const m = inverse ? [14, 11, 13, 9] : [2, 3, 1, 1]
  for (let c = 0; c < 4; c++) {
    const a = s.slice(4 * c, 4 * c + 4)
    for (let r = 0; r < 4; r++) {
      s[4 * c + r] =
        gmul(a[r]!, m[0]!) ^ gmul(a[(r + 1) % 4]!, m[1]!) ^ gmul(a[(r + 2) % 4]!, m[2]!) ^ gmul(a[(r + 3) % 4]!, m[3]!)
    }
  }
}

/** Encrypts one 16-byte block with an expanded key. */
export function aesEncryptBlockReference(block: Uint8Array, w: Uint8Array): Uint8Array {
  const s = Uint8Array.from(block)
  addRoundKey(s, w, 0)
  for (let round = 1; round < NR; round++) {
    subBytes(s, SBOX)
    shiftRows(s, false)
    mixColumns(s, false)
    addRoundKey(s, w, round)
  }
  subBytes(s, SBOX)
  shiftRows(s, false)
  addRoundKey(s, w, NR)
  return s
}

/** Decrypts one 16-byte block with an expanded key (the straightforward inverse cipher). */
export function aesDecryptBlockReference(block: Uint8Array, w: Uint8Array): Uint8Array {
  const s = Uint8Array.from(block)
  addRoundKey(s, w, NR)
  for (let round = NR - 1; round > 0; round--) {
    shiftRows(s, true)
    subBytes(s, INV_SBOX)
    addRoundKey(s, w, round)
    mixColumns(s, true)
  }
  shiftRows(s, true)
  subBytes(s, INV_SBOX)
  addRoundKey(s, w, 0)
  return s
}

function xor16(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(16)
  for (let i = 0; i < 16; i++) out[i] = a[i]! ^ b[i]!
  return out
}

function checkArgs(data: Uint8Array, key: Uint8Array, iv: Uint8Array): void {
  if (key.length !== 32) throw new RangeError('IGE key must be 32 bytes')
  if (iv.length !== 32) throw new RangeError('IGE iv must be 32 bytes')
  if (data.length % 16 !== 0) throw new RangeError('IGE data length must be a multiple of 16')
}

/**
 * IGE encryption: c_i = E(p_i xor c_{i-1}) xor p_{i-1}, with c_0 = iv[0:16] and p_0 = iv[16:32].
 */
export function igeEncryptReference(data: Uint8Array, key: Uint8Array, iv: Uint8Array): Buffer {
  checkArgs(data, key, iv)
  const w = expandKeyReference(key)
  const out = Buffer.alloc(data.length)
  let cPrev: Uint8Array = iv.slice(0, 16)
  let pPrev: Uint8Array = iv.slice(16, 32)
  for (let off = 0; off < data.length; off += 16) {
    const p = data.slice(off, off + 16)
    const c = xor16(aesEncryptBlockReference(xor16(p, cPrev), w), pPrev)
    out.set(c, off)
    cPrev = c
    pPrev = p
  }
  return out
}

/**
 * IGE decryption: p_i = D(c_i xor p_{i-1}) xor c_{i-1}, with c_0 = iv[0:16] and p_0 = iv[16:32].
 */
export function igeDecryptReference(data: Uint8Array, key: Uint8Array, iv: Uint8Array): Buffer {
  checkArgs(data, key, iv)
  const w = expandKeyReference(key)
  const out = Buffer.alloc(data.length)
  let cPrev: Uint8Array = iv.slice(0, 16)
  let pPrev: Uint8Array = iv.slice(16, 32)
  for (let off = 0; off < data.length; off += 16) {
    const c = data.slice(off, off + 16)
    const p = xor16(aesDecryptBlockReference(xor16(c, pPrev), w), cPrev)
    out.set(p, off)
    cPrev = c
    pPrev = p
  }
  return out
}
