import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TlError, TlWriter, encode, decode } from '../../src/tl/index.js'
import type { TlObject } from '../../src/tl/index.js'
import { buildContainer, buildRpcResult } from '../../src/session/envelope.js'
import { RandomObjects, mutate, rng } from './random-object.js'
import { mainEntries } from './helpers.js'
import { corpus } from './corpus.js'
import { crashReport, fuzzRun, tlTarget } from '../helpers/fuzz-targets.js'

const CASES = 120_000

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
  seeds.push(buildContainer([{ msgId: 1n, seqNo: 1, body: seeds[0]! }, { msgId: 2n, seqNo: 3, body: seeds[1]! }]))
  const gzipped = new TlWriter()
  gzipped.gzipPacked(seeds[3]!)
  seeds.push(buildRpcResult(5n, seeds[3]!), buildRpcResult(6n, gzipped.finish()))

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
  }
  assert.ok(ok > 1000 && errors > 1000, `both outcomes exercised: ok ${ok}, errors ${errors}`)
})

// A share of the bench's TL target (`npm run bench -- fuzz` runs 1M): mutations of valid encodings
// in every supported layer (huge vector counts, gzip_packed around parts, splices), decoded with
// every layer's registry, plain, rawObjects and without unzip. Only TlError is allowed.
test('fuzz target: 25k inputs decoded in every supported layer, 0 crashes', () => {
  const crashes = fuzzRun(tlTarget, 0x71a7, 25_000)
  assert.equal(crashes.length, 0, crashReport(crashes))
})
