import { test } from 'node:test'
import assert from 'node:assert/strict'
import { checkPrimeSync } from 'node:crypto'
import { PqPool, factorPq, makePair, bigToMinBytes } from '../../src/handshake/pq.js'

test('pool pairs: distinct primes p < q, pq < 2^63; refilled after draining', async () => {
  const pool = new PqPool(8, 4)
  await pool.fill()
  assert.equal(pool.size, 8)
  const seen = new Set<bigint>()
  for (let i = 0; i < 12; i++) {
    const { p, q, pq } = pool.take()
    assert.ok(p < q)
    assert.ok(checkPrimeSync(p) && checkPrimeSync(q))
    assert.equal(p * q, pq)
    assert.ok(pq < 2n ** 63n)
    seen.add(pq)
  }
  assert.equal(seen.size, 12, 'fresh pq every time')
  assert.ok(pool.misses >= 0)
  pool.close()
})

test('factorPq recovers p and q', () => {
  const pair = makePair(2147483647n, 1500000001n)
  assert.deepEqual(factorPq(pair.pq), { p: pair.p, q: pair.q })
  assert.throws(() => makePair(7n, 7n))
  assert.deepEqual(bigToMinBytes(0x0102n), Buffer.from([1, 2]))
})
