/**
 * MTProto 2.0 message encryption (https://core.telegram.org/mtproto/description):
 *
 *   msg_key_large = SHA256(auth_key[88+x : 120+x] + plaintext + padding)
 *   msg_key       = msg_key_large[8:24]
 *   sha256_a      = SHA256(msg_key + auth_key[x : x+36])
 *   sha256_b      = SHA256(auth_key[40+x : 76+x] + msg_key)
 *   aes_key       = sha256_a[0:8] + sha256_b[8:24] + sha256_a[24:32]
 *   aes_iv        = sha256_b[0:8] + sha256_a[8:24] + sha256_b[24:32]
 *
 * x = 0 for client→server, x = 8 for server→client. Packet = auth_key_id(8) + msg_key(16) + AES-256-IGE
 * of (salt, session_id, msg_id, seq_no, message_data_length, message_data, 12..1024 padding bytes).
 */
import { randomFillSync } from 'node:crypto'
import { constantTimeEqual, sha1, sha256 } from './hash.js'
import { igeDecryptInPlace, igeEncryptInPlace, nativeMessageCore } from './ige.js'
import type { RandomSource } from './random.js'
import { high32, low32, writeInt64LE } from '../util/int64.js'

/** Who sent the message: decides x (0 for 'client', 8 for 'server'). */
export type Direction = 'client' | 'server'

/** Bytes before the message data inside the plaintext: salt, session_id, msg_id, seq_no, length. */
export const INNER_HEADER_SIZE = 32
/** Bytes before the encrypted data in a packet: auth_key_id and msg_key. */
export const OUTER_HEADER_SIZE = 24
export const MIN_PADDING = 12
export const MAX_PADDING = 1024
/** Smallest valid encrypted part: the 32-byte header, no data, 12 padding bytes, rounded up to 16. */
export const MIN_ENCRYPTED_SIZE = 48

export type MessageCryptoErrorReason =
  /** auth_key_id of the packet is not the key's. */
  | 'auth_key_id'
  /** Packet shorter than 24 + 48 bytes, or encrypted part not a multiple of 16. */
  | 'packet_length'
  /** msg_key differs from the middle of SHA-256(auth_key part + decrypted data). */
  | 'msg_key'
  /** message_data_length negative, not divisible by 4, or past the end of the plaintext. */
  | 'message_length'
  /** Padding (plaintext length − 32 − message_data_length) outside 12..1024. */
  | 'padding'

/**
 * A packet that must be discarded. Per the security guidelines, the reaction must not depend on
 * the reason once decryption started (msg_key, message_length, padding): callers should treat all
 * reasons alike towards the peer and only log `reason`.
 */
export class MessageCryptoError extends Error {
  override readonly name = 'MessageCryptoError'
  constructor(
    readonly reason: MessageCryptoErrorReason,
    message: string,
  ) {
    super(message)
  }
}

export interface DirectionParts {
  /** auth_key[88+x : 120+x], prefix of msg_key_large's input. */
  msgKeyPrefix: Buffer
  /** auth_key[x : x+36], suffix of sha256_a's input. */
  kdfA: Buffer
  /** auth_key[40+x : 76+x], prefix of sha256_b's input. */
  kdfB: Buffer
}

/** A 2048-bit authorization key with what can be precomputed for message crypto. */
export class AuthKey {
  /** The 256-byte key. Never log it. */
  readonly key: Buffer
  /** auth_key_id: lower 64 bits of SHA-1(auth_key), read as a TL long (signed little-endian). */
  readonly id: bigint
  /** auth_key_id as it appears on the wire (SHA-1(auth_key)[12:20]). */
  readonly idBytes: Buffer
  /** auth_key_id's high and low 32 bits as signed int32s (compare a packet's id without a bigint: equalsHalvesLE). */
  readonly idHi: number
  readonly idLo: number
  /** @internal key slices for messages sent by the client (x = 0) and by the server (x = 8). */
  readonly parts: Readonly<Record<Direction, DirectionParts>>

  constructor(key: Buffer) {
    if (key.length !== 256) throw new RangeError(`auth_key must be 256 bytes, got ${key.length}`)
    this.key = Buffer.from(key) // own copy: the caller may reuse its buffer
    this.idBytes = sha1(this.key).subarray(12, 20)
    this.id = this.idBytes.readBigInt64LE(0)
    this.idHi = high32(this.id)
    this.idLo = low32(this.id) | 0
    const parts = (x: number): DirectionParts => ({
      msgKeyPrefix: this.key.subarray(88 + x, 120 + x),
      kdfA: this.key.subarray(x, x + 36),
      kdfB: this.key.subarray(40 + x, 76 + x),
    })
    this.parts = { client: parts(0), server: parts(8) }
  }

