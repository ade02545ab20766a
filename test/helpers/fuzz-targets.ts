/**
 * Fuzz targets shared by the fuzz tests (a small fixed-seed share each) and `npm run bench -- fuzz`
 * (1M inputs per target). Not a test file.
 *
 * A target is a generator of inputs (valid encodings, mutated, plus random bytes) and a function
 * `run(input, rng)` that feeds one input to its decoders. `run` swallows the errors the target
 * allows (`isAllowed`); anything else it throws is a crash. Every input is reproducible from
 * (seed, index) alone: `rngFor(seed, index)` seeds both the generator and the run (chunk
 * boundaries, limits).
 */
import { gzipSync } from 'node:zlib'
import { describeUnencrypted, maxTrailingBytes, parseUnencrypted, buildUnencrypted } from '../../src/gateway/unencrypted.js'
import { decodeUnencryptedBody } from '../../src/handshake/messages.js'
import { buildContainer, buildRpcResult, ContainerError, firstHandledMsgId, parseContainer, unpackGzip } from '../../src/session/envelope.js'
import { unwrapQuery } from '../../src/session/unwrap.js'
import { decode, encode, ID_GZIP_PACKED, ID_VECTOR, registryForLayer, VENDORED_LAYERS, TlError, TlWriter } from '../../src/tl/index.js'
import type { TlAnyObject, TlRegistry } from '../../src/tl/index.js'
import { codecTag, type Codec, type CodecName } from '../../src/transport/codec.js'
import { createCodec } from '../../src/transport/create-codec.js'
import { detectTransport } from '../../src/transport/detect.js'
import { FramingError } from '../../src/transport/errors.js'
import { acceptObfuscatedInit, createObfuscatedClient } from '../../src/transport/obfuscated.js'
import { corpus, dcOptions, initConnectionRequest, message, messagesMessages, sendMessageRequest, updatesBurst, user, chat } from '../tl/corpus.js'
import { mainEntries } from '../tl/helpers.js'
import { mutate as mutateTlOnce, RandomObjects } from '../tl/random-object.js'
import { Prng, splitRandom } from '../transport/helpers.js'

export { Prng, splitRandom }

/** Largest payload the fuzzed receivers accept (small, so length limits are hit often). */
export const MAX_FRAME = 2048
/** Most bytes a receiver may hold for an incomplete frame: header + MAX_FRAME + padding/crc. */
export const MAX_BUFFERED = MAX_FRAME + 19

export interface FuzzTarget {
  readonly name: string
  /** The error classes `run` tolerates, for the log. */
  readonly allowed: readonly string[]
  isAllowed(e: unknown): boolean
  /** One input; consumes `rng`. */
  generate(rng: Prng): Buffer
  /** Feeds `input` to the decoders; throws only what is not allowed (a crash). */
  run(input: Buffer, rng: Prng): void
}

/** A broken invariant (not an exception of the decoder, but a wrong answer): always a crash. */
export class FuzzInvariantError extends Error {
  override readonly name = 'FuzzInvariantError'
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new FuzzInvariantError(what)
}

/** The PRNG of input `index` in the run seeded `seed`. */
export function rngFor(seed: number, index: number): Prng {
  return new Prng((Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + Math.imul(index + 1, 0x85ebca6b)) >>> 0)
}

function tolerate(t: { isAllowed(e: unknown): boolean }, fn: () => void): boolean {
  try {
    fn()
    return true
  } catch (e) {
    if (!t.isAllowed(e)) throw e
    return false
  }
}

function pick<T>(rng: Prng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)]!
}

// ---------------------------------------------------------------------------------------------
// Mutations

