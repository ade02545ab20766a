import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  NEWEST_LAYER,
  VENDORED_LAYERS,
  TlReader,
  TlWriter,
  decode,
  defaultRegistry,
  encode,
  registryForLayer,
} from '../../src/tl/index.js'
import { parseSchema } from '../../src/tl/parser/parse.js'
import { ROOT } from './helpers.js'

test('the default registry answers in layer 222 and decodes the union of vendored layers', () => {
  assert.equal(NEWEST_LAYER, 222)
  assert.equal(defaultRegistry.layer, 222)
  assert.deepEqual([...VENDORED_LAYERS], [198, 222, 223, 227])
  for (const layer of VENDORED_LAYERS) {
    const file = parseSchema(readFileSync(join(ROOT, 'schema', `api-${layer}.tl`), 'utf8'))
    const reg = registryForLayer(layer)
    assert.equal(reg.layer, layer)
    for (const e of file.entries) {
      assert.ok(defaultRegistry.has(e.id), `layer ${layer} ${e.name}#${e.id.toString(16)} decodes in the default registry`)
      assert.equal(reg.idOf(e.name), e.id, `layer ${layer} encodes ${e.name} as #${e.id.toString(16)}`)
    }
  }
  assert.throws(() => registryForLayer(1), RangeError)
  assert.equal(registryForLayer(222), defaultRegistry)
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

test('true-flags a later layer added under the same id survive decoding (chatAdminRights.manage_ranks, 223)', () => {
  const file = parseSchema(readFileSync(join(ROOT, 'schema', 'api-223.tl'), 'utf8'))
  const e = file.entries.find((x) => x.name === 'chatAdminRights')!
  const bit = e.args.find((a) => a.name === 'manage_ranks')!.cond!.bit
  const in222 = parseSchema(readFileSync(join(ROOT, 'schema', 'api-222.tl'), 'utf8')).entries.find((x) => x.name === 'chatAdminRights')!
  assert.equal(in222.id, e.id, 'same id in 222 and 223')
  assert.ok(!in222.args.some((a) => a.name === 'manage_ranks'), '222 lacks the flag')
  const w = new TlWriter()
  w.int(e.id)
  w.int(1 << bit)
  const obj = decode(w.finish()) as unknown as Record<string, unknown>
  assert.equal(obj.manage_ranks, true)
  assert.deepEqual(encode(obj as never), w.finish())
})
