/**
 * skimObject (src/tl/skim.ts) against the compiled decoders: the same inputs accepted and refused,
 * for every constructor of the newest layer and for mutated encodings of them.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { gzipSync } from 'node:zlib'
import { decode, defaultRegistry, encode, layerSchema, NEWEST_LAYER, TlError, type TlObject } from '../../src/tl/index.js'
import { TlWriter } from '../../src/tl/runtime/writer.js'
import { skimObject } from '../../src/tl/skim.js'
import { mainEntries } from './helpers.js'
import { mutate, RandomObjects, rng } from './random-object.js'

const constructors = mainEntries().filter((e) => e.kind === 'constructor')
/** gzip_packed#3072cfa1 packed_data:bytes */
function gzipPacked(data: Buffer): Buffer {
  const w = new TlWriter(defaultRegistry, 64)
  w.int(0x3072cfa1 | 0)
  w.bytes(data)
  return w.finish()
}

const isTlError = (code: string) => (e: unknown) => e instanceof TlError && e.code === code

const outcome = (f: () => unknown): string => {
  try {
    f()
    return 'ok'
  } catch (e) {
    if (!(e instanceof TlError)) throw e
    return 'refused'
  }
}

test('every constructor of the newest layer and mtproto.tl: its encodings are stepped over to the end; trailing or missing bytes are refused', () => {
  const gen = new RandomObjects(constructors, rng(NEWEST_LAYER + 1))
  let n = 0
  for (const e of constructors) {
    for (let i = 0; i < 3; i++) {
      const bytes = encode(gen.object(e) as unknown as TlObject)
      assert.equal(skimObject(bytes).name, e.name)
      assert.throws(() => skimObject(Buffer.concat([bytes, Buffer.alloc(4)])), isTlError('TRAILING'), e.name)
      if (bytes.length > 4) assert.throws(() => skimObject(bytes.subarray(0, bytes.length - 4)), TlError, e.name)
      n++
    }
  }
  assert.ok(n >= 3 * 1500, `ran ${n}`)
})

test('mutated encodings: refused exactly when the decoder refuses them', () => {
  const gen = new RandomObjects(constructors, rng(11))
  const r = rng(12)
  const newest = new Set([...layerSchema(NEWEST_LAYER).byName.values()].map((e) => e.id | 0))
  let refused = 0
  let n = 0
  for (let i = 0; i < 20_000; i++) {
    const e = constructors[(r() * constructors.length) | 0]!
    const bytes = mutate(encode(gen.object(e) as unknown as TlObject), r)
    const skim = outcome(() => skimObject(bytes))
    let dec = outcome(() => decode(bytes))
    // the decoder also reads constructors of older layers (clients of older layers send them)
    if (dec === 'ok' && skim === 'refused') {
      const err = (() => {
        try {
          skimObject(bytes)
        } catch (x) {
          return x as TlError
        }
      })()!
      if (err.code === 'UNKNOWN_CONSTRUCTOR' && !newest.has(bytes.readInt32LE(err.offset))) dec = 'refused'
    }
    assert.equal(skim, dec, `${e.name}: ${bytes.toString('hex').slice(0, 400)}`)
    if (skim === 'refused') refused++
    n++
  }
  assert.ok(refused > n / 4 && refused < n, `${refused} of ${n} refused`)
})

test('gzip_packed where an object is: inflated and checked inside, within the inflate limit', () => {
  const gen = new RandomObjects(constructors, rng(5))
  const config = constructors.find((e) => e.name === 'config')!
  const inner = encode(gen.object(config) as unknown as TlObject)
  const packed = (body: Buffer): Buffer => gzipPacked(gzipSync(body))
  assert.equal(skimObject(packed(inner)).name, 'config')
  assert.throws(() => skimObject(packed(Buffer.concat([inner, Buffer.alloc(4)]))), isTlError('TRAILING'))
  assert.throws(() => skimObject(packed(inner.subarray(0, inner.length - 4))), TlError)
  assert.throws(() => skimObject(gzipPacked(Buffer.from('not gzip'))), isTlError('BAD_VALUE'))
  // 17 MB of zeros inflate past the 16 MB limit
  assert.throws(() => skimObject(packed(Buffer.alloc(17 * 1024 * 1024))), isTlError('LIMIT'))
})

test('nesting deeper than the decoder allows is refused', () => {
  let v: Record<string, unknown> = { _: 'jsonNull' }
  for (let i = 0; i < 70; i++) v = { _: 'jsonArray', value: [v] }
  const bytes = encode(v as never)
  assert.throws(() => decode(bytes), isTlError('LIMIT'))
  assert.throws(() => skimObject(bytes), isTlError('LIMIT'))
})