/** Byte-level mutation of a transport stream (flip, insert, truncate, huge length, noise). */
export function mutateWire(wire: Buffer, rng: Prng): Buffer {
  const b = Buffer.from(wire)
  switch (rng.int(5)) {
    case 0: // flip a few bytes
      for (let i = 0, n = 1 + rng.int(4); i < n && b.length > 0; i++) b[rng.int(b.length)] ^= 1 + rng.int(255)
      return b
    case 1: {
      // insert garbage
      const at = rng.int(b.length + 1)
      return Buffer.concat([b.subarray(0, at), rng.bytes(1 + rng.int(16)), b.subarray(at)])
    }
    case 2: // truncate
      return b.subarray(0, rng.int(b.length + 1))
    case 3: // huge length header up front
      return Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0x7f]), b])
    default: // pure noise
      return rng.bytes(rng.int(600))
  }
}

const HUGE_COUNTS = [0x7fffffff, -1, -0x80000000, 1 << 20, (1 << 20) + 1, 0xffffff, 1 << 24, 65536, 1020, 1024, 1025]

function aligned(rng: Prng, n: number): number {
  return rng.int((n >> 2) + 1) << 2
}

/** TL bytes encoding of `data` (length prefix + padding). */
function tlBytes(data: Uint8Array): Buffer {
  const w = new TlWriter(undefined, data.length + 8)
  w.bytes(data)
  return Buffer.from(w.finish())
}

/** gzip_packed#3072cfa1 around `data`. */
export function gzipPacked(data: Uint8Array): Buffer {
  const w = new TlWriter(undefined, data.length + 64)
  w.gzipPacked(data)
  return Buffer.from(w.finish())
}

/**
 * One TL-aware mutation of `src` (which `seeds` may also feed): the TL tests' byte mutations, or
 * inserted bytes, a vector with a huge count, gzip_packed around an aligned range, a range
 * duplicated, a splice of another seed, a bytes length prefix made huge.
 */
export function mutateTl(src: Buffer, rng: Prng, seeds: readonly Buffer[]): Buffer {
  const r = () => rng.u32() / 0x100000000
  switch (rng.int(10)) {
    case 0:
    case 1:
    case 2:
      return mutateTlOnce(src, r)
    case 3: {
      const at = rng.int(src.length + 1)
      return Buffer.concat([src.subarray(0, at), rng.bytes(1 + rng.int(12)), src.subarray(at)])
    }
    case 4: {
      // a vector (or, failing that, any aligned int) with a huge count
      const b = Buffer.from(src)
      const spots: number[] = []
      for (let o = 0; o + 8 <= b.length; o += 4) if (b.readUInt32LE(o) === ID_VECTOR) spots.push(o + 4)
      const at = spots.length > 0 ? pick(rng, spots) : Math.min(aligned(rng, b.length), Math.max(0, b.length - 4))
      if (at + 4 <= b.length) b.writeInt32LE(pick(rng, HUGE_COUNTS), at)
      return b
    }
    case 5: {
      // gzip_packed around an aligned range (the whole buffer a third of the time)
      if (rng.int(3) === 0) return gzipPacked(src)
      const a = aligned(rng, src.length)
      const e = Math.min(src.length, a + aligned(rng, src.length - a))
      return Buffer.concat([src.subarray(0, a), gzipPacked(src.subarray(a, e)), src.subarray(e)])
    }
    case 6: {
      // duplicate an aligned range
      const a = aligned(rng, src.length)
      const e = Math.min(src.length, a + aligned(rng, Math.min(64, src.length - a)))
      return Buffer.concat([src.subarray(0, e), src.subarray(a, e), src.subarray(e)])
    }
    case 7: {
      // splice: our head, another seed's tail
      const other = seeds.length > 0 ? pick(rng, seeds) : src
      return Buffer.concat([src.subarray(0, aligned(rng, src.length)), other.subarray(aligned(rng, other.length))])
    }
    case 8: {
      // a long-form bytes length (0xfe + 3 bytes) claiming much more than there is
      const b = Buffer.from(src)
      if (b.length >= 4) {
        const at = Math.min(aligned(rng, b.length), b.length - 4)
        b[at] = 0xfe
        b.writeUIntLE(pick(rng, [0xffffff, 0x800000, 0x7fffff, 254, 253, b.length]), at + 1, 3)
      }
      return b
    }
    default:
      return mutateWire(src, rng)
  }
}

