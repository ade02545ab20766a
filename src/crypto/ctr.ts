import { createCipheriv, type Cipher } from 'node:crypto'

/**
 * One direction of an AES-256-CTR stream (obfuscated transports). The cipher is created once and
 * keeps its counter state across calls, so chunks may be fed at any boundary.
 */
export class AesCtrStream {
  private readonly cipher: Cipher

  constructor(key: Uint8Array, iv: Uint8Array) {
    if (key.length !== 32 || iv.length !== 16) throw new RangeError('AES-256-CTR needs a 32-byte key and 16-byte IV')
    this.cipher = createCipheriv('aes-256-ctr', key, iv)
  }

  /** Encrypts or decrypts (the same operation in CTR) and returns a new buffer of equal length. */
  update(data: Uint8Array): Buffer {
    return this.cipher.update(data)
  }
}
