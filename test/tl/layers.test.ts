import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  NEWEST_LAYER,
  OLDEST_LAYER,
  VENDORED_LAYERS,
  encodingLayer,
  layerSchema,
  servedLayer,
  TlReader,
  TlWriter,
  decode,
  defaultRegistry,
  encode,
  registryForLayer,
} from '../../src/tl/index.js'
import { parseSchema } from '../../src/tl/parser/parse.js'
import { vendoredLayers } from '../../src/tl/gen/cli.js'
import { ROOT } from './helpers.js'

test('the default registry answers in the newest vendored layer; every layer decodes the union of all', () => {
  const files = vendoredLayers(ROOT)
  assert.deepEqual([...VENDORED_LAYERS], [...files.keys()])
  assert.equal(NEWEST_LAYER, Math.max(...files.keys()))
  assert.equal(defaultRegistry.layer, NEWEST_LAYER)
  const everyId = new Set<number>()
  for (const [layer, f] of files) {
    const file = parseSchema(readFileSync(join(ROOT, 'schema', f), 'utf8'))
    const reg = registryForLayer(layer)
    assert.equal(reg.layer, layer)
    for (const e of file.entries) {
      everyId.add(e.id)
      assert.equal(reg.idOf(e.name), e.id, `layer ${layer} encodes ${e.name} as #${e.id.toString(16)}`)
    }
  }
  for (const layer of [OLDEST_LAYER, 144, NEWEST_LAYER]) {
    const reg = registryForLayer(layer)
    for (const id of everyId) assert.ok(reg.has(id), `#${id.toString(16)} decodes in layer ${layer}'s registry`)
  }
  assert.throws(() => registryForLayer(1), RangeError)
  assert.throws(() => registryForLayer(145), RangeError)
  assert.equal(registryForLayer(NEWEST_LAYER), defaultRegistry)
})

test('servedLayer: the nearest older vendored layer; newer clients get the newest; older than the oldest is refused', () => {
  assert.equal(servedLayer(undefined), NEWEST_LAYER)
  assert.equal(servedLayer(NEWEST_LAYER + 5), NEWEST_LAYER)
  assert.equal(servedLayer(144), 144)
  assert.equal(servedLayer(145), 144)
  assert.equal(servedLayer(213), 198)
  assert.equal(servedLayer(228), 228)
  assert.equal(servedLayer(226), 223)
  assert.equal(servedLayer(OLDEST_LAYER), OLDEST_LAYER)
  assert.equal(servedLayer(OLDEST_LAYER - 1), undefined)
  assert.equal(encodingLayer(OLDEST_LAYER - 1), NEWEST_LAYER)
})

test('one object encodes with each layer’s id for a name that changed', () => {
  const sendVoteLike = { _: 'inputPhoneContact', client_id: 1n, phone: '+1', first_name: 'a', last_name: 'b' } as const
  const in222 = encode(sendVoteLike)
  const in198 = encode(sendVoteLike, 198)
  assert.equal(in222.readUInt32LE(0), 0x6a1dc4be)
  assert.equal(in198.readUInt32LE(0), 0xf392b7f4)
  // Both decode (ids are unique per shape) to the same fields.
  assert.deepStrictEqual(decode(in198), { _: 'inputPhoneContact', client_id: 1n, phone: '+1', first_name: 'a', last_name: 'b' })
  assert.deepStrictEqual(decode(in222), { ...decode(in198), note: undefined })
})

test('reader and writer take an explicit registry', () => {
  const reg = registryForLayer(198)
  const w = new TlWriter(reg)
  w.object({ _: 'inputPhoneContact', client_id: 1n, phone: '', first_name: '', last_name: '' })
  const r = new TlReader(w.finish(), 0, reg)
  assert.equal(r.object()._, 'inputPhoneContact')
  assert.equal(w.finish().readUInt32LE(0), 0xf392b7f4)
})

test('true-flags named differently under one id are read in the client layer’s own names', () => {
  // help.appUpdate#1da7158f: `popup` (flags.0) in one layer, `can_not_skip` at the same bit in others
  const first = layerSchema(OLDEST_LAYER).byName.get('help.appUpdate')!
  const byBit = VENDORED_LAYERS.map((l) => layerSchema(l).byName.get('help.appUpdate')).filter((e) => e?.id === first.id && e !== first)
  assert.ok(byBit.length > 0, 'another layer defines the same id with other true-flags')
  const other = byBit[0]!
  const name = (e: typeof first) => e.args.find((a) => a.cond?.field === 'flags' && a.cond.bit === 0 && a.type === 'true')!.name
  assert.notEqual(name(first), name(other))
  const layerOf = (e: typeof first) => VENDORED_LAYERS.find((l) => layerSchema(l).byName.get('help.appUpdate') === e)!
  for (const e of [first, other]) {
    const reg = registryForLayer(layerOf(e))
    const w = new TlWriter(reg)
    w.int(e.id)
    w.int(1)
    for (const a of e.args) {
      if (a.cond || a.type === '#') continue
      if (a.type === 'int') w.int(7)
      else if (a.type === 'string') w.string('v')
      else if (a.type === 'Vector<MessageEntity>') w.vectorObject([])
      else assert.fail(`unexpected ${a.type}`)
    }
    const bytes = w.finish()
    const obj = decode(bytes, { registry: reg }) as unknown as Record<string, unknown>
    assert.equal(obj[name(e)], true, `layer ${layerOf(e)} reads ${name(e)}`)
    assert.deepEqual(encode(obj as never, reg), bytes)
  }
})
