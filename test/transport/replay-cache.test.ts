import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createMtproxyReplay, ReplayCache } from '../../src/transport/replay-cache.js'

describe('ReplayCache', () => {
  it('a value seen again within the TTL is a replay; after the TTL it is new again', () => {
    const c = new ReplayCache(10, 1000)
    assert.equal(c.check('a', 0), false)
    assert.equal(c.check('a', 999), true)
    assert.equal(c.check('b', 999), false)
    assert.equal(c.check('a', 1000), false, 'expired at its TTL')
    assert.equal(c.refused, 1)
  })

  it('forgets expired entries as time passes (memory follows the window)', () => {
    const c = new ReplayCache(1000, 100)
    for (let i = 0; i < 50; i++) c.check(`k${i}`, i)
    assert.equal(c.size, 50)
    c.check('late', 140)
    assert.equal(c.size, 10, 'k0..k40 expired; k41..k49 and late remain')
  })

  it('holds at most maxEntries: the oldest are forgotten first, and counted', () => {
    const c = new ReplayCache(3, 1_000_000)
    for (const k of ['a', 'b', 'c', 'd']) assert.equal(c.check(k, 0), false)
    assert.equal(c.size, 3)
    assert.equal(c.evicted, 1)
    assert.equal(c.check('d', 1), true)
    assert.equal(c.check('a', 1), false, 'a was evicted')
  })

  it('createMtproxyReplay: hellos remembered for twice the skew, inits for an hour', () => {
    const r = createMtproxyReplay(100, 120_000)
    assert.equal(r.hellos.ttlMs, 240_000)
    assert.equal(r.inits.ttlMs, 3_600_000)
    assert.equal(r.hellos.maxEntries, 100)
  })
})
