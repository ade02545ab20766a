import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Received, ReceivedWindow } from '../../src/session/received.js'

/** Flags of a message with this seqno (content when odd) and the extra facts. */
const flags = (seqNo: number, extra: Partial<{ rpc: boolean; answered: boolean; acked: boolean }> = {}): number =>
  ((seqNo & 1) === 1 ? Received.content : 0) |
  (extra.rpc ? Received.rpc : 0) |
  (extra.answered ? Received.answered : 0) |
  (extra.acked ? Received.acked : 0)

test('seqno order: lower seqno than an earlier message → 32, higher than a later one → 33', () => {
  const w = new ReceivedWindow()
  w.add(100n, 1, flags(1))
  w.add(200n, 5, flags(5))
  assert.equal(w.check(300n, 7), 0)
  assert.equal(w.check(300n, 6), 0, 'even seqno after odd one is fine')
  assert.equal(w.check(300n, 3), 32)
  assert.equal(w.check(300n, 5), 32, 'equal and odd')
  assert.equal(w.check(150n, 3), 0, 'fits between neighbours')
  assert.equal(w.check(150n, 7), 33)
  assert.equal(w.check(150n, 5), 33, 'equal and odd to the next')
  assert.equal(w.check(150n, 1), 32, 'equal and odd to the previous')
  w.add(300n, 6, flags(6))
  assert.equal(w.check(400n, 6), 0, 'equal and even is allowed')
})

test('window eviction makes older ids "too old to tell" (20)', () => {
  const w = new ReceivedWindow(4)
  for (let i = 1; i <= 6; i++) w.add(BigInt(i * 4), i * 2, flags(i * 2))
  assert.equal(w.size, 4)
  assert.equal(w.check(4n, 0), 20)
  assert.equal(w.check(8n, 0), 20)
  assert.equal(w.check(9n, 2), 0)
})

test('msgs_state_info bytes per spec', () => {
  const w = new ReceivedWindow(3)
  assert.equal(w.state(10n), 1, 'nothing known yet')
  w.add(100n, 1, flags(1, { rpc: true, answered: true, acked: true }))
  w.add(200n, 2, flags(2))
  w.add(300n, 3, flags(3, { rpc: true }))
  assert.equal(w.state(100n), 4 | 8 | 32 | 64)
  assert.equal(w.state(200n), 4 | 16)
  assert.equal(w.state(300n), 4 | 32)
  assert.equal(w.state(250n), 2, 'within the range, not received')
  assert.equal(w.state(400n), 3, 'above the range')
  assert.equal(w.state(50n), 1, 'below the range')
  w.add(400n, 4, flags(4))
  assert.equal(w.state(100n), 1, 'forgotten')
})

test('out-of-order arrivals are kept sorted', () => {
  const w = new ReceivedWindow()
  w.add(300n, 5, flags(5))
  w.add(100n, 1, flags(1))
  w.add(200n, 3, flags(3))
  assert.equal(w.check(250n, 3), 32)
  assert.equal(w.check(250n, 4), 0)
  assert.equal(w.check(50n, 0), 0)
  assert.equal(w.check(50n, 2), 33)
})

test('flags and mark: set bits stick, unknown ids give -1', () => {
  const w = new ReceivedWindow()
  w.add(400n, 3, Received.content)
  assert.equal(w.flags(400n), Received.content)
  assert.equal(w.mark(400n, Received.rpc), Received.content | Received.rpc)
  assert.equal(w.mark(400n, Received.answered), Received.content | Received.rpc | Received.answered)
  assert.equal(w.flags(404n), -1)
  assert.equal(w.mark(404n, Received.acked), -1)
  assert.equal(w.has(400n), true)
  assert.equal(w.has(396n), false)
  w.add(400n, 9, 0)
  assert.equal(w.size, 1, 'a second add of the same id is ignored')
  assert.equal(w.flags(400n), Received.content | Received.rpc | Received.answered)
})

