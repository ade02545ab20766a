import assert from 'node:assert/strict'
import { createCipheriv, createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import { detectTransport } from '../../src/transport/detect.js'
import { FramingError } from '../../src/transport/errors.js'
import {
  acceptObfuscatedInit,
  createObfuscatedClient,
  forbiddenInitReason,
} from '../../src/transport/obfuscated.js'
import { Prng, pushAll, splitRandom } from './helpers.js'

const MAX = 1 << 20

/** The spec's client pseudocode, written independently of src/ with node:crypto. */
function specClientInit(rng: Prng, protocol: number, dc: number | null, secret: Buffer | null) {
  let init: Buffer
  for (;;) {
    init = rng.bytes(64)
    init.writeUInt32LE(protocol, 56)
    if (dc !== null) init.writeInt16LE(dc, 60)
    if (init[0] === 0xef) continue
    const first = init.readUInt32LE(0)
    if ([0x44414548, 0x54534f50, 0x20544547, 0x4954504f, 0x02010316, 0xdddddddd, 0xeeeeeeee].includes(first)) continue
    if (init.readUInt32LE(4) === 0) continue
    break
  }
  const rev = Buffer.from(init).reverse()
  let encKey = init.subarray(8, 40)
  const encIv = init.subarray(40, 56)
  let decKey = rev.subarray(8, 40)
  const decIv = rev.subarray(40, 56)
  if (secret) {
    encKey = createHash('sha256').update(Buffer.concat([encKey, secret])).digest()
    decKey = createHash('sha256').update(Buffer.concat([decKey, secret])).digest()
  }
  const enc = createCipheriv('aes-256-ctr', encKey, encIv)
  const dec = createCipheriv('aes-256-ctr', decKey, decIv)
  const encrypted = enc.update(init)
  const finalInit = Buffer.concat([init.subarray(0, 56), encrypted.subarray(56, 64)])
  return { finalInit, enc, dec }
}

describe('obfuscated2', () => {
  it('accepts an init built by the spec pseudocode: tag, DC id, both CTR directions', () => {
    const rng = new Prng(40)
    for (const [protocol, name] of [
      [0xefefefef, 'abridged'],
      [0xeeeeeeee, 'intermediate'],
      [0xdddddddd, 'padded'],
    ] as const) {
      const c = specClientInit(rng, protocol, -4, null)
      const acc = acceptObfuscatedInit(c.finalInit, { codec: { maxFrameSize: MAX } })
      assert.equal(acc.codec.name, name)
      assert.equal(acc.dcId, -4)
      assert.equal(acc.secretIndex, null)
      // client → server: an intermediate-style frame encrypted with the continuing client stream
      const body = rng.bytes(64)
      let plainFrame: Buffer
      if (name === 'abridged') plainFrame = Buffer.concat([Buffer.from([16]), body])
      else {
        plainFrame = Buffer.alloc(4 + 64)
        plainFrame.writeUInt32LE(64, 0)
        body.copy(plainFrame, 4)
      }
      const frames = acc.codec.push(c.enc.update(plainFrame))
      assert.equal(frames.length, 1)
      assert.deepEqual(frames[0], { type: 'packet', payload: body, quickAck: false })
      // server → client decrypts with the reversed-key stream
      const out = c.dec.update(acc.codec.encodePacket(body))
      assert.deepEqual(out.subarray(name === 'abridged' ? 1 : 4, (name === 'abridged' ? 1 : 4) + 64), body)
    }
  })

  it('MTProxy secret: the spec example (secret dd99…, media DC 4 = 0xfcff) keys both directions', () => {
    const rng = new Prng(41)
    const secret17 = Buffer.from('dd99999999999999999999999999999999', 'hex')
    const secret = secret17.subarray(1)
    const c = specClientInit(rng, 0xdddddddd, -4, secret)
    assert.throws(() => acceptObfuscatedInit(c.finalInit, { codec: { maxFrameSize: MAX }, allowPlain: true }), FramingError)
    const other = Buffer.alloc(16, 0x11)
    const acc = acceptObfuscatedInit(c.finalInit, { codec: { maxFrameSize: MAX }, secrets: [other, secret], allowPlain: false })
    assert.equal(acc.secretIndex, 1)
    assert.equal(acc.dcId, -4)
    assert.equal(acc.codec.name, 'padded')
    const frame = Buffer.alloc(8)
    frame.writeUInt32LE(4, 0)
    frame.writeInt32LE(1234, 4)
    assert.deepEqual(acc.codec.push(c.enc.update(frame))[0], { type: 'packet', payload: frame.subarray(4), quickAck: false })
  })

  it('rejects inits whose plain bytes are forbidden, and unknown protocol tags', () => {
    const rng = new Prng(42)
    const base = specClientInit(rng, 0xeeeeeeee, null, null).finalInit
    const cases: Array<[string, (b: Buffer) => void]> = [
      ['0xef first byte', (b) => (b[0] = 0xef)],
      ['HEAD', (b) => b.write('HEAD', 0, 'latin1')],
      ['POST', (b) => b.write('POST', 0, 'latin1')],
      ['GET ', (b) => b.write('GET ', 0, 'latin1')],
      ['OPTI', (b) => b.write('OPTI', 0, 'latin1')],
      ['TLS', (b) => b.writeUInt32LE(0x02010316, 0)],
      ['dddddddd', (b) => b.writeUInt32LE(0xdddddddd, 0)],
      ['eeeeeeee', (b) => b.writeUInt32LE(0xeeeeeeee, 0)],
      ['zero second word', (b) => b.writeUInt32LE(0, 4)],
    ]
    for (const [label, mutate] of cases) {
      const b = Buffer.from(base)
      mutate(b)
      assert.notEqual(forbiddenInitReason(b), null, label)
      assert.throws(
        () => acceptObfuscatedInit(b, { codec: { maxFrameSize: MAX } }),
        (e: unknown) => e instanceof FramingError && e.kind === 'bad_obfuscated_init' && e.wireCode === null,
        label,
      )
    }
    // a random init whose decrypted tag is no protocol
    const junk = specClientInit(rng, 0x12345678, null, null).finalInit
    assert.throws(() => acceptObfuscatedInit(junk, { codec: { maxFrameSize: MAX } }), FramingError)
  })

  it('our client and server agree, with quick acks in between, at random chunk boundaries', () => {
    const rng = new Prng(43)
    for (const codec of ['abridged', 'intermediate', 'padded'] as const) {
      const cl = createObfuscatedClient({ codec, maxFrameSize: MAX, random: rng.source(), dcId: 2 })
      const sv = acceptObfuscatedInit(cl.init, { codec: { maxFrameSize: MAX } })
      assert.equal(sv.dcId, 2)
      const msgs = [rng.bytes(32), rng.bytes(1024), rng.bytes(16)]
      const wire = Buffer.concat(msgs.map((m, i) => cl.codec.encodePacket(m, i === 1)))
      const got = pushAll(sv.codec, splitRandom(wire, rng, 7))
      assert.deepEqual(
        got.map((f) => f.type === 'packet' && f.quickAck),
        [false, true, false],
      )
      const back = Buffer.concat([sv.codec.encodeQuickAck(0x80aabbcc)!, sv.codec.encodePacket(msgs[1]!), sv.codec.encodeQuickAck(0x80000001)!])
      const frames = pushAll(cl.codec, splitRandom(back, rng, 5))
      assert.deepEqual(frames[0], { type: 'quickAck', token: 0x80aabbcc })
      assert.equal(frames[1]!.type, 'packet')
      if (frames[1]!.type === 'packet') assert.deepEqual(frames[1]!.payload.subarray(0, 1024), msgs[1])
      assert.deepEqual(frames[2], { type: 'quickAck', token: 0x80000001 })
    }
  })
})

describe('transport detection', () => {
  const opts = { maxFrameSize: MAX }
  it('recognises every tag on the fewest bytes possible', () => {
    assert.deepEqual(detectTransport(Buffer.from([0xef]), opts), { kind: 'plain', codec: 'abridged', header: 1 })
    assert.deepEqual(detectTransport(Buffer.from([0xee, 0xee]), opts), { kind: 'more', need: 4 })
    assert.deepEqual(detectTransport(Buffer.from([0xee, 0xee, 0xee, 0xee]), opts), { kind: 'plain', codec: 'intermediate', header: 4 })
    assert.deepEqual(detectTransport(Buffer.from([0xdd, 0xdd, 0xdd, 0xdd]), opts), { kind: 'plain', codec: 'padded', header: 4 })
    const full = Buffer.from([52, 0, 0, 0, 0, 0, 0, 0])
    assert.deepEqual(detectTransport(full, opts), { kind: 'plain', codec: 'full', header: 0 })
    assert.deepEqual(detectTransport(full.subarray(0, 6), opts), { kind: 'more', need: 8 })
    const obf = new Prng(44).bytes(64)
    obf[0] = 0x01
    obf[4] = 0x01
    assert.deepEqual(detectTransport(obf.subarray(0, 20), opts), { kind: 'more', need: 64 })
    assert.deepEqual(detectTransport(obf, opts), { kind: 'obfuscated', header: 64 })
  })
  it('rejects HTTP, TLS and an implausible full length', () => {
    for (const s of ['POST /api', 'GET /', 'HEAD /', 'OPTIONS']) {
      assert.equal(detectTransport(Buffer.from(s), opts).kind, 'reject', s)
    }
    assert.equal(detectTransport(Buffer.from([0x16, 0x03, 0x01, 0x02, 0, 0, 0, 0]), opts).kind, 'reject')
    assert.equal(detectTransport(Buffer.from([0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]), opts).kind, 'reject')
    assert.equal(detectTransport(Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), opts).kind, 'reject')
  })
})
