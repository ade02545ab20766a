/**
 * Rendezvous (highest-random-weight) hashing of auth_key_id over the live session nodes: each key
 * goes to the node with the highest score(node, key). A node joining takes ~1/n of the keys from the
 * others and a node leaving hands only its own keys over; every other key stays where it was.
 */
import { high32, low32 } from '../util/int64.js'

/** 32-bit FNV-1a of a string (the per-node seed). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** murmur3's 32-bit finaliser. */
function fmix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

interface RingNode {
  id: string
  seedA: number
  seedB: number
}

/** The weight of `node` for the key halves (lo, hi); 0 .. 2^32-1. */
function score(n: RingNode, lo: number, hi: number): number {
  return fmix32(fmix32(lo ^ n.seedA) ^ Math.imul(hi ^ n.seedB, 0x9e3779b1))
}

export class RendezvousRing {
  private nodes: RingNode[] = []

  constructor(ids: Iterable<string> = []) {
    this.set(ids)
  }

  /** Replaces the member set. */
  set(ids: Iterable<string>): void {
    const uniq = [...new Set(ids)].sort()
    this.nodes = uniq.map((id) => {
      const a = fnv1a(id)
      return { id, seedA: fmix32(a ^ 0x5bd1e995), seedB: fmix32(a + 0x27d4eb2f) }
    })
  }

  get members(): string[] {
    return this.nodes.map((n) => n.id)
  }

  get size(): number {
    return this.nodes.length
  }

  has(id: string): boolean {
    return this.nodes.some((n) => n.id === id)
  }

  /** The owner of `key`, or undefined when the ring is empty. Ties go to the smaller node id. */
  owner(key: bigint): string | undefined {
    // the unsigned halves, without intermediate bigints (this runs for every client message)
    const lo = low32(key)
    const hi = high32(key) >>> 0
    let best: RingNode | undefined
    let bestScore = -1
    for (const n of this.nodes) {
      const s = score(n, lo, hi)
      if (s > bestScore) {
        best = n
        bestScore = s
      }
    }
    return best?.id
  }

  /** Nodes ordered by preference for `key` (owner first): the fallback order when the owner fails. */
  preference(key: bigint): string[] {
    const lo = low32(key)
    const hi = high32(key) >>> 0
    return this.nodes
      .map((n) => ({ id: n.id, s: score(n, lo, hi) }))
      .sort((a, b) => b.s - a.s || (a.id < b.id ? -1 : 1))
      .map((x) => x.id)
  }
}
