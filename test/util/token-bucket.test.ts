import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { KeyedBuckets, TokenBucket } from '../../src/util/token-bucket.js'

describe('TokenBucket', () => {
  it('starts full, refills at the rate up to the burst, and can go into debt with spend()', () => {
    const b = new TokenBucket(10, 5, 0)
    assert.equal(b.take(5, 0), true)
    assert.equal(b.take(1, 0), false)
    assert.equal(b.take(1, 100), true)
    assert.equal(b.available(10_000), 5)
    b.spend(8, 10_000)
    assert.equal(b.available(10_000), -3)
    assert.equal(b.full(10_500), false)
    assert.equal(b.full(11_000), true)
  })
})

describe('KeyedBuckets', () => {
  it('one bucket per key; the map stays bounded, dropping refilled buckets first', () => {
    const k = new KeyedBuckets(1, 1, 10)
    assert.equal(k.take('a', 1, 0), true)
    assert.equal(k.take('a', 1, 0), false)
    for (let i = 0; i < 20; i++) k.take(`k${i}`, 1, 0)
    assert.ok(k.size <= 10)
    assert.equal(k.take('b', 1, 0), true)
  })
})
