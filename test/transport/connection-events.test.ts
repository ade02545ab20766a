import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ConnectionEmitter } from '../../src/transport/connection-events.js'

class Conn extends ConnectionEmitter {
  fire(reason: string): void {
    this.emit('close', reason)
  }
  packet(p: Buffer): void {
    this.emit('packet', p, true)
  }
}

test('listeners run in order with the connection as this; off and once as EventEmitter has them', () => {
  const c = new Conn()
  const seen: string[] = []
  function a(this: Conn, r: string) {
    assert.equal(this, c)
    seen.push('a:' + r)
  }
  const b = (r: string) => seen.push('b:' + r)
  const once = (r: string) => seen.push('once:' + r)
  c.on('close', a).on('close', b).once('close', once)
  c.fire('x')
  c.fire('y')
  assert.deepEqual(seen, ['a:x', 'b:x', 'once:x', 'a:y', 'b:y'])
  c.off('close', a)
  c.fire('z')
  c.off('close', b)
  c.fire('w')
  assert.deepEqual(seen.slice(5), ['b:z'])
  // a once listener removed before it fires, by the function given to once
  c.once('close', once).off('close', once)
  c.fire('v')
  assert.equal(seen.length, 6)
})

test('a listener that unsubscribes another during emit does not skip or repeat anyone', () => {
  const c = new Conn()
  const seen: number[] = []
  const second = () => seen.push(2)
  c.on('packet', () => {
    seen.push(1)
    c.off('packet', second)
  })
  c.on('packet', second)
  c.on('packet', (p, quickAck) => seen.push(p.length + (quickAck ? 10 : 0)))
  c.packet(Buffer.alloc(3))
  c.packet(Buffer.alloc(3))
  assert.deepEqual(seen, [1, 2, 13, 1, 13])
})
