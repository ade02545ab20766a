/** README's "Layers served" says what the registries serve: the vendored list, the range, the examples. */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { NEWEST_LAYER, OLDEST_LAYER, servedLayer, VENDORED_LAYERS } from '../../src/tl/index.js'
import { ROOT } from '../tl/helpers.js'

const text = readFileSync(join(ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ')

/** `103–106, 108, 110–111` → [103, 104, 105, 106, 108, 110, 111]. */
function expand(list: string): number[] {
  return list.split(', ').flatMap((part) => {
    const [a, b] = part.split('–').map(Number) as [number, number | undefined]
    return b === undefined ? [a] : Array.from({ length: b - a + 1 }, (_, i) => a + i)
  })
}

test('README lists exactly the vendored layers and the range served', () => {
  const m = /serves every TL layer from (\d+) to (\d+)\. It vendors (\d+) published layers: ([\d–, ]+) \(/.exec(text)
  assert.ok(m, 'the Layers served paragraph')
  assert.deepEqual([Number(m[1]), Number(m[2])], [OLDEST_LAYER, NEWEST_LAYER])
  assert.equal(Number(m[3]), VENDORED_LAYERS.length)
  assert.deepEqual(expand(m[4]!.trim()), [...VENDORED_LAYERS])
})

test('README’s examples of the layer served are what servedLayer answers', () => {
  const m = /served the older of the two \(([^)]+)\); a newer one, (\d+); one older than (\d+) gets `rpc_error 400 LAYER_INVALID`/.exec(text)
  assert.ok(m, 'the served-layer sentence')
  for (const pair of m[1]!.split(', ')) {
    const [client, served] = pair.split(' → ').map(Number)
    assert.equal(servedLayer(client), served, pair)
  }
  assert.equal(servedLayer(NEWEST_LAYER + 1), Number(m[2]))
  assert.equal(Number(m[3]), OLDEST_LAYER)
  assert.equal(servedLayer(OLDEST_LAYER - 1), undefined)
})