  /** Avoids printing the key through util.inspect / console.log. */
  toJSON(): { id: string } {
    return { id: this.id.toString() }
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `AuthKey { id: ${this.id} }`
  }
}

/** auth_key_id of a 256-byte key (signed, as a TL long). */
export function authKeyId(key: Buffer): bigint {
  return sha1(key).readBigInt64LE(12)
}

/** aes_key and aes_iv for a msg_key, as the spec's KDF defines them. */
export function deriveAesKeyIv(parts: DirectionParts, msgKey: Uint8Array): { key: Buffer; iv: Buffer } {
  const a = sha256(msgKey, parts.kdfA)
  const b = sha256(parts.kdfB, msgKey)
  const key = Buffer.allocUnsafe(32)
  const iv = Buffer.allocUnsafe(32)
  a.copy(key, 0, 0, 8)
  b.copy(key, 8, 8, 24)
  a.copy(key, 24, 24, 32)
  b.copy(iv, 0, 0, 8)
  a.copy(iv, 8, 8, 24)
  b.copy(iv, 24, 24, 32)
  return { key, iv }
}

/** Padding length for a plaintext: the smallest value in 12..27 making the total a multiple of 16. */
export function paddingFor(plaintextLength: number): number {
  return MIN_PADDING + ((16 - ((plaintextLength + MIN_PADDING) % 16)) % 16)
}

/**
 * The per-message work after framing: msg_key, KDF, IGE. Two implementations with identical
 * results: the native addon's (one call: OpenSSL SHA-256 + AES-NI) and this file's (hash.ts + ige.ts).
 */
export interface MessageCore {
  /** packet = 24 header bytes + plaintext+padding: writes msg_key to packet[8:24], encrypts packet[24:] in place. */
  encrypt(key: AuthKey, dir: Direction, packet: Buffer): void
  /** Decrypts packet[24:] into out, writes msg_key_large (32 bytes), returns whether msg_key matched. */
  decrypt(key: AuthKey, dir: Direction, packet: Buffer, out: Buffer, msgKeyLarge: Buffer): boolean
}

const X: Record<Direction, number> = { client: 0, server: 8 }

export const jsMessageCore: MessageCore = {
  encrypt(key, dir, packet) {
    const p = key.parts[dir]
    const body = packet.subarray(OUTER_HEADER_SIZE)
    sha256(p.msgKeyPrefix, body).copy(packet, 8, 8, 24)
    const { key: aesKey, iv: aesIv } = deriveAesKeyIv(p, packet.subarray(8, OUTER_HEADER_SIZE))
    igeEncryptInPlace(body, aesKey, aesIv)
    aesKey.fill(0)
    aesIv.fill(0)
  },
  decrypt(key, dir, packet, out, msgKeyLarge) {
    const p = key.parts[dir]
    const msgKey = packet.subarray(8, OUTER_HEADER_SIZE)
    const { key: aesKey, iv: aesIv } = deriveAesKeyIv(p, msgKey)
    out.set(packet.subarray(OUTER_HEADER_SIZE))
    igeDecryptInPlace(out, aesKey, aesIv)
    aesKey.fill(0)
    aesIv.fill(0)
    sha256(p.msgKeyPrefix, out).copy(msgKeyLarge)
    return constantTimeEqual(msgKeyLarge.subarray(8, 24), msgKey)
  },
}

/** The addon's core, or undefined when the portable IGE backend is in use. */
export const nativeCore: MessageCore | undefined = ((n) =>
  n
    ? {
        encrypt: (key: AuthKey, dir: Direction, packet: Buffer): void => n.msgEncrypt(key.key, X[dir], packet),
        decrypt: (key: AuthKey, dir: Direction, packet: Buffer, out: Buffer, mkl: Buffer): boolean =>
          n.msgDecrypt(key.key, X[dir], packet, out, mkl),
      }
    : undefined)(nativeMessageCore)

let core: MessageCore = nativeCore ?? jsMessageCore

