import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { LruCache } from '../../src/util/lru.js'
import { ManualClock } from '../../src/util/clock.js'

describe('LruCache', () => {
  it('evicts the least recently used entry beyond maxSize', () => {
    const clock = new ManualClock(0)
    const c = new LruCache<number, string>(2, 1000, clock)
    c.set(1, 'a')
    c.set(2, 'b')
    assert.equal(c.get(1), 'a') // 1 is now most recent
    c.set(3, 'c')
    assert.equal(c.get(2), undefined)
    assert.equal(c.get(1), 'a')
    assert.equal(c.get(3), 'c')
    assert.equal(c.size, 2)
  })

  it('expires entries ttlMs after insertion, reads do not extend them', () => {
    const clock = new ManualClock(0)
    const c = new LruCache<bigint, number>(10, 100, clock)
    c.set(1n, 1)
    clock.advance(60)
    assert.equal(c.get(1n), 1)
    clock.advance(41)
    assert.equal(c.get(1n), undefined)
    assert.equal(c.size, 0)
  })

  it('size 0 caches nothing; deleteWhere removes matching values', () => {
    const clock = new ManualClock(0)
    const none = new LruCache<number, number>(0, 100, clock)
    none.set(1, 1)
    assert.equal(none.get(1), undefined)
    const c = new LruCache<number, number>(10, 100, clock)
    for (let i = 0; i < 6; i++) c.set(i, i % 2)
    assert.equal(c.deleteWhere((v) => v === 1), 3)
    assert.equal(c.size, 3)
    assert.throws(() => new LruCache(-1, 1, clock), RangeError)
    assert.throws(() => new LruCache(1, 0, clock), RangeError)
  })
})
