import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import {
  buildContainer,
  buildRpcResult,
  ContainerError,
  ID_GZIP_PACKED,
  maybeGzip,
  parseContainer,
  unpackGzip,
} from '../../src/session/envelope.js'
import { decode, encode, TlWriter } from '../../src/tl/index.js'
import { mutate, rng } from '../tl/random-object.js'

test('container round trip (also through the TL decoder of each body)', () => {
  const msgs = [
    { msgId: 100n, seqNo: 1, body: encode({ _: 'ping', ping_id: 5n }) },
    { msgId: 104n, seqNo: 2, body: encode({ _: 'msgs_ack', msg_ids: [1n, 2n] }) },
  ]
  const c = buildContainer(msgs)
  assert.equal(c.readInt32LE(4), 2)
  assert.equal(c.readBigInt64LE(8), 100n)
  assert.equal(c.readInt32LE(16), 1)
  assert.equal(c.readInt32LE(20), msgs[0]!.body.length)
  const back = parseContainer(c, 200n)
  assert.deepEqual(back, msgs)
  assert.deepEqual(decode(back[1]!.body), { _: 'msgs_ack', msg_ids: [1n, 2n] })
  assert.deepEqual(parseContainer(buildContainer([]), 200n), [])
})

test('invalid containers are rejected with a reason', () => {
  const ok = buildContainer([{ msgId: 100n, seqNo: 1, body: encode({ _: 'ping', ping_id: 5n }) }])
  assert.throws(() => parseContainer(ok, 100n), ContainerError, 'inner id must be below the container id')
  assert.throws(() => parseContainer(ok.subarray(0, ok.length - 4), 200n), ContainerError)
  assert.throws(() => parseContainer(Buffer.concat([ok, Buffer.alloc(4)]), 200n), ContainerError)
  const nested = buildContainer([{ msgId: 100n, seqNo: 0, body: ok }])
  assert.throws(() => parseContainer(nested, 200n), /nested/)
  const badLen = Buffer.from(ok)
  badLen.writeInt32LE(6, 8 + 12)
  assert.throws(() => parseContainer(badLen, 200n), ContainerError)
  const many = Buffer.alloc(8)
  many.writeUInt32LE(0x73f1f8dc, 0)
  many.writeInt32LE(1025, 4)
  assert.throws(() => parseContainer(many, 200n), /1025/)
  const claims = Buffer.from(ok)
  claims.writeInt32LE(50, 4)
  assert.throws(() => parseContainer(claims, 200n), /truncated/)
  assert.throws(() => parseContainer(encode({ _: 'ping', ping_id: 5n }), 200n), /not a msg_container/)
})

test('fuzz: mutated containers parse or give a ContainerError, never anything else', () => {
  const r = rng(0xc0de)
  const seeds = [
    buildContainer([
      { msgId: 100n, seqNo: 1, body: encode({ _: 'ping', ping_id: 5n }) },
      { msgId: 104n, seqNo: 2, body: encode({ _: 'msgs_ack', msg_ids: [1n, 2n] }) },
    ]),
    buildContainer([]),
  ]
  let ok = 0
  let errors = 0
  for (let i = 0; i < 20_000; i++) {
    let buf = mutate(seeds[i % seeds.length]!, r)
    if (i % 3 === 0) buf = mutate(buf, r)
    try {
      for (const m of parseContainer(buf, 200n)) assert.ok(m.msgId < 200n && m.body.length >= 4 && m.body.length % 4 === 0)
      ok++
    } catch (e) {
      if (!(e instanceof ContainerError)) throw e
      errors++
    }
  }
  assert.ok(ok > 100 && errors > 100, `both outcomes exercised: ok ${ok}, errors ${errors}`)
})

test('rpc_result framing', () => {
  const r = buildRpcResult(77n, encode({ _: 'boolTrue' }))
  assert.equal(r.readUInt32LE(0), 0xf35c6d01)
  assert.equal(r.readBigInt64LE(4), 77n)
  assert.deepEqual(decode(r.subarray(12)), { _: 'boolTrue' })
})

test('gzip out: fitted windows round-trip at every size class, both TL length forms, padded to 4', () => {
  const words = ['config', 'dc_options', 'emojies', 'true', 'false', 'premium', 'stickers', 'reactions']
  for (const size of [1024, 1500, 2064, 4096, 9000, 33_000, 70_000, 300_000]) {
    let text = ''
    for (let i = 0; text.length < size; i++) text += words[(i * 7 + (i >> 3)) % words.length]! + String(i % 97)
    const result = Buffer.from(text.slice(0, size))
    const packed = maybeGzip(result)
    assert.equal(packed.readUInt32LE(0), ID_GZIP_PACKED, `${size}`)
    assert.equal(packed.length % 4, 0)
    assert.deepEqual(unpackGzip(packed), result, `${size} bytes inflate back`)
  }
  const zeros = Buffer.alloc(1024)
  assert.ok(maybeGzip(zeros)[4]! < 254, 'short packed_data has the 1-byte length form')
  assert.deepEqual(unpackGzip(maybeGzip(zeros)), zeros)
  const mixed = Buffer.concat([randomBytes(3000), Buffer.alloc(3000)])
  const long = maybeGzip(mixed)
  assert.equal(long[4], 254, 'packed_data of 254 bytes or more has the 4-byte length form')
  assert.deepEqual(unpackGzip(long), mixed)
})

test('gzip out only when large and smaller; gzip in is bounded', () => {
  const small = encode({ _: 'boolTrue' })
  assert.equal(maybeGzip(small), small)
  const big = Buffer.alloc(8192, 7)
  const packed = maybeGzip(big)
  assert.equal(packed.readUInt32LE(0), ID_GZIP_PACKED)
  assert.ok(packed.length < big.length)
  assert.deepEqual(unpackGzip(packed), big)
  const noise = randomBytes(8192)
  assert.equal(maybeGzip(noise), noise, 'incompressible data is sent as is')
  assert.equal(maybeGzip(Buffer.concat([packed, Buffer.alloc(2048)])).readUInt32LE(0), ID_GZIP_PACKED)
  const already = Buffer.concat([packed, Buffer.alloc(4096)])
  assert.equal(maybeGzip(already), already, 'an already packed result is not packed again')
  assert.throws(() => unpackGzip(packed, 1000), /large/)
  assert.throws(() => unpackGzip(Buffer.concat([packed, Buffer.alloc(4)])), /after gzip_packed/)
  assert.throws(() => unpackGzip(packed.subarray(0, packed.length - 8)))
  const garbage = new TlWriter()
  garbage.int(ID_GZIP_PACKED)
  garbage.bytes(Buffer.from('garbage!'))
  assert.throws(() => unpackGzip(garbage.finish()))
})