function mutateTlTimes(src: Buffer, rng: Prng, seeds: readonly Buffer[]): Buffer {
  let b = src
  for (let i = 0, n = 1 + rng.int(3); i < n; i++) b = mutateTl(b, rng, seeds)
  return b
}

// ---------------------------------------------------------------------------------------------
// 1. framer: every server-side codec, fed in random chunks; transport detection

const CODECS: readonly CodecName[] = ['abridged', 'intermediate', 'padded', 'full']
const OBF_CODECS = ['abridged', 'intermediate', 'padded'] as const

function isFramingError(e: unknown): boolean {
  return e instanceof FramingError
}

/** Packets of the client side of `codec`, framed; `n` payloads of 4..256 bytes. */
function clientWire(codec: Codec, rng: Prng): Buffer {
  const out: Buffer[] = []
  for (let k = 0, n = 1 + rng.int(4); k < n; k++) {
    const size = rng.int(16) === 0 ? 4 * (1 + rng.int(MAX_FRAME / 2)) : 4 * (1 + rng.int(64))
    out.push(codec.encodePacket(rng.bytes(size), rng.int(2) === 1))
  }
  return Buffer.concat(out)
}

/** Pushes `input` into `codec` in random chunks, checking the buffered bound; stops at the first error. */
function feed(t: FuzzTarget, codec: Codec, input: Buffer, rng: Prng): void {
  tolerate(t, () => {
    for (const c of splitRandom(input, rng, 1 + rng.int(128))) {
      for (const f of codec.push(c)) {
        if (f.type === 'packet') check(f.payload.length <= MAX_FRAME + 16, `${codec.name}: packet of ${f.payload.length} bytes`)
      }
      check(codec.buffered <= MAX_BUFFERED, `${codec.name}: ${codec.buffered} bytes buffered`)
    }
  })
}

export const framerTarget: FuzzTarget = {
  name: 'framer',
  allowed: ['FramingError'],
  isAllowed: isFramingError,
  generate(rng) {
    const k = rng.int(10)
    if (k === 0) return rng.bytes(rng.int(600))
    if (k === 1) {
      const heads = [[0xef], [0xee, 0xee, 0xee, 0xee], [0xdd, 0xdd, 0xdd, 0xdd], [0x10, 0, 0, 0, 0, 0, 0, 0], [0x50, 0x4f, 0x53, 0x54], [0x16, 0x03, 0x01, 0x02]]
      return Buffer.concat([Buffer.from(pick(rng, heads)), rng.bytes(rng.int(200))])
    }
    const name = pick(rng, CODECS)
    const sender = createCodec(name, { side: 'client', maxFrameSize: 1 << 20, random: rng.source() })
    let wire = clientWire(sender, rng)
    if (rng.int(2) === 0) wire = Buffer.concat([codecTag(name), wire])
    if (rng.int(4) !== 0) for (let i = 0, n = 1 + rng.int(2); i < n; i++) wire = mutateWire(wire, rng)
    return wire
  },
  run(input, rng) {
    // What the acceptor does: detect on the head, then frame what follows the tag.
    const cut = rng.int(Math.min(input.length, 80) + 1)
    detectTransport(input.subarray(0, cut), { maxFrameSize: MAX_FRAME })
    const d = detectTransport(input, { maxFrameSize: MAX_FRAME })
    if (d.kind === 'plain') {
      feed(this, createCodec(d.codec, { side: 'server', maxFrameSize: MAX_FRAME }), input.subarray(d.header), rng)
    }
    // And every codec on the raw input.
    for (const name of CODECS) feed(this, createCodec(name, { side: 'server', maxFrameSize: MAX_FRAME }), input, rng)
  },
}

// ---------------------------------------------------------------------------------------------
// 2. obfuscation: acceptObfuscatedInit on the first 64 bytes, then the codec on the rest

/** MTProxy secrets the fuzzed server accepts (fixed so inputs are reproducible). */
export const FUZZ_SECRETS: readonly Buffer[] = [Buffer.alloc(16, 0x11), Buffer.from('00112233445566778899aabbccddeeff', 'hex')]

