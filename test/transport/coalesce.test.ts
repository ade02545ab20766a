/**
 * Connection write coalescing (one socket write per event-loop turn) and per-connection logger
 * laziness, over a recording ByteSocket (a fake of our own interface) and over real TCP.
 */
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { describe, it } from 'node:test'
import { pino, type Logger } from 'pino'
import type { ByteSocket, ByteSocketHandlers } from '../../src/transport/byte-socket.js'
import { createCodec } from '../../src/transport/create-codec.js'
import { COALESCE_MAX_BYTES, Connection } from '../../src/transport/connection.js'
import { resolveLimits } from '../../src/transport/limits.js'
import { TcpListener } from '../../src/transport/tcp-listener.js'
import { systemClock } from '../../src/util/clock.js'
import { Prng, TestClient } from './helpers.js'

class RecordingSocket implements ByteSocket {
  readonly kind = 'tcp' as const
  readonly remoteAddress = '127.0.0.1'
  readonly remotePort = 4000
  readonly localPort = 443
  writes: Buffer[] = []
  ended = false
  destroyed = false
  handlers: ByteSocketHandlers | undefined
  get pendingWriteBytes(): number {
    return 0
  }
  setHandlers(h: ByteSocketHandlers): void {
    this.handlers = h
  }
  write(data: Buffer): void {
    if (this.ended) throw new Error('write after end')
    this.writes.push(Buffer.from(data))
  }
  pause(): void {}
  resume(): void {}
  end(): void {
    this.ended = true
  }
  destroy(): void {
    this.destroyed = true
  }
}

/** A pino logger whose child() calls are counted (children count into the same counter). */
function countingLogger(): { log: Logger; children: () => number } {
  let n = 0
  const wrap = (l: Logger): Logger => {
    const child = l.child.bind(l)
    l.child = ((b: object) => {
      n++
      return wrap(child(b))
    }) as unknown as Logger['child']
    return l
  }
  return { log: wrap(pino({ level: 'info' }, { write: () => {} })), children: () => n }
}

function makeConn(log: Logger = pino({ level: 'silent' }), writeHighWaterMark?: number): { conn: Connection; sock: RecordingSocket } {
  const sock = new RecordingSocket()
  const codec = createCodec('intermediate', { side: 'server', maxFrameSize: 1 << 20 })
  const conn = new Connection(sock, codec, { id: 1, obfuscated: false, dcId: null, secretIndex: null }, {
    limits: resolveLimits(writeHighWaterMark === undefined ? { idleTimeoutMs: 0 } : { idleTimeoutMs: 0, writeHighWaterMark }),
    clock: systemClock,
    log,
  })
  return { conn, sock }
}

const tick = () => new Promise<void>((r) => process.nextTick(r))

/** Decodes what the server wrote with a client-side intermediate codec. */
function decodeWrites(writes: Buffer[]): Buffer[] {
  const client = createCodec('intermediate', { side: 'client', maxFrameSize: 1 << 20 })
  return client.push(Buffer.concat(writes)).map((f) => (f.type === 'packet' ? f.payload : Buffer.from(`QA${f.token}`)))
}