test('ids are compared as signed 64-bit numbers (high word signed, low word unsigned)', () => {
  const w = new ReceivedWindow()
  // ascending, with seqno 2, 4, ... 18
  const ids = [-(1n << 63n), -4n, 0n, 0x7ffffffcn, 0x80000000n, 0xfffffffcn, 0x1_0000_0000n, 0x6500_0000_8000_0000n, (1n << 63n) - 4n]
  for (let j = ids.length - 1; j >= 0; j--) w.add(ids[j]!, 2 * (j + 1), 0)
  for (const id of ids) assert.equal(w.has(id), true, `${id}`)
  assert.equal(w.has(0x7ffffffcn + (1n << 32n)), false)
  assert.equal(w.check(-(1n << 63n) + 4n, 2), 20, 'negative ids are "too old to tell"')
  assert.equal(w.check(4n, 6), 0)
  assert.equal(w.check(4n, 10), 33)
  assert.equal(w.check(4n, 4), 32)
  assert.equal(w.check(0xfffffff8n, 10), 0)
  assert.equal(w.check(0xfffffff8n, 14), 33)
  assert.equal(w.check(0xfffffff8n, 8), 32)
  assert.equal(w.check(0x1_0000_0004n, 16), 0)
  assert.equal(w.check(0x1_0000_0004n, 12), 32)
  assert.equal(w.state(0x6500_0000_7fff_fffcn), 2, 'between two remembered ids')
  assert.equal(w.state((1n << 63n) - 1n), 3, 'above the highest id')
})

test('ring: grows from one entry, wraps around and stays sorted with late arrivals (against a plain model)', () => {
  // the model is the straightforward sorted-array window the ring replaces
  class Model {
    ids: bigint[] = []
    seq: number[] = []
    forgotten = -1n
    constructor(readonly max: number) {}
    add(id: bigint, s: number): void {
      let i = 0
      while (i < this.ids.length && this.ids[i]! < id) i++
      if (this.ids[i] === id) return
      this.ids.splice(i, 0, id)
      this.seq.splice(i, 0, s)
      if (this.ids.length > this.max) {
        const old = this.ids.shift()!
        this.seq.shift()
        if (old > this.forgotten) this.forgotten = old
      }
    }
    check(id: bigint, s: number): number {
      if (id <= this.forgotten) return 20
      let i = 0
      while (i < this.ids.length && this.ids[i]! <= id) i++
      if (i > 0 && (this.seq[i - 1]! > s || (this.seq[i - 1] === s && (s & 1) === 1))) return 32
      if (i < this.ids.length && (this.seq[i]! < s || (this.seq[i] === s && (s & 1) === 1))) return 33
      return 0
    }
    state(id: bigint): number {
      if (this.ids.includes(id)) return -1
      if (id <= this.forgotten || this.ids.length === 0) return 1
      if (id > this.ids[this.ids.length - 1]!) return 3
      if (id < this.ids[0]!) return 1
      return 2
    }
  }
  let seed = 12345
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed % n
  }
  for (const max of [1, 3, 8, 256]) {
    const w = new ReceivedWindow(max)
    const m = new Model(max)
    let next = 0x65000000_00000000n
    for (let step = 0; step < 3000; step++) {
      next += BigInt(4 * (1 + rnd(3)))
      // mostly increasing ids, sometimes a late one from a little below the newest
      const id = rnd(5) === 0 ? next - BigInt(4 * rnd(40)) : next
      const s = rnd(64)
      w.add(id, s, 0)
      m.add(id, s)
      assert.equal(w.size, m.ids.length, `max ${max} step ${step}: size`)
      const probe = next - BigInt(4 * rnd(2 * max + 8)) + BigInt(rnd(3) * 4)
      const ps = rnd(64)
      if (!m.ids.includes(probe)) assert.equal(w.check(probe, ps), m.check(probe, ps), `max ${max} step ${step}: check ${probe} ${ps}`)
      const st = m.state(probe)
      if (st === -1) assert.equal(w.has(probe), true)
      else assert.equal(w.state(probe), st, `max ${max} step ${step}: state ${probe}`)
    }
  }
})

test('isNew: neither in the window nor below what it remembers', () => {
  const w = new ReceivedWindow(4)
  const id = (i: number): bigint => (BigInt(1_700_000_000 + i) << 32n) | 4n
  for (let i = 1; i <= 6; i++) w.add(id(i), i * 2, 0)
  assert.equal(w.isNew(id(6)), false, 'in the window')
  assert.equal(w.isNew(id(1)), false, 'forgotten: below the window')
  assert.equal(w.isNew(id(7)), true)
})
