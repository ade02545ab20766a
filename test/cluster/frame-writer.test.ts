import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setImmediate as tick } from 'node:timers/promises'
import { FrameWriter } from '../../src/cluster/frame-writer.js'

describe('FrameWriter', () => {
  it('batches the items pushed in one turn into one frame, in order', async () => {
    const frames: number[][] = []
    const w = new FrameWriter<number>((f) => (frames.push(f.items), true))
    for (let i = 0; i < 5; i++) assert.equal(w.push(i), true)
    assert.equal(frames.length, 0, 'nothing written synchronously')
    await tick()
    assert.deepEqual(frames, [[0, 1, 2, 3, 4]])
  })

  it('splits at maxBatch', async () => {
    const frames: number[][] = []
    const w = new FrameWriter<number>((f) => (frames.push(f.items), true), { maxBatch: 2 })
    for (let i = 0; i < 5; i++) w.push(i)
    await tick()
    assert.deepEqual(frames, [[0, 1], [2, 3], [4]])
  })

  it('stops at write() === false, holds items until resume(), refuses beyond maxQueued', async () => {
    const frames: number[][] = []
    let accept = false
    const w = new FrameWriter<number>((f) => (frames.push(f.items), accept), { maxBatch: 1, maxQueued: 3 })
    w.push(1)
    w.push(2)
    await tick()
    assert.deepEqual(frames, [[1]], 'blocked after the first write')
    assert.equal(w.isBlocked, true)
    assert.equal(w.push(3), true)
    assert.equal(w.push(4), true)
    assert.equal(w.queued, 3)
    assert.equal(w.push(5), false, 'queue full: refused')
    assert.equal(w.stats.refused, 1)
    await tick()
    assert.equal(frames.length, 1, 'no write while blocked')
    accept = true
    w.resume()
    assert.deepEqual(frames, [[1], [2], [3], [4]])
    assert.equal(w.queued, 0)
  })

  it('high / low water: aboveHighWater from highWater queued items; onLowWater once the queue is back to lowWater', async () => {
    let accept = false
    let lows = 0
    const w = new FrameWriter<number>(() => accept, { maxBatch: 1, maxQueued: 10, highWater: 6, lowWater: 2, onLowWater: () => lows++ })
    w.push(0)
    await tick() // written, blocked
    for (let i = 1; i <= 5; i++) w.push(i)
    assert.equal(w.aboveHighWater, false, '5 queued')
    w.push(6)
    assert.equal(w.aboveHighWater, true, '6 queued')
    // a partial drain (blocked again after 2 writes) stays above the low-water mark
    let n = 0
    accept = true
    const w2 = w as unknown as { write: () => boolean }
    const orig = w2.write
    w2.write = () => ++n < 3 && orig()
    w.resume()
    assert.equal(w.queued, 3)
    assert.equal(w.aboveHighWater, true)
    assert.equal(lows, 0)
    w2.write = orig
    w.resume()
    assert.equal(w.queued, 0)
    assert.equal(w.aboveHighWater, false)
    assert.equal(lows, 1, 'called once')
    w.push(7)
    await tick()
    assert.equal(lows, 1, 'not again without crossing the high-water mark')
  })

  it('close() returns what was queued and refuses more', async () => {
    const w = new FrameWriter<string>(() => false)
    w.push('a')
    await tick()
    w.push('b')
    assert.deepEqual(w.close(), ['b'])
    assert.equal(w.push('c'), false)
  })
})