describe('write coalescing', () => {
  it('frames sent in one turn leave in one socket write, in order, quick ack first', async () => {
    const { conn, sock } = makeConn()
    conn.sendQuickAck(0x1234)
    for (let i = 0; i < 5; i++) conn.send(Buffer.alloc(8, i))
    assert.equal(sock.writes.length, 0, 'nothing written before the turn ends')
    assert.equal(conn.pendingWriteBytes, 4 + 5 * 12)
    await tick()
    assert.equal(sock.writes.length, 1)
    const got = decodeWrites(sock.writes)
    assert.equal(got.length, 6)
    assert.equal(got[0]!.toString(), `QA${(0x1234 | 0x80000000) >>> 0}`)
    for (let i = 0; i < 5; i++) assert.deepEqual(got[i + 1], Buffer.alloc(8, i))
    // the next turn gets its own write
    conn.send(Buffer.alloc(4, 9))
    await tick()
    assert.equal(sock.writes.length, 2)
    assert.equal(conn.pendingWriteBytes, 0)
  })

  it('large frames are written without waiting for the turn to end', () => {
    const { conn, sock } = makeConn()
    conn.send(Buffer.alloc(16))
    conn.send(Buffer.alloc(COALESCE_MAX_BYTES))
    assert.equal(sock.writes.length, 1, 'queued bytes reached the limit: flushed at once')
    assert.equal(decodeWrites(sock.writes).length, 2)
  })

  it('reads paused by queued bytes above the high-water mark resume once the socket took them', async () => {
    const { conn, sock } = makeConn(undefined, 1024)
    conn.send(Buffer.alloc(4096))
    assert.equal(conn.readPaused, true)
    await tick()
    assert.equal(sock.writes.length, 1)
    assert.equal(conn.readPaused, false, 'no drain event comes for bytes the socket never buffered')
  })

  it('close() writes what is queued (and the transport error) before ending the socket', () => {
    const { conn, sock } = makeConn()
    conn.send(Buffer.alloc(8, 1))
    conn.close('test', -404)
    assert.equal(sock.ended, true)
    const got = decodeWrites(sock.writes)
    assert.deepEqual(got[0], Buffer.alloc(8, 1))
    assert.equal(got[1]!.readInt32LE(0), -404)
    assert.equal(conn.send(Buffer.alloc(4)), false)
  })

  it('obfuscated: coalesced frames keep the CTR stream order (a real client decodes them)', async () => {
    const l = new TcpListener({ ports: [0] })
    l.on('connection', (c) =>
      c.on('packet', (p) => {
        // three answers per packet, in one turn
        for (let i = 0; i < 3; i++) c.send(Buffer.concat([p, Buffer.from([i, 0, 0, 0])]))
      }),
    )
    const [port] = await l.listen()
    const { header, codec } = TestClient.header({ codec: 'intermediate', obfuscated: true }, new Prng(3))
    const sock = connect(port!, '127.0.0.1')
    try {
      await new Promise<void>((r) => sock.once('connect', () => r()))
      const frames: Buffer[] = []
      sock.on('data', (d: Buffer) => {
        for (const f of codec.push(d)) if (f.type === 'packet') frames.push(f.payload)
      })
      sock.write(Buffer.concat([header, codec.encodePacket(Buffer.alloc(8, 7)), codec.encodePacket(Buffer.alloc(8, 8))]))
      for (let i = 0; i < 200 && frames.length < 6; i++) await new Promise((r) => setTimeout(r, 10))
      assert.equal(frames.length, 6)
      for (let k = 0; k < 6; k++) {
        assert.deepEqual(frames[k]!.subarray(0, 8), Buffer.alloc(8, k < 3 ? 7 : 8))
        assert.equal(frames[k]![8], k % 3)
      }
    } finally {
      sock.destroy()
      await l.close()
    }
  })
})

describe('per-connection loggers', () => {
  it('a connection that has nothing to log creates no child logger; one that logs does', async () => {
    const { log, children } = countingLogger()
    const { conn } = makeConn(log)
    conn.send(Buffer.alloc(8))
    await tick()
    assert.equal(children(), 0)
    conn.sendQuickAck(1)
    conn.close('done')
    assert.equal(children(), 0, 'close without a log line')
    const b = makeConn(log)
    b.sock.handlers!.onSocketError(new Error('boom')) // debug: off at info
    assert.equal(children(), 0)
    b.conn.feed(Buffer.from([0xff, 0xff, 0xff, 0x7f])) // frame length above the limit: warn + close
    assert.equal(children(), 1)
  })

  it('accepted TCP connections create no logger until they log', async () => {
    const { log, children } = countingLogger()
    const l = new TcpListener({ ports: [0], log })
    const base = children() // the listener's own component logger
    const got: Buffer[] = []
    l.on('connection', (c) => c.on('packet', (p) => c.send(p)))
    const [port] = await l.listen()
    const clients: TestClient[] = []
    try {
      for (let i = 0; i < 5; i++) clients.push(await TestClient.tcp(port!, { codec: 'intermediate' }, new Prng(20 + i)))
      for (const c of clients) {
        c.send(Buffer.alloc(8, 5))
        got.push(await c.nextPacket())
      }
      assert.equal(got.length, 5)
      assert.equal(children() - base, 0)
    } finally {
      for (const c of clients) c.close()
      await l.close()
    }
  })
})
