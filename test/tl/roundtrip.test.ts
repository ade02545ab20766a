import { test } from 'node:test'
import assert from 'node:assert/strict'
import { encode, decode, NEWEST_LAYER, TlReader, defaultRegistry } from '../../src/tl/index.js'
import type { TlObject } from '../../src/tl/index.js'
import { RandomObjects, rng } from './random-object.js'
import { mainEntries } from './helpers.js'
import { prune } from './prune.js'

const entries = mainEntries()

test('every constructor and method of mtproto.tl and the newest layer round-trips (compiled codecs)', () => {
  const gen = new RandomObjects(entries, rng(NEWEST_LAYER))
  let n = 0
  for (const e of entries) {
    assert.equal(defaultRegistry.idOf(e.name), e.id, `${e.name} encodes with its id`)
    for (let i = 0; i < 4; i++) {
      const obj = gen.object(e) as unknown as TlObject
      const bytes = encode(obj)
      assert.equal(bytes.readUInt32LE(0), e.id, e.name)
      assert.equal(bytes.length % 4, 0, e.name)
      const back = decode(bytes)
      assert.deepStrictEqual(back, obj, `${e.name} #${i}`)
      assert.deepStrictEqual(encode(back), bytes, `${e.name} #${i} re-encodes byte-identically`)
      n++
    }
  }
  assert.ok(n >= 4 * 2300, `ran ${n}`)
})

test('decoder reads a prefix exactly and reports the end offset', () => {
  const gen = new RandomObjects(entries, rng(7))
  for (const e of entries.slice(0, 300)) {
    const bytes = encode(gen.object(e) as unknown as TlObject)
    const padded = Buffer.concat([bytes, Buffer.from([1, 2, 3, 4])])
    const r = new TlReader(padded)
    r.object()
    assert.equal(r.offset, bytes.length, e.name)
  }
})


test('every constructor and method of every vendored layer round-trips in its own layer', async () => {
  const { layerSchema, registryForLayer, VENDORED_LAYERS } = await import('../../src/tl/index.js')
  let n = 0
  for (const layer of VENDORED_LAYERS) {
    const entries = [...layerSchema(layer).byName.values()]
    const gen = new RandomObjects(entries, rng(layer))
    const reg = registryForLayer(layer)
    for (const e of entries) {
      const obj = gen.object(e) as unknown as TlObject
      const bytes = encode(obj, reg)
      assert.equal(bytes.readUInt32LE(0), e.id, `${layer} ${e.name}`)
      const back = decode(bytes, { registry: reg })
      assert.deepStrictEqual(prune(back), prune(obj), `${layer} ${e.name}`)
      assert.deepStrictEqual(encode(back, reg), bytes)
      n++
    }
  }
  assert.ok(n > 66 * 1000, `ran ${n}`)
})
