import { AesCtrStream } from '../crypto/ctr.js'
import { sha256 } from '../crypto/hash.js'
import { secureRandom, type RandomSource } from '../crypto/random.js'
import {
  codecForObfuscatedTag,
  obfuscatedTag,
  type Codec,
  type CodecName,
  type CodecOptions,
  type Frame,
  type Side,
} from './codec.js'
import { createCodec } from './create-codec.js'
import { FramingError } from './errors.js'

/** Length of the obfuscated2 initialization payload. */
export const OBFUSCATED_INIT_LENGTH = 64

/** First words a client must never start an obfuscated init with (LE uint32), as the spec lists. */
const FORBIDDEN_FIRST_WORDS = new Set<number>([
  0x44414548, // HEAD
  0x54534f50, // POST
  0x20544547, // GET
  0x4954504f, // OPTI(ONS)
  0x02010316, // TLS handshake record
  0xdddddddd, // padded intermediate
  0xeeeeeeee, // intermediate
])

/** Why an init payload cannot be an obfuscated2 init, or null when its plain bytes are acceptable. */
export function forbiddenInitReason(init: Uint8Array): string | null {
  if (init.length < 8) return 'shorter than 8 bytes'
  if (init[0] === 0xef) return 'first byte 0xef (abridged tag)'
  const b = Buffer.from(init.buffer, init.byteOffset, 8)
  const first = b.readUInt32LE(0)
  if (FORBIDDEN_FIRST_WORDS.has(first)) return `forbidden first word 0x${first.toString(16).padStart(8, '0')}`
  if (b.readUInt32LE(4) === 0) return 'second word zero (full transport seqno 0)'
  return null
}

/** Key/IV pairs of both directions as seen by the side that *sent* the init. */
function deriveKeys(init: Uint8Array, secret: Uint8Array | null): { encKey: Buffer; encIv: Buffer; decKey: Buffer; decIv: Buffer } {
  const fwd = Buffer.from(init.subarray(8, 56))
  const rev = Buffer.from(fwd).reverse()
  let encKey: Buffer = fwd.subarray(0, 32)
  const encIv = fwd.subarray(32, 48)
  let decKey: Buffer = rev.subarray(0, 32)
  const decIv = rev.subarray(32, 48)
  if (secret !== null) {
    encKey = sha256(encKey, secret)
    decKey = sha256(decKey, secret)
  }
  return { encKey, encIv, decKey, decIv }
}

/**
 * Wraps an inner codec in obfuscated2: everything received is decrypted by one persistent
 * AES-256-CTR stream, everything sent (packets, quick acks, transport errors) is encrypted by the
 * other, so the peer's counters never desync.
 */
export class ObfuscatedCodec implements Codec {
  readonly obfuscated = true
  constructor(
    readonly inner: Codec,
    private readonly encrypt: AesCtrStream,
    private readonly decrypt: AesCtrStream,
  ) {}

  get name(): CodecName {
    return this.inner.name
  }
  get side(): Side {
    return this.inner.side
  }
  get supportsQuickAck(): boolean {
    return this.inner.supportsQuickAck
  }
  get buffered(): number {
    return this.inner.buffered
  }

  push(chunk: Buffer): Frame[] {
    return this.inner.push(this.decrypt.update(chunk))
  }

  encodePacket(payload: Uint8Array, quickAck?: boolean): Buffer {
    return this.encrypt.update(this.inner.encodePacket(payload, quickAck))
  }

  encodeQuickAck(token: number): Buffer | null {
    const plain = this.inner.encodeQuickAck(token)
    return plain === null ? null : this.encrypt.update(plain)
  }

  encodeTransportError(code: number): Buffer {
    return this.encrypt.update(this.inner.encodeTransportError(code))
  }
}

export interface AcceptedObfuscation {
  codec: ObfuscatedCodec
  /** Signed int16 at offset 60 of the decrypted init (meaningful for MTProxy-keyed clients). */
  dcId: number
  /** Index into `secrets` of the MTProxy secret that keyed the init, or null for a plain init. */
  secretIndex: number | null
}

