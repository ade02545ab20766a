import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { LruAuthKeyStore } from '../../src/store/lru-store.js'
import { MemoryAuthKeyStore } from '../../src/store/memory.js'
import { AuthKeyType, StoreError, type AuthKeyRecord, type AuthKeyStore } from '../../src/store/types.js'
import { ManualClock } from '../../src/util/clock.js'
import { nowSec, permRecord, tempRecord } from './fixtures.js'

/** Counts calls through to the inner store. */
class CountingStore extends MemoryAuthKeyStore {
  gets = 0
  gate: Promise<void> | undefined
  override async get(id: bigint): Promise<AuthKeyRecord | undefined> {
    this.gets++
    // Read first, answer later: the answer can be stale by the time it arrives.
    const r = await super.get(id)
    if (this.gate) await this.gate
    return r
  }
}

describe('LruAuthKeyStore', () => {
  it('serves hits synchronously through peek and without touching the inner store', async () => {
    const clock = new ManualClock(1_790_000_000_000)
    const inner = new CountingStore(clock)
    const s = new LruAuthKeyStore(inner, { size: 10, ttlMs: 1000, clock })
    const r = permRecord(clock)
    await inner.put(r)
    assert.equal(s.peek(r.id), undefined)
    assert.ok(await s.get(r.id))
    assert.equal(inner.gets, 1)
    assert.ok(s.peek(r.id))
    assert.ok(await s.get(r.id))
    assert.equal(inner.gets, 1)
    assert.deepEqual(s.stats, { hits: 1, misses: 1 })
    clock.advance(1001)
    assert.equal(s.peek(r.id), undefined, 'entry lifetime bounded by ttlMs')
    assert.ok(await s.get(r.id))
    assert.equal(inner.gets, 2)
  })

  it('coalesces concurrent misses for one id into one inner lookup', async () => {
    const clock = new ManualClock(1_790_000_000_000)
    const inner = new CountingStore(clock)
    const s = new LruAuthKeyStore(inner, { clock })
    const r = permRecord(clock)
    await inner.put(r)
    let open!: () => void
    inner.gate = new Promise((res) => (open = res))
    const all = Promise.all([s.get(r.id), s.get(r.id), s.get(r.id)])
    open()
    const got = await all
    assert.ok(got.every((g) => g?.key.equals(r.key)))
    assert.equal(inner.gets, 1)
  })

  it('a lookup racing with destroy does not put the destroyed key back into the cache', async () => {
    const clock = new ManualClock(1_790_000_000_000)
    const inner = new CountingStore(clock)
    const s = new LruAuthKeyStore(inner, { clock })
    const r = permRecord(clock)
    await inner.put(r)
    let open!: () => void
    inner.gate = new Promise((res) => (open = res))
    const lookup = s.get(r.id)
    await new Promise((res) => setImmediate(res)) // the inner read has happened
    inner.gate = undefined
    await s.destroy(r.id)
    open()
    assert.ok(await lookup, 'the racing lookup answers with what it read')
    assert.equal(s.peek(r.id), undefined)
    assert.equal(await s.get(r.id), undefined)
  })

  it('does not cache temp keys past their expiry, nor failures', async () => {
    const clock = new ManualClock(1_790_000_000_000)
    const s = new LruAuthKeyStore(new MemoryAuthKeyStore(clock), { clock, ttlMs: 1_000_000 })
    const t = tempRecord(clock, 10)
    await s.put(t)
    assert.ok(s.peek(t.id))
    clock.advance(11_000)
    assert.equal(s.peek(t.id), undefined)
    const failing: AuthKeyStore = Object.assign(new MemoryAuthKeyStore(clock), {
      get: () => Promise.reject(new StoreError('unavailable', 'down')),
    })
    const f = new LruAuthKeyStore(failing, { clock })
    await assert.rejects(f.get(1n), StoreError)
    await assert.rejects(f.get(1n), StoreError, 'a failure is not cached')
  })

  it('destroying a permanent key evicts cached bindings that point at it', async () => {
    const clock = new ManualClock(1_790_000_000_000)
    const s = new LruAuthKeyStore(new MemoryAuthKeyStore(clock), { clock })
    const p = permRecord(clock)
    const t = tempRecord(clock)
    await s.put(p)
    await s.put(t)
    await s.bind({ tempId: t.id, permId: p.id, type: AuthKeyType.temp, expiresAt: nowSec(clock) + 100 })
    assert.ok(await s.getBinding(t.id))
    await s.destroy(p.id)
    assert.equal(await s.getBinding(t.id), undefined)
  })
})
