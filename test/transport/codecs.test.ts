import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createCodec } from '../../src/transport/create-codec.js'
import { parseTransportError, type CodecName, type Frame } from '../../src/transport/codec.js'
import { FramingError } from '../../src/transport/errors.js'
import { Prng, pushAll, splitRandom } from './helpers.js'

const MAX = 64 * 1024
const ALL: CodecName[] = ['abridged', 'intermediate', 'padded', 'full']

function pair(name: CodecName, rng: Prng, max = MAX) {
  return {
    client: createCodec(name, { side: 'client', maxFrameSize: max, random: rng.source() }),
    server: createCodec(name, { side: 'server', maxFrameSize: max, random: rng.source() }),
  }
}

function packets(frames: Frame[]): Buffer[] {
  return frames.map((f) => {
    assert.equal(f.type, 'packet')
    return f.type === 'packet' ? f.payload : Buffer.alloc(0)
  })
}

/** Padded payloads carry up to 15 bytes of sender padding after the real payload. */
function samePayload(name: CodecName, got: Buffer, want: Buffer): void {
  if (name === 'padded') {
    assert.ok(got.length >= want.length && got.length <= want.length + 15, `padded length ${got.length} for ${want.length}`)
    assert.deepEqual(got.subarray(0, want.length), want)
  } else assert.deepEqual(got, want)
}

for (const name of ALL) {
  describe(`codec ${name}`, () => {
    it('round-trips both directions at every size class, split at random boundaries', () => {
      const rng = new Prng(10)
      const { client, server } = pair(name, rng)
      const sizes = [4, 8, 12, 16, 504, 508, 512, 1024, 4096, 60000]
      const sent = sizes.map((n) => rng.bytes(n))
      const c2s = Buffer.concat(sent.map((p) => client.encodePacket(p)))
      const got = packets(pushAll(server, splitRandom(c2s, rng, 97)))
      assert.equal(got.length, sent.length)
      got.forEach((g, i) => samePayload(name, g, sent[i]!))
      assert.equal(server.buffered, 0)
      const s2c = Buffer.concat(sent.map((p) => server.encodePacket(p)))
      const back = packets(pushAll(client, splitRandom(s2c, rng, 5)))
      back.forEach((g, i) => samePayload(name, g, sent[i]!))
    })

    it('byte-at-a-time delivery yields the same frames', () => {
      const rng = new Prng(11)
      const { client, server } = pair(name, rng)
      const p = rng.bytes(1020)
      const wire = Buffer.concat([client.encodePacket(p), client.encodePacket(p)])
      const frames: Frame[] = []
      for (let i = 0; i < wire.length; i++) frames.push(...server.push(wire.subarray(i, i + 1)))
      assert.equal(frames.length, 2)
    })

    it('rejects a frame above maxFrameSize from its header alone', () => {
      const rng = new Prng(12)
      const big = pair(name, rng, 1 << 20).client.encodePacket(rng.bytes(8192))
      const server = createCodec(name, { side: 'server', maxFrameSize: 4096 })
      assert.throws(
        () => server.push(big.subarray(0, 8)),
        (e: unknown) => e instanceof FramingError && e.kind === 'frame_too_large' && e.wireCode === -404,
      )
    })

    it('frames transport errors as 4-byte int32 LE packets', () => {
      for (const code of [-404, -429, -444]) {
        const rng = new Prng(13)
        const { client, server } = pair(name, rng)
        const frames = client.push(server.encodeTransportError(code))
        assert.equal(frames.length, 1)
        const f = frames[0]!
        assert.equal(f.type, 'packet')
        if (f.type === 'packet') {
          assert.equal(f.payload.length, 4, 'never padded')
          assert.equal(parseTransportError(f.payload), code)
        }
      }
    })
  })
}