export const obfuscationTarget: FuzzTarget = {
  name: 'obfuscation',
  allowed: ['FramingError'],
  isAllowed: isFramingError,
  generate(rng) {
    const k = rng.int(8)
    if (k === 0) return rng.bytes(64 + rng.int(300))
    if (k === 1) return rng.bytes(rng.int(100))
    const cl = createObfuscatedClient({
      codec: pick(rng, OBF_CODECS),
      maxFrameSize: 1 << 20,
      random: rng.source(),
      secret: rng.int(3) === 0 ? pick(rng, FUZZ_SECRETS) : undefined,
      dcId: rng.int(2) === 0 ? rng.int(10) - 5 : undefined,
    })
    const stream = clientWire(cl.codec, rng)
    const b = Buffer.concat([cl.init, stream])
    switch (rng.int(6)) {
      case 0:
        return b // valid
      case 1:
      case 2: // mutate the init
        for (let i = 0, n = 1 + rng.int(3); i < n; i++) b[rng.int(64)] ^= 1 + rng.int(255)
        return b
      case 3: // flip bytes of the encrypted stream (CTR: flips the same plaintext bytes)
        for (let i = 0, n = 1 + rng.int(4); i < n && b.length > 64; i++) b[64 + rng.int(b.length - 64)] ^= 1 << rng.int(8)
        return b
      case 4: // the tag bytes of the init
        b[56 + rng.int(8)] ^= 1 + rng.int(255)
        return b
      default:
        return Buffer.concat([b.subarray(0, 64), mutateWire(b.subarray(64), rng)])
    }
  },
  run(input, rng) {
    const init = input.subarray(0, Math.min(64, input.length))
    let codec: Codec | undefined
    tolerate(this, () => {
      codec = acceptObfuscatedInit(init, { codec: { maxFrameSize: MAX_FRAME, random: rng.source() }, secrets: FUZZ_SECRETS, allowPlain: rng.int(8) !== 0 }).codec
    })
    if (codec !== undefined) feed(this, codec, input.subarray(init.length), rng)
  },
}

// ---------------------------------------------------------------------------------------------
// 3. unencrypted messages: parseUnencrypted + describeUnencrypted, decodeUnencryptedBody

function isTlError(e: unknown): boolean {
  return e instanceof TlError
}

let handshakeBodies: Buffer[] | undefined

/** An object literal as the encoder takes it (field names checked by the encoder at run time). */
function tl(o: { _: string; [field: string]: unknown }): TlAnyObject {
  return o as TlAnyObject
}

function handshakeSeeds(): Buffer[] {
  if (handshakeBodies) return handshakeBodies
  const r = new Prng(7)
  const objs: TlAnyObject[] = [
    tl({ _: 'req_pq_multi', nonce: r.bytes(16) }),
    tl({ _: 'req_pq', nonce: r.bytes(16) }),
    tl({ _: 'req_DH_params', nonce: r.bytes(16), server_nonce: r.bytes(16), p: r.bytes(4), q: r.bytes(4), public_key_fingerprint: -123456789n, encrypted_data: r.bytes(256) }),
    tl({ _: 'set_client_DH_params', nonce: r.bytes(16), server_nonce: r.bytes(16), encrypted_data: r.bytes(336) }),
    tl({ _: 'destroy_auth_key' }),
    tl({ _: 'msgs_ack', msg_ids: [1n, 2n, 0x6500000000000004n] }),
    tl({ _: 'ping', ping_id: 5n }),
    tl({ _: 'help.getConfig' }),
  ]
  handshakeBodies = objs.map((o) => encode(o))
  return handshakeBodies
}

