import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { RendezvousRing } from '../../src/cluster/ring.js'

/** Deterministic 64-bit keys spread like auth_key_ids (SHA-1 bits): splitmix64. */
function keys(n: number, seed = 1n): bigint[] {
  const out: bigint[] = []
  let x = seed
  for (let i = 0; i < n; i++) {
    x = BigInt.asUintN(64, x + 0x9e3779b97f4a7c15n)
    let z = x
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n)
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn)
    z = z ^ (z >> 31n)
    out.push(BigInt.asIntN(64, z))
  }
  return out
}

function counts(ring: RendezvousRing, ks: bigint[]): Map<string, number> {
  const m = new Map<string, number>()
  for (const k of ks) {
    const o = ring.owner(k)!
    m.set(o, (m.get(o) ?? 0) + 1)
  }
  return m
}

describe('RendezvousRing', () => {
  it('empty ring has no owner; one node owns everything', () => {
    assert.equal(new RendezvousRing().owner(5n), undefined)
    const r = new RendezvousRing(['a'])
    for (const k of keys(100)) assert.equal(r.owner(k), 'a')
  })

  it('balances 20000 keys over 2, 3, 5 and 10 nodes within 10% of the fair share', () => {
    const ks = keys(20000)
    for (const n of [2, 3, 5, 10]) {
      const ring = new RendezvousRing(Array.from({ length: n }, (_, i) => `session-${i + 1}`))
      const c = counts(ring, ks)
      assert.equal(c.size, n)
      const fair = ks.length / n
      for (const [id, v] of c) assert.ok(Math.abs(v - fair) / fair < 0.1, `${n} nodes: ${id} got ${v}, fair ${fair}`)
    }
  })

  it('also balances sequential ids and negative ids', () => {
    const ks: bigint[] = []
    for (let i = 0n; i < 10000n; i++) ks.push(i % 2n === 0n ? i : -i)
    const c = counts(new RendezvousRing(['n1', 'n2', 'n3', 'n4']), ks)
    for (const v of c.values()) assert.ok(Math.abs(v - 2500) < 250, `got ${v}`)
  })

  it('a joining node takes only keys for itself (~1/n), nothing moves between old nodes', () => {
    const ks = keys(20000, 7n)
    const before = new RendezvousRing(['a', 'b', 'c', 'd'])
    const after = new RendezvousRing(['a', 'b', 'c', 'd', 'e'])
    let moved = 0
    for (const k of ks) {
      const o1 = before.owner(k)
      const o2 = after.owner(k)
      if (o1 !== o2) {
        assert.equal(o2, 'e', 'a key moved between two old nodes')
        moved++
      }
    }
    assert.ok(Math.abs(moved - ks.length / 5) / (ks.length / 5) < 0.1, `moved ${moved}`)
  })

  it('a leaving node hands over only its own keys, spread over the others', () => {
    const ks = keys(20000, 9n)
    const before = new RendezvousRing(['a', 'b', 'c', 'd'])
    const after = new RendezvousRing(['a', 'b', 'd'])
    const got = new Map<string, number>()
    for (const k of ks) {
      const o1 = before.owner(k)!
      const o2 = after.owner(k)!
      if (o1 !== 'c') assert.equal(o2, o1, 'a key of a surviving node moved')
      else got.set(o2, (got.get(o2) ?? 0) + 1)
    }
    for (const v of got.values()) assert.ok(v > 5000 / 3 * 0.8, `uneven hand-over ${[...got.values()]}`)
  })

  it('the owner is the same whatever the insertion order; preference starts with the owner', () => {
    const r1 = new RendezvousRing(['x', 'y', 'z'])
    const r2 = new RendezvousRing(['z', 'x', 'y', 'x'])
    for (const k of keys(500, 3n)) {
      assert.equal(r1.owner(k), r2.owner(k))
      const p = r1.preference(k)
      assert.equal(p[0], r1.owner(k))
      assert.deepEqual([...p].sort(), ['x', 'y', 'z'])
      // the fallback after removing the owner is the second preference
      const rest = new RendezvousRing(p.slice(1))
      assert.equal(rest.owner(k), p[1])
    }
  })
})
