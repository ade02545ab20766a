import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  TlError,
  encode,
  decode,
  decodeMsgContainer,
  decodeRpcResult,
  encodeMsgContainer,
  encodeRpcResult,
  ID_VECTOR,
  ID_GZIP_PACKED,
} from '../../src/tl/index.js'
import type { TlObject } from '../../src/tl/index.js'
import { RandomObjects, rng, type Rng } from './random-object.js'
import { mainEntries } from './helpers.js'
import { corpus } from './corpus.js'

const CASES = 120_000

const INTERESTING = [0, 1, 3, 4, 253, 254, 255, -1, 0x7fffffff, -0x80000000, 0x100000, ID_VECTOR, ID_GZIP_PACKED, 0x997275b5, 0xbc799737, 0x73f1f8dc, 0xf35c6d01]

function mutate(src: Buffer, r: Rng): Buffer {
  const b = Buffer.from(src)
  const kind = (r() * 7) | 0
  const pos = (r() * Math.max(1, b.length)) | 0
  switch (kind) {
    case 0: // flip bits
      for (let i = 0, n = 1 + ((r() * 4) | 0); i < n && b.length; i++) b[(r() * b.length) | 0]! ^= 1 << ((r() * 8) | 0)
      return b
    case 1: // random byte
      if (b.length) b[pos] = (r() * 256) | 0
      return b
    case 2: // interesting int32 at an aligned position
      if (b.length >= 4) b.writeInt32LE(INTERESTING[(r() * INTERESTING.length) | 0]! | 0, Math.min(pos & ~3, b.length - 4))
      return b
    case 3: // truncate
      return b.subarray(0, pos)
    case 4: // drop 4 bytes
      return Buffer.concat([b.subarray(0, pos & ~3), b.subarray((pos & ~3) + 4)])
    case 5: // duplicate 4 bytes
      return Buffer.concat([b.subarray(0, pos & ~3), b.subarray(pos & ~3, (pos & ~3) + 4), b.subarray(pos & ~3)])
    default: // append garbage
      return Buffer.concat([b, Buffer.from([(r() * 256) | 0, 0, 0, 0])])
  }
}

function attempt(fn: () => unknown): unknown {
  try {
    return fn()
  } catch (e) {
    if (e instanceof TlError) return e
    throw e
  }
}

test(`fuzz: ${CASES} mutated and random buffers give a value or a TlError, never anything else`, () => {
  const r = rng(0xf022)
  const gen = new RandomObjects(mainEntries(), r)
  const seeds: Buffer[] = Object.values(corpus()).map((o) => encode(o))
  for (const e of mainEntries()) seeds.push(encode(gen.object(e) as unknown as TlObject))
  seeds.push(encodeMsgContainer([{ msg_id: 1n, seqno: 1, body: seeds[0]! }, { msg_id: 2n, seqno: 3, body: seeds[1]! }]))
  seeds.push(encodeRpcResult(5n, seeds[3]!), encodeRpcResult(6n, seeds[3]!, { gzipAbove: 0 }))

  let ok = 0
  let errors = 0
  for (let i = 0; i < CASES; i++) {
    let buf: Buffer
    if (i % 10 === 0) {
      // pure random, sometimes with a real id in front
      buf = Buffer.alloc((r() * 64) | 0)
      for (let j = 0; j < buf.length; j++) buf[j] = (r() * 256) | 0
      if (i % 20 === 0 && buf.length >= 4) buf.writeUInt32LE(seeds[(r() * seeds.length) | 0]!.readUInt32LE(0), 0)
    } else {
      buf = mutate(seeds[(r() * seeds.length) | 0]!, r)
      if (i % 3 === 0) buf = mutate(buf, r)
    }
    const v = attempt(() => decode(buf))
    if (v instanceof TlError) {
      errors++
      assert.ok(v.offset >= 0 && v.offset <= buf.length, `offset ${v.offset} within input of ${buf.length}`)
    } else {
      ok++
      // Whatever decodes must re-encode to something that decodes to the same value.
      const again = decode(encode(v as TlObject))
      assert.deepStrictEqual(again, v)
    }
    if (i % 4 === 0) attempt(() => decode(buf, { rawObjects: true }))
    if (i % 8 === 0) {
      attempt(() => decodeMsgContainer(buf))
      attempt(() => decodeRpcResult(buf))
    }
  }
  assert.ok(ok > 1000 && errors > 1000, `both outcomes exercised: ok ${ok}, errors ${errors}`)
})