/** Which core encryptMessage/decryptMessage use (tests switch it to cross-check). */
export function setMessageCore(c: MessageCore): MessageCore {
  const prev = core
  core = c
  return prev
}

// Padding comes from a pool of CSPRNG bytes refilled 4 KB at a time (each byte used once):
// randomBytes() per message costs more than the rest of a small message's crypto.
const PAD_POOL_SIZE = 4096
const padPool = Buffer.allocUnsafe(PAD_POOL_SIZE)
let padPoolPos = PAD_POOL_SIZE

function fillPadding(dst: Buffer, at: number, n: number): void {
  if (padPoolPos + n > PAD_POOL_SIZE) {
    randomFillSync(padPool)
    padPoolPos = 0
  }
  padPool.copy(dst, at, padPoolPos, padPoolPos + n)
  padPool.fill(0, padPoolPos, padPoolPos + n)
  padPoolPos += n
}

/**
 * Encrypts one message. `plaintext` is salt(8) + session_id(8) + msg_id(8) + seq_no(4) +
 * message_data_length(4) + message_data, without padding (12..27 random bytes are added here, from
 * `random` if given). `dir` is who sends it ('server' for a gateway). Returns auth_key_id + msg_key +
 * encrypted data. Throws RangeError on a malformed plaintext (a programming error, not peer input).
 */
export function encryptMessage(key: AuthKey, plaintext: Uint8Array, dir: Direction, random?: RandomSource): Buffer {
  if (plaintext.length < INNER_HEADER_SIZE || plaintext.length % 4 !== 0) {
    throw new RangeError(`plaintext must be at least 32 bytes and a multiple of 4, got ${plaintext.length}`)
  }
  const dataLength = new DataView(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength).getInt32(28, true)
  if (dataLength !== plaintext.length - INNER_HEADER_SIZE) {
    throw new RangeError(`message_data_length ${dataLength} does not match the ${plaintext.length - 32} data bytes`)
  }
  const pad = paddingFor(plaintext.length)
  const out = Buffer.allocUnsafe(OUTER_HEADER_SIZE + plaintext.length + pad)
  out.set(plaintext, OUTER_HEADER_SIZE)
  return finishEncrypt(key, dir, out, OUTER_HEADER_SIZE + plaintext.length, random)
}

/** Fields of one message for sealMessage. */
export interface MessageFields {
  salt: bigint
  sessionId: bigint
  msgId: bigint
  seqNo: number
  /** message_data (boxed TL body); its length must be a multiple of 4. */
  body: Uint8Array
}

/**
 * encryptMessage for a message given by its fields: the plaintext header is written straight into
 * the packet (no intermediate plaintext buffer, no bigint garbage). Same output as encryptMessage
 * of the framed plaintext. Throws RangeError when the body length is not a multiple of 4.
 */
export function sealMessage(key: AuthKey, m: MessageFields, dir: Direction, random?: RandomSource): Buffer {
  const bodyLength = m.body.length
  if (bodyLength % 4 !== 0) throw new RangeError(`message_data must be a multiple of 4 bytes, got ${bodyLength}`)
  const plainLength = INNER_HEADER_SIZE + bodyLength
  const out = Buffer.allocUnsafe(OUTER_HEADER_SIZE + plainLength + paddingFor(plainLength))
  const h = OUTER_HEADER_SIZE
  writeInt64LE(out, m.salt, h)
  writeInt64LE(out, m.sessionId, h + 8)
  writeInt64LE(out, m.msgId, h + 16)
  out.writeInt32LE(m.seqNo, h + 24)
  out.writeInt32LE(bodyLength, h + 28)
  out.set(m.body, h + INNER_HEADER_SIZE)
  return finishEncrypt(key, dir, out, OUTER_HEADER_SIZE + plainLength, random)
}

/** out = 24 header bytes + plaintext (up to `padAt`) + room for padding: pads, sets auth_key_id, encrypts. */
function finishEncrypt(key: AuthKey, dir: Direction, out: Buffer, padAt: number, random: RandomSource | undefined): Buffer {
  const pad = out.length - padAt
  if (random) {
    const r = random(pad)
    if (r.length !== pad) throw new RangeError('random source returned the wrong number of bytes')
    out.set(r, padAt)
  } else {
    fillPadding(out, padAt, pad)
  }
  key.idBytes.copy(out, 0)
  core.encrypt(key, dir, out)
  return out
}