describe('quick acks', () => {
  for (const name of ['abridged', 'intermediate', 'padded'] as const) {
    it(`${name}: the client's quick-ack bit is reported and the token comes back as a quick-ack frame`, () => {
      const rng = new Prng(20)
      const { client, server } = pair(name, rng)
      const p = rng.bytes(600) // long enough for the 0x7f abridged header too
      const small = rng.bytes(40)
      const frames = server.push(Buffer.concat([client.encodePacket(p, true), client.encodePacket(small, false), client.encodePacket(small, true)]))
      assert.deepEqual(
        frames.map((f) => f.type === 'packet' && f.quickAck),
        [true, false, true],
      )
      const token = 0x8badf00d
      const wire = Buffer.concat([server.encodeQuickAck(token)!, server.encodePacket(small)])
      const back = pushAll(client, splitRandom(wire, rng, 3))
      assert.deepEqual(back[0], { type: 'quickAck', token })
      assert.equal(back[1]!.type, 'packet')
    })
  }

  it('abridged: token is bswapped (big-endian) on the wire; intermediate/padded: LE in place of a length', () => {
    const ab = createCodec('abridged', { side: 'server', maxFrameSize: MAX })
    assert.deepEqual(ab.encodeQuickAck(0x81020304), Buffer.from([0x81, 0x02, 0x03, 0x04]))
    const im = createCodec('intermediate', { side: 'server', maxFrameSize: MAX })
    assert.deepEqual(im.encodeQuickAck(0x81020304), Buffer.from([0x04, 0x03, 0x02, 0x81]))
    const pd = createCodec('padded', { side: 'server', maxFrameSize: MAX })
    assert.deepEqual(pd.encodeQuickAck(0x81020304), Buffer.from([0x04, 0x03, 0x02, 0x81]))
    // the top bit is forced on
    assert.deepEqual(im.encodeQuickAck(0x01020304), Buffer.from([0x04, 0x03, 0x02, 0x81]))
  })

  it('abridged client request: 0x80|len for short frames, 0xff + 3-byte length for long', () => {
    const c = createCodec('abridged', { side: 'client', maxFrameSize: MAX })
    assert.equal(c.encodePacket(Buffer.alloc(8), true)[0], 0x82)
    const long = c.encodePacket(Buffer.alloc(1024), true)
    assert.deepEqual(long.subarray(0, 4), Buffer.from([0xff, 0x00, 0x01, 0x00]))
  })

  it('full has no quick acks', () => {
    const f = createCodec('full', { side: 'server', maxFrameSize: MAX })
    assert.equal(f.supportsQuickAck, false)
    assert.equal(f.encodeQuickAck(0x80000001), null)
  })
})

describe('malformed input', () => {
  it('abridged: zero length is rejected', () => {
    const s = createCodec('abridged', { side: 'server', maxFrameSize: MAX })
    assert.throws(() => s.push(Buffer.from([0x00])), (e: unknown) => e instanceof FramingError && e.kind === 'bad_length')
  })
  it('intermediate: misaligned length is rejected, padded accepts it', () => {
    const wire = Buffer.from([5, 0, 0, 0, 1, 2, 3, 4, 5])
    assert.throws(
      () => createCodec('intermediate', { side: 'server', maxFrameSize: MAX }).push(wire),
      (e: unknown) => e instanceof FramingError && e.kind === 'bad_length',
    )
    const frames = createCodec('padded', { side: 'server', maxFrameSize: MAX }).push(wire)
    assert.equal(frames.length, 1)
  })
  it('full: wrong seqno, bad crc and short length are rejected', () => {
    const rng = new Prng(30)
    const { client } = pair('full', rng)
    const f0 = client.encodePacket(rng.bytes(16))
    const f1 = client.encodePacket(rng.bytes(16))
    const s1 = createCodec('full', { side: 'server', maxFrameSize: MAX })
    assert.throws(() => s1.push(f1), (e: unknown) => e instanceof FramingError && e.kind === 'bad_seqno')
    const bad = Buffer.from(f0)
    bad[10] = bad[10]! ^ 1
    const s2 = createCodec('full', { side: 'server', maxFrameSize: MAX })
    assert.throws(() => s2.push(bad), (e: unknown) => e instanceof FramingError && e.kind === 'bad_checksum')
    const s3 = createCodec('full', { side: 'server', maxFrameSize: MAX })
    assert.throws(() => s3.push(Buffer.from([8, 0, 0, 0, 0, 0, 0, 0])), (e: unknown) => e instanceof FramingError && e.kind === 'bad_length')
    // in-order frames pass and the seqno advances
    const s4 = createCodec('full', { side: 'server', maxFrameSize: MAX })
    assert.equal(s4.push(Buffer.concat([f0, f1])).length, 2)
  })
  it('full: the server numbers its frames from 0', () => {
    const s = createCodec('full', { side: 'server', maxFrameSize: MAX })
    assert.equal(s.encodePacket(Buffer.alloc(4)).readUInt32LE(4), 0)
    assert.equal(s.encodePacket(Buffer.alloc(4)).readUInt32LE(4), 1)
  })
  it('encoders refuse unaligned abridged payloads (programming error)', () => {
    const c = createCodec('abridged', { side: 'server', maxFrameSize: MAX })
    assert.throws(() => c.encodePacket(Buffer.alloc(5)), RangeError)
  })
})

describe('codec padded: how much each side pads', () => {
  it('a client pads 0–15 bytes; the server 0–3 (gotd and Telethon strip only length % 4)', () => {
    const rng = new Prng(11)
    const { client, server } = pair('padded', rng)
    const pads = (codec: typeof client): Set<number> => {
      const seen = new Set<number>()
      for (let i = 0; i < 400; i++) seen.add(codec.encodePacket(Buffer.alloc(16)).readUInt32LE(0) - 16)
      return seen
    }
    assert.deepEqual([...pads(server)].sort((a, b) => a - b), [0, 1, 2, 3])
    assert.deepEqual([...pads(client)].sort((a, b) => a - b), Array.from({ length: 16 }, (_, i) => i))
  })
})