export const unencryptedTarget: FuzzTarget = {
  name: 'unencrypted',
  allowed: ['TlError (decodeUnencryptedBody only)'],
  isAllowed: isTlError,
  generate(rng) {
    const seeds = handshakeSeeds()
    if (rng.int(12) === 0) return rng.bytes(rng.int(400))
    let body = pick(rng, seeds)
    if (rng.int(3) === 0) body = mutateTlTimes(body, rng, seeds)
    const pad = rng.int(3) === 0 ? rng.bytes(rng.int(300)) : Buffer.alloc(0)
    const msgId = pick(rng, [0n, 1n, 0x6500000000000004n + BigInt(rng.int(1000) * 4), BigInt.asIntN(64, BigInt(rng.u32()) << 32n | BigInt(rng.u32()))])
    let msg = buildUnencrypted(msgId, Buffer.concat([body, pad]))
    if (rng.int(4) === 0) {
      const trail = rng.bytes(rng.int(300))
      msg = Buffer.concat([msg, trail])
    }
    if (rng.int(3) === 0) msg = rng.int(2) === 0 ? mutateWire(msg, rng) : mutateTl(msg, rng, seeds)
    return msg
  },
  run(input, rng) {
    const d = describeUnencrypted(input)
    check(d.packetLength === input.length, 'describeUnencrypted: packetLength')
    const codec = pick(rng, CODECS)
    const limits = { maxBody: pick(rng, [400, 1024, 1 << 20, 0]), maxTrailing: maxTrailingBytes(codec) }
    const m = parseUnencrypted(input, limits)
    if (typeof m !== 'string') {
      check(m.body.length <= limits.maxBody && m.body.length <= input.length - 20, 'parseUnencrypted: body within limits and input')
      tolerate(this, () => void decodeUnencryptedBody(m.body))
    }
    // The body decoder on whatever follows the header, even when the header is refused.
    if (input.length >= 20) tolerate(this, () => void decodeUnencryptedBody(input.subarray(20)))
  },
}

// ---------------------------------------------------------------------------------------------
// 4. TL reader, every supported layer

interface TlSeeds {
  registries: TlRegistry[]
  seeds: Buffer[]
}

let tlSeeds: TlSeeds | undefined

/** Small real objects and methods (corpus + random schema objects) encoded in every layer. */
export function tlSeedPool(): TlSeeds {
  if (tlSeeds) return tlSeeds
  const objects: TlAnyObject[] = []
  for (const o of Object.values(corpus())) if (encode(o).length <= 4096) objects.push(o as TlAnyObject)
  const small: unknown[] = [initConnectionRequest(), sendMessageRequest(), user(1), chat(2), message(3), messagesMessages(3, 2), updatesBurst(2), ...dcOptions().slice(0, 3)]
  for (const o of small) objects.push(o as TlAnyObject)
  const r = new Prng(0x7e57)
  const gen = new RandomObjects(mainEntries(), () => r.u32() / 0x100000000)
  const entries = mainEntries()
  for (let i = 0; i < 600; i++) {
    try {
      objects.push(gen.object(pick(r, entries)) as unknown as TlAnyObject)
    } catch {
      // a few schema entries cannot be generated standalone: skip them
    }
  }
  const seeds: Buffer[] = []
  for (const layer of VENDORED_LAYERS) {
    for (const o of objects) {
      try {
        const b = encode(o, layer)
        if (b.length <= 2048 || seeds.length % 16 === 0) seeds.push(b)
      } catch (e) {
        if (!(e instanceof TlError)) throw e
      }
    }
  }
  const first = seeds[0]!
  seeds.push(buildContainer([{ msgId: 1n, seqNo: 1, body: first }, { msgId: 2n, seqNo: 3, body: seeds[1]! }]), buildRpcResult(5n, first), buildRpcResult(6n, gzipPacked(first)), gzipPacked(seeds[2]!))
  tlSeeds = { registries: VENDORED_LAYERS.map((l) => registryForLayer(l)), seeds }
  return tlSeeds
}