export interface DecryptedMessage {
  /**
   * salt(8) + session_id(8) + msg_id(8) + seq_no(4) + message_data_length(4) + message_data:
   * the decrypted plaintext WITHOUT the padding (its length is 32 + message_data_length, checked).
   */
  plaintext: Buffer
  /** Full SHA-256 whose middle is msg_key; the QuickAck token is derived from it. */
  msgKeyLarge: Buffer
}

/**
 * Decrypts and checks one packet (auth_key_id + msg_key + encrypted data). `dir` is who SENT it:
 * a server decrypts with 'client'. Throws MessageCryptoError; the packet is not modified.
 * Checks, in order: length and alignment, auth_key_id, then after decryption msg_key (constant
 * time) BEFORE looking at any decrypted field, then message_data_length and padding bounds.
 */
export function decryptMessage(key: AuthKey, packet: Uint8Array, dir: Direction): DecryptedMessage {
  const encLength = packet.length - OUTER_HEADER_SIZE
  if (encLength < MIN_ENCRYPTED_SIZE || encLength % 16 !== 0) {
    throw new MessageCryptoError('packet_length', `encrypted packet of ${packet.length} bytes is too short or unaligned`)
  }
  const buf = Buffer.isBuffer(packet) ? packet : Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength)
  if (!equalsId(key, buf)) {
    throw new MessageCryptoError('auth_key_id', 'auth_key_id does not match the key')
  }
  const msgKeyLarge = Buffer.allocUnsafe(32)
  const plain = openChecked(key, buf, dir, msgKeyLarge)
  return { plaintext: plain.subarray(0, INNER_HEADER_SIZE + plain.readInt32LE(28)), msgKeyLarge }
}

/**
 * decryptMessage for hot paths: the same checks in the same order, but returns the decrypted part
 * WITH its padding (message_data_length, at offset 28, has been checked against it) and writes
 * msg_key_large into the caller's 32-byte `msgKeyLarge` (reusable scratch): one allocation per
 * packet. `packet` must be a Buffer.
 */
export function openMessage(key: AuthKey, packet: Buffer, dir: Direction, msgKeyLarge: Buffer): Buffer {
  const encLength = packet.length - OUTER_HEADER_SIZE
  if (encLength < MIN_ENCRYPTED_SIZE || encLength % 16 !== 0) {
    throw new MessageCryptoError('packet_length', `encrypted packet of ${packet.length} bytes is too short or unaligned`)
  }
  if (!equalsId(key, packet)) throw new MessageCryptoError('auth_key_id', 'auth_key_id does not match the key')
  return openChecked(key, packet, dir, msgKeyLarge)
}

function equalsId(key: AuthKey, packet: Buffer): boolean {
  return packet.readInt32LE(0) === key.idLo && packet.readInt32LE(4) === key.idHi
}

/** Decrypts a packet whose length and auth_key_id are checked; checks msg_key, then length and padding. */
function openChecked(key: AuthKey, packet: Buffer, dir: Direction, msgKeyLarge: Buffer): Buffer {
  const plain = Buffer.allocUnsafe(packet.length - OUTER_HEADER_SIZE)
  if (!core.decrypt(key, dir, packet, plain, msgKeyLarge)) {
    throw new MessageCryptoError('msg_key', 'msg_key does not match the decrypted data')
  }
  const dataLength = plain.readInt32LE(28)
  if (dataLength < 0 || dataLength % 4 !== 0 || dataLength > plain.length - INNER_HEADER_SIZE) {
    throw new MessageCryptoError('message_length', `message_data_length ${dataLength} invalid for ${plain.length} bytes`)
  }
  const padding = plain.length - INNER_HEADER_SIZE - dataLength
  if (padding < MIN_PADDING || padding > MAX_PADDING) {
    throw new MessageCryptoError('padding', `padding of ${padding} bytes is outside 12..1024`)
  }
  return plain
}

/** QuickAck token for a message: LE uint32 of msg_key_large[0:4] with the top bit set. */
export function quickAckToken(msgKeyLarge: Uint8Array): number {
  if (msgKeyLarge.length < 4) throw new RangeError('msg_key_large must be 32 bytes')
  return ((msgKeyLarge[0]! | (msgKeyLarge[1]! << 8) | (msgKeyLarge[2]! << 16) | (msgKeyLarge[3]! << 24)) | 0x80000000) >>> 0
}
