/**
 * Per-connection deadlines (first valid packet, frame completion) and the process-wide budget for
 * bytes in partial frames, over real sockets.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Connection } from '../../src/transport/connection.js'
import { ReadBudget } from '../../src/transport/read-budget.js'
import { TcpListener } from '../../src/transport/tcp-listener.js'
import { TestClient } from './helpers.js'

/** An intermediate frame header announcing `n` bytes. */
function header(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n)
  return b
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function listen(l: TcpListener, reasons: string[], onConn?: (c: Connection) => void): Promise<number> {
  l.on('connection', (c) => {
    c.on('close', (r) => reasons.push(r))
    onConn?.(c)
  })
  const [port] = await l.listen()
  return port!
}

describe('connection deadlines', () => {
  it('a connection that never sends a valid packet is closed after firstPacketTimeoutMs; markValid lifts it', async () => {
    const l = new TcpListener({ ports: [0], limits: { firstPacketTimeoutMs: 200, idleTimeoutMs: 60_000 } })
    const reasons: string[] = []
    const port = await listen(l, reasons, (c) => c.on('packet', (p) => p[0] === 1 && c.markValid()))
    try {
      const idle = await TestClient.tcp(port, { codec: 'abridged' })
      const good = await TestClient.tcp(port, { codec: 'abridged' })
      good.send(Buffer.alloc(8, 1))
      const t0 = Date.now()
      await idle.waitClosed(3000)
      assert.ok(Date.now() - t0 < 1500)
      await sleep(300)
      assert.deepEqual(reasons, ['first packet timeout'])
      good.close()
    } finally {
      await l.close()
    }
  })

  it('a frame fed slower than minFrameBytesPerSecond is closed after frameTimeoutMs (each byte resets only the idle timer)', async () => {
    const l = new TcpListener({ ports: [0], limits: { frameTimeoutMs: 300, minFrameBytesPerSecond: 1000, firstPacketTimeoutMs: 60_000 } })
    const reasons: string[] = []
    const port = await listen(l, reasons)
    try {
      const slow = await TestClient.tcp(port, { codec: 'intermediate' })
      slow.writeRaw(header(1 << 20))
      const t0 = Date.now()
      const feeding = setInterval(() => slow.writeRaw(Buffer.alloc(1)), 50)
      try {
        await slow.waitClosed(5000)
      } finally {
        clearInterval(feeding)
      }
      assert.ok(Date.now() - t0 < 2000, 'closed near the deadline, not at the idle timeout')
      await sleep(50)
      assert.deepEqual(reasons, ['frame timeout'])
    } finally {
      await l.close()
    }
  })

  it('a large frame sent at a fair rate completes', async () => {
    const l = new TcpListener({ ports: [0], limits: { frameTimeoutMs: 200, minFrameBytesPerSecond: 64 * 1024, firstPacketTimeoutMs: 60_000 } })
    const reasons: string[] = []
    let got = 0
    const port = await listen(l, reasons, (c) => c.on('packet', (p) => (got = p.length)))
    try {
      const c = await TestClient.tcp(port, { codec: 'intermediate' })
      const n = 256 * 1024
      c.writeRaw(header(n))
      // 256 KB in 8 chunks over ~700 ms: allowed 200 ms + 4 s
      for (let i = 0; i < 8; i++) {
        c.writeRaw(Buffer.alloc(n / 8))
        await sleep(90)
      }
      await sleep(100)
      assert.equal(got, n)
      assert.deepEqual(reasons, [])
      c.close()
    } finally {
      await l.close()
    }
  })
})

describe('global read budget', () => {
  it('above the limit the oldest partial frames are closed; memory accounting returns to zero', async () => {
    const budget = new ReadBudget(1024 * 1024)
    const l = new TcpListener({ ports: [0], readBudget: budget, limits: { firstPacketTimeoutMs: 60_000 } })
    const reasons: string[] = []
    const port = await listen(l, reasons)
    try {
      const clients: TestClient[] = []
      for (let i = 0; i < 6; i++) {
        const c = await TestClient.tcp(port, { codec: 'intermediate' })
        c.writeRaw(header(512 * 1024))
        c.writeRaw(Buffer.alloc(256 * 1024 - 1))
        clients.push(c)
        await sleep(40)
      }
      await sleep(600) // budget pauses (200 ms) end, remaining bytes arrive
      assert.ok(budget.stats.evicted >= 1, `evicted ${budget.stats.evicted}`)
      assert.ok(budget.used <= budget.limit, `used ${budget.used}`)
      assert.ok(reasons.every((r) => r === 'global read buffer budget exceeded'))
      await clients[0]!.waitClosed(2000) // the oldest went first
      for (const c of clients) c.close()
      await sleep(100)
      assert.equal(budget.used, 0)
    } finally {
      await l.close()
    }
  })

  it('above the soft limit a connection growing a partial frame is paused briefly, then completes', async () => {
    const budget = new ReadBudget(400 * 1024)
    const l = new TcpListener({ ports: [0], readBudget: budget, limits: { firstPacketTimeoutMs: 60_000 } })
    const reasons: string[] = []
    let got = 0
    const port = await listen(l, reasons, (c) => c.on('packet', () => got++))
    try {
      const c = await TestClient.tcp(port, { codec: 'intermediate' })
      c.writeRaw(header(350 * 1024))
      c.writeRaw(Buffer.alloc(340 * 1024))
      await sleep(100)
      c.writeRaw(Buffer.alloc(10 * 1024))
      await sleep(500)
      assert.ok(budget.stats.paused >= 1)
      assert.equal(got, 1)
      assert.deepEqual(reasons, [])
      c.close()
    } finally {
      await l.close()
    }
  })
})

describe('frame deadline and a steady stream of frames', () => {
  it('each frame gets its own deadline: a long pipelined upload is not cut', async () => {
    const l = new TcpListener({ ports: [0], limits: { frameTimeoutMs: 300, minFrameBytesPerSecond: 1 << 30, firstPacketTimeoutMs: 60_000 } })
    const reasons: string[] = []
    let got = 0
    const port = await listen(l, reasons, (c) => c.on('packet', () => got++))
    try {
      const c = await TestClient.tcp(port, { codec: 'intermediate' })
      // 16 KB frames written in 12 KB slices: a frame's beginning is always buffered, for 1.2 s
      const frame = Buffer.concat([header(16 * 1024), Buffer.alloc(16 * 1024)])
      const stream = Buffer.concat(Array.from({ length: 40 }, () => frame))
      for (let o = 0; o < stream.length; o += 12 * 1024) {
        c.writeRaw(stream.subarray(o, o + 12 * 1024))
        await sleep(20)
      }
      await sleep(100)
      assert.equal(got, 40)
      assert.deepEqual(reasons, [])
      c.close()
    } finally {
      await l.close()
    }
  })
})
