/**
 * AES-256-IGE. Contract used by the handshake and session layers:
 *   igeEncrypt(data, key, iv) / igeDecrypt(data, key, iv) -> new Buffer of the same length.
 * (Issue B replaces the body with the native addon + portable fallback; the signatures stay.)
 */
import { createCipheriv, createDecipheriv } from 'node:crypto'

function check(data: Uint8Array, key: Uint8Array, iv: Uint8Array): void {
  if (key.length !== 32) throw new RangeError('IGE key must be 32 bytes')
  if (iv.length !== 32) throw new RangeError('IGE iv must be 32 bytes')
  if (data.length % 16 !== 0) throw new RangeError('IGE data length must be a multiple of 16')
}

export function igeEncrypt(data: Uint8Array, key: Uint8Array, iv: Uint8Array): Buffer {
  check(data, key, iv)
  const c = createCipheriv('aes-256-ecb', key, null).setAutoPadding(false)
  const out = Buffer.allocUnsafe(data.length)
  let x = Buffer.from(iv.subarray(16, 32)) // previous plaintext
  let y = Buffer.from(iv.subarray(0, 16)) // previous ciphertext
  const t = Buffer.allocUnsafe(16)
  for (let off = 0; off < data.length; off += 16) {
    for (let i = 0; i < 16; i++) t[i] = data[off + i]! ^ y[i]!
    const e = c.update(t)
    for (let i = 0; i < 16; i++) out[off + i] = e[i]! ^ x[i]!
    x = Buffer.from(data.subarray(off, off + 16))
    y = out.subarray(off, off + 16)
  }
  return out
}

export function igeDecrypt(data: Uint8Array, key: Uint8Array, iv: Uint8Array): Buffer {
  check(data, key, iv)
  const d = createDecipheriv('aes-256-ecb', key, null).setAutoPadding(false)
  const out = Buffer.allocUnsafe(data.length)
  let x = Buffer.from(iv.subarray(0, 16)) // previous ciphertext
  let y = Buffer.from(iv.subarray(16, 32)) // previous plaintext
  const t = Buffer.allocUnsafe(16)
  for (let off = 0; off < data.length; off += 16) {
    for (let i = 0; i < 16; i++) t[i] = data[off + i]! ^ y[i]!
    const p = d.update(t)
    for (let i = 0; i < 16; i++) out[off + i] = p[i]! ^ x[i]!
    x = Buffer.from(data.subarray(off, off + 16))
    y = out.subarray(off, off + 16)
  }
  return out
}