export interface AcceptObfuscationOptions {
  /** Codec options for the inner codec (side is forced to 'server'). */
  codec: Omit<CodecOptions, 'side'>
  /** MTProxy secrets (16 bytes each) the server accepts; tried after the plain key. */
  secrets?: readonly Uint8Array[]
  /** Accept inits not keyed by a secret (default true). */
  allowPlain?: boolean
}

/**
 * Server side of the obfuscated2 init: checks the forbidden words, derives both streams (client's
 * encrypt key = our decrypt key, reversed bytes for the other direction), decrypts the init
 * through the decrypt stream, reads the protocol tag at 56 and the DC id at 60.
 * Throws FramingError('bad_obfuscated_init') when no key yields a known protocol tag.
 */
export function acceptObfuscatedInit(init: Uint8Array, opts: AcceptObfuscationOptions): AcceptedObfuscation {
  if (init.length !== OBFUSCATED_INIT_LENGTH) {
    throw new FramingError('bad_obfuscated_init', `obfuscated2: init of ${init.length} bytes`, null)
  }
  const reason = forbiddenInitReason(init)
  if (reason !== null) throw new FramingError('bad_obfuscated_init', `obfuscated2: ${reason}`, null)

  const candidates: Array<{ secret: Uint8Array | null; index: number | null }> = []
  if (opts.allowPlain ?? true) candidates.push({ secret: null, index: null })
  ;(opts.secrets ?? []).forEach((s, i) => candidates.push({ secret: s, index: i }))

  for (const c of candidates) {
    const k = deriveKeys(init, c.secret)
    // The client encrypts with (encKey, encIv) from its init: that is our decrypt direction.
    const decrypt = new AesCtrStream(k.encKey, k.encIv)
    const plain = decrypt.update(init)
    const name = codecForObfuscatedTag(plain.readUInt32LE(56))
    if (name === null) continue
    const encrypt = new AesCtrStream(k.decKey, k.decIv)
    const inner = createCodec(name, { ...opts.codec, side: 'server' })
    return { codec: new ObfuscatedCodec(inner, encrypt, decrypt), dcId: plain.readInt16LE(60), secretIndex: c.index }
  }
  throw new FramingError('bad_obfuscated_init', 'obfuscated2: no key yields a known protocol tag', null)
}

export interface ObfuscatedClientOptions {
  codec: Exclude<CodecName, 'full'>
  maxFrameSize: number
  random?: RandomSource
  /** Written at offset 60 (MTProxy clients; others send random bytes there). */
  dcId?: number
  /** MTProxy secret, 16 bytes. */
  secret?: Uint8Array
}

/**
 * Client side of obfuscated2 (for tests, benches and tools): builds the 64-byte init the way the
 * spec's pseudocode does and returns it with the client codec.
 */
export function createObfuscatedClient(opts: ObfuscatedClientOptions): { init: Buffer; codec: ObfuscatedCodec } {
  const random = opts.random ?? secureRandom
  let init: Buffer
  for (;;) {
    init = Buffer.from(random(OBFUSCATED_INIT_LENGTH))
    if (forbiddenInitReason(init) === null) break
  }
  obfuscatedTag(opts.codec).copy(init, 56)
  if (opts.dcId !== undefined) init.writeInt16LE(opts.dcId, 60)
  const k = deriveKeys(init, opts.secret ?? null)
  const encrypt = new AesCtrStream(k.encKey, k.encIv)
  const decrypt = new AesCtrStream(k.decKey, k.decIv)
  const encrypted = encrypt.update(init)
  encrypted.copy(init, 56, 56, 64)
  const inner = createCodec(opts.codec, { side: 'client', maxFrameSize: opts.maxFrameSize, random })
  return { init, codec: new ObfuscatedCodec(inner, encrypt, decrypt) }
}