export const tlTarget: FuzzTarget = {
  name: 'tl',
  allowed: ['TlError'],
  isAllowed: isTlError,
  generate(rng) {
    const { seeds } = tlSeedPool()
    const k = rng.int(20)
    if (k === 0) return rng.bytes(rng.int(256))
    if (k === 1) {
      const b = rng.bytes(4 + rng.int(256))
      b.writeUInt32LE(pick(rng, seeds).readUInt32LE(0), 0)
      return b
    }
    const seed = pick(rng, seeds)
    if (k === 2) return seed
    return mutateTlTimes(seed, rng, seeds)
  },
  run(input, rng) {
    const { registries } = tlSeedPool()
    for (const registry of registries) tolerate(this, () => void decode(input, { registry }))
    const registry = pick(rng, registries)
    tolerate(this, () => void decode(input, { registry, rawObjects: true }))
    if (rng.int(4) === 0) tolerate(this, () => void decode(input, { registry, unzip: false }))
  },
}

// ---------------------------------------------------------------------------------------------
// 5. session envelope: parseContainer, firstHandledMsgId, unpackGzip, unwrapQuery

/** Errors from node's zlib (unpackGzip passes them through untyped: "incorrect header check", ...). */
export function isZlibError(e: unknown): boolean {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && /^Z_/.test((e as NodeJS.ErrnoException).code!)
}

export function isEnvelopeAllowed(e: unknown): boolean {
  if (e instanceof ContainerError || e instanceof TlError) return true
  if (e instanceof Error && /gzip|inflate/i.test(e.message)) return true
  return isZlibError(e)
}

let envSeeds: Buffer[] | undefined
let bomb: Buffer | undefined

/** gzip_packed that inflates to 17 MiB (above the 16 MiB cap). */
export function gzipBomb(): Buffer {
  bomb ??= tlGzipRaw(gzipSync(Buffer.alloc(17 * 1024 * 1024), { level: 9 }))
  return bomb
}

/** gzip_packed#3072cfa1 whose packed_data is `gz` as given (already gzip data). */
function tlGzipRaw(gz: Buffer): Buffer {
  const id = Buffer.alloc(4)
  id.writeUInt32LE(ID_GZIP_PACKED, 0)
  return Buffer.concat([id, tlBytes(gz)])
}

function envelopeSeeds(): Buffer[] {
  if (envSeeds) return envSeeds
  const q = (o: unknown) => encode(o as TlAnyObject)
  const queries: Buffer[] = [
    q({ _: 'help.getConfig' }),
    q(initConnectionRequest()),
    q(sendMessageRequest()),
    q(tl({ _: 'invokeAfterMsg', msg_id: 0x6500000000000004n, query: { _: 'help.getConfig' } })),
    q(tl({ _: 'invokeAfterMsgs', msg_ids: [1n, 2n, 3n], query: { _: 'help.getNearestDc' } })),
    q(tl({ _: 'invokeWithoutUpdates', query: initConnectionRequest() })),
    q(tl({ _: 'invokeWithLayer', layer: 198, query: { _: 'invokeWithoutUpdates', query: { _: 'help.getConfig' } } })),
    q(tl({ _: 'ping', ping_id: 77n })),
    q(tl({ _: 'msgs_ack', msg_ids: [4n, 8n] })),
  ]
  const out = [...queries]
  for (const b of queries) out.push(gzipPacked(b))
  out.push(gzipPacked(gzipPacked(queries[1]!)))
  // A wrapper around a gzip_packed query.
  const gz = gzipPacked(queries[2]!)
  const wl = Buffer.alloc(8)
  wl.writeUInt32LE(0xda9b0d0d, 0) // invokeWithLayer
  wl.writeInt32LE(222, 4)
  out.push(Buffer.concat([wl, gz]))
  for (let n = 1; n <= 4; n++) {
    const msgs = Array.from({ length: n }, (_, i) => ({ msgId: 0x6500000000000004n + BigInt(i * 4), seqNo: 2 * i + 1, body: out[(i * 7 + n) % out.length]! }))
    out.push(buildContainer(msgs))
  }
  envSeeds = out
  return out
}

