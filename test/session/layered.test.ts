import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { PushBody } from '../../src/session/layered.js'
import { decode, registryForLayer } from '../../src/tl/index.js'
import { newMessagePush } from '../e2e/scenario.js'

const require = createRequire(import.meta.url)

const messageId = (b: Buffer): number => b.readUInt32LE(8)

test('a push is written in each recipient layer once, from one decode; other layers get it as given', () => {
  const body = newMessagePush('hello layers', 1_700_000_000)
  const p = new PushBody(body)
  assert.equal(p.forLayer(undefined), body)
  assert.equal(p.forLayer(222), body)
  assert.equal(p.forLayer(229), body, 'a layer not vendored gets the default layer')
  const l198 = p.forLayer(198)
  const l227 = p.forLayer(227)
  assert.equal(p.forLayer(198), l198, 'encoded once per layer')
  assert.equal(p.encodings, 2)
  assert.equal(messageId(body), registryForLayer(222).idOf('message'))
  assert.equal(messageId(l198), registryForLayer(198).idOf('message'))
  assert.equal(messageId(l227), registryForLayer(227).idOf('message'))
  for (const b of [l198, l227]) {
    const u = decode(b) as { _: string; update: { message: { _: string; id: number; message: string } } }
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
