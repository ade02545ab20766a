import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { PushBody } from '../../src/session/layered.js'
import { decode, NEWEST_LAYER, registryForLayer } from '../../src/tl/index.js'
import { newMessagePush } from '../e2e/scenario.js'

const require = createRequire(import.meta.url)

const messageId = (b: Buffer): number => b.readUInt32LE(8)

test('a push is written in each recipient layer once, from one decode; the newest layer gets it as given', () => {
  const body = newMessagePush('hello layers', 1_700_000_000)
  const p = new PushBody(body)
  assert.equal(p.forLayer(undefined), body)
  assert.equal(p.forLayer(NEWEST_LAYER), body)
  assert.equal(p.forLayer(NEWEST_LAYER + 10), body, 'a newer client gets the newest layer')
  const l198 = p.forLayer(198)
  const l227 = p.forLayer(227)
  const l144 = p.forLayer(145)
  assert.equal(p.forLayer(198), l198, 'encoded once per layer')
  assert.equal(p.forLayer(144), l144, 'layer 145 is served in 144')
  assert.equal(p.encodings, 3)
  assert.equal(messageId(body), registryForLayer(NEWEST_LAYER).idOf('message'))
  for (const [layer, b] of [[198, l198], [227, l227], [144, l144]] as const) {
    const reg = registryForLayer(layer)
    assert.equal(messageId(b), reg.idOf('message'))
    const u = decode(b, { registry: reg }) as { _: string; update: { message: { _: string; id: number; message: string } } }
    assert.equal(u._, 'updateShort')
    assert.deepEqual([u.update.message._, u.update.message.id, u.update.message.message], ['message', 5, 'hello layers'])
  }
  assert.equal(p.failed.size, 0)
})

test('GramJS (layer 198, code nobody here wrote) reads the layer-198 push, and not the default one', () => {
  const { BinaryReader } = require('telegram/extensions/index.js') as { BinaryReader: new (b: Buffer) => { tgReadObject(): Record<string, unknown> } }
  const body = newMessagePush('hello gramjs')
  const u = new BinaryReader(new PushBody(body).forLayer(198)).tgReadObject()
  const msg = (u.update as Record<string, unknown>).message as Record<string, unknown>
  assert.equal(msg.className, 'Message')
  assert.equal(msg.message, 'hello gramjs')
  assert.throws(() => new BinaryReader(body).tgReadObject())
})

test('a body that does not decode goes out as given, and says why', () => {
  const body = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8])
  const p = new PushBody(body)
  assert.equal(p.forLayer(198), body)
  assert.ok(p.failed.has(198))
})