export const envelopeTarget: FuzzTarget = {
  name: 'envelope',
  allowed: ['ContainerError', 'TlError', 'Error /gzip|inflate/i', 'zlib error (code Z_*)'],
  isAllowed: isEnvelopeAllowed,
  generate(rng) {
    const seeds = envelopeSeeds()
    const k = rng.int(20)
    if (k === 0) return rng.bytes(rng.int(300))
    if (k === 1 && rng.int(500) === 0) return gzipBomb() // ~1 in 10k inputs
    if (k === 2) {
      // a container of (mutated) seeds
      const n = 1 + rng.int(6)
      const msgs = Array.from({ length: n }, (_, i) => {
        let body = pick(rng, seeds)
        if (rng.int(3) === 0) body = mutateTl(body, rng, seeds)
        return { msgId: 0x6500000000000004n + BigInt(i * 4), seqNo: 2 * i + 1, body }
      })
      return buildContainer(msgs)
    }
    const seed = pick(rng, seeds)
    if (k === 3) return seed
    return mutateTlTimes(seed, rng, seeds)
  },
  run(input, rng) {
    const cid = pick(rng, [0x6500000000000100n, 0x7fffffffffffffffn, 0n, -1n, 0x6500000000000008n])
    const first = firstHandledMsgId(cid, input)
    check(first <= cid, 'firstHandledMsgId above the container msg_id')
    tolerate(this, () => {
      for (const m of parseContainer(input, cid)) {
        check(m.msgId < cid && m.body.length >= 4 && m.body.length % 4 === 0, 'parseContainer: message invariants')
        if (m.body.readUInt32LE(0) === ID_GZIP_PACKED) tolerate(this, () => void unpackGzip(m.body))
        unwrapQuery(m.body, () => true)
      }
    })
    tolerate(this, () => void unpackGzip(input))
    const u = unwrapQuery(input, () => true)
    check(Buffer.isBuffer(u.raw), 'unwrapQuery: raw is a Buffer')
  },
}

// ---------------------------------------------------------------------------------------------

export const FUZZ_TARGETS: readonly FuzzTarget[] = [framerTarget, obfuscationTarget, unencryptedTarget, tlTarget, envelopeTarget]

export function targetByName(name: string): FuzzTarget {
  const t = FUZZ_TARGETS.find((x) => x.name === name)
  if (!t) throw new Error(`no fuzz target ${name} (have ${FUZZ_TARGETS.map((x) => x.name).join(', ')})`)
  return t
}

export interface FuzzCrash {
  target: string
  seed: number
  index: number
  error: string
  inputHex: string
}

/** Runs one input; returns the crash (a disallowed exception) or undefined. */
export function runOne(t: FuzzTarget, input: Buffer, rng: Prng): unknown {
  try {
    t.run(input, rng)
    return undefined
  } catch (e) {
    return t.isAllowed(e) ? undefined : e
  }
}

export function describeError(e: unknown): string {
  return e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e)
}

/** Inputs `from .. from+count-1` of the run seeded `seed`; returns the crashes (tests). */
export function fuzzRun(t: FuzzTarget, seed: number, count: number, from = 0): FuzzCrash[] {
  const crashes: FuzzCrash[] = []
  for (let i = from; i < from + count; i++) {
    const rng = rngFor(seed, i)
    const input = t.generate(rng)
    const e = runOne(t, input, rng)
    if (e !== undefined) crashes.push({ target: t.name, seed, index: i, error: describeError(e), inputHex: input.toString('hex') })
  }
  return crashes
}

/** Replays one input by (seed, index) or from its hex; returns the input and the crash, if any. */
export function replay(t: FuzzTarget, seed: number, index: number, inputHex?: string): { input: Buffer; crash: unknown } {
  const rng = rngFor(seed, index)
  const generated = t.generate(rng)
  const input = inputHex === undefined ? generated : Buffer.from(inputHex, 'hex')
  return { input, crash: runOne(t, input, rng) }
}

/** Message of the first crashes, for assertions. */
export function crashReport(crashes: readonly FuzzCrash[], max = 3): string {
  return crashes
    .slice(0, max)
    .map((c) => `${c.target} seed ${c.seed} index ${c.index}: ${c.error}\n  input ${c.inputHex.slice(0, 400)}${c.inputHex.length > 400 ? '…' : ''}`)
    .join('\n')
}
