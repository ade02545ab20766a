import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { WebSocket } from 'ws'
import { parseTransportError, type CodecName } from '../../src/transport/codec.js'
import type { Connection } from '../../src/transport/connection.js'
import { TcpListener } from '../../src/transport/tcp-listener.js'
import { WsListener } from '../../src/transport/ws-listener.js'
import { SourceLimiter } from '../../src/transport/source-limits.js'
import { Prng, TestClient, type ClientSpec } from './helpers.js'

/** Echo server: every packet comes back; a packet "QA??" asks for a quick ack of the token ??. */
function attachEcho(conn: Connection, seen: Connection[]): void {
  seen.push(conn)
  conn.on('packet', (payload, quickAck) => {
    if (quickAck) conn.sendQuickAck(payload.readUInt32LE(0))
    conn.send(payload)
  })
}

const SPECS: Array<{ label: string; spec: ClientSpec }> = [
  ...(['abridged', 'intermediate', 'padded', 'full'] as CodecName[]).map((codec) => ({ label: codec, spec: { codec } })),
  ...(['abridged', 'intermediate', 'padded'] as CodecName[]).map((codec) => ({ label: `obfuscated ${codec}`, spec: { codec, obfuscated: true } })),
]

function trim(codec: CodecName, got: Buffer, n: number): Buffer {
  return codec === 'padded' ? got.subarray(0, n) : got
}

describe('TCP listener', () => {
  let listener: TcpListener
  let ports: number[]
  const seen: Connection[] = []

  before(async () => {
    listener = new TcpListener({ ports: [0, 0], limits: { maxFrameSize: 64 * 1024, idleTimeoutMs: 60_000 } })
    listener.on('connection', (c) => attachEcho(c, seen))
    ports = await listener.listen()
  })
  after(async () => {
    await listener.close()
  })

  for (const { label, spec } of SPECS) {
    it(`${label}: echo, quick ack, then more traffic still decodes (both ports)`, async () => {
      for (const port of ports) {
        const rng = new Prng(port)
        const c = await TestClient.tcp(port, spec, rng)
        try {
          const p1 = rng.bytes(1024)
          c.send(p1)
          assert.deepEqual(trim(spec.codec, await c.nextPacket(), 1024), p1)
          if (spec.codec !== 'full') {
            const p2 = rng.bytes(64)
            p2.writeUInt32LE(0x80c0ffee, 0)
            c.send(p2, true)
            const qa = await c.frames.next()
            assert.deepEqual(qa, { type: 'quickAck', token: 0x80c0ffee })
            assert.deepEqual(trim(spec.codec, await c.nextPacket(), 64), p2)
          }
          const p3 = rng.bytes(4096)
          c.send(p3)
          assert.deepEqual(trim(spec.codec, await c.nextPacket(), 4096), p3)
          const conn = seen[seen.length - 1]!
          assert.equal(conn.codecName, spec.codec)
          assert.equal(conn.info.obfuscated, spec.obfuscated === true)
          assert.match(conn.remoteAddress, /^127\.0\.0\.1:\d+$/)
        } finally {
          c.close()
        }
      }
    })
  }

  it('header and first frames in one write are not lost', async () => {
    const rng = new Prng(5)
    const { header, codec } = TestClient.header({ codec: 'intermediate', obfuscated: true }, rng)
    const p = rng.bytes(32)
    const sock = connect(ports[0]!, '127.0.0.1')
    const got: Buffer[] = []
    sock.on('data', (d: Buffer) => {
      for (const f of codec.push(d)) if (f.type === 'packet') got.push(f.payload)
    })
    sock.write(Buffer.concat([header, codec.encodePacket(p), codec.encodePacket(p)]))
    await new Promise<void>((r) => {
      const t = setInterval(() => {
        if (got.length === 2) {
          clearInterval(t)
          r()
        }
      }, 5)
    })
    sock.destroy()
    assert.deepEqual(got, [p, p])
  })

  it('a frame above maxFrameSize gets -404 through the (obfuscated) codec, then close', async () => {
    const rng = new Prng(6)
    const c = await TestClient.tcp(ports[0]!, { codec: 'abridged', obfuscated: true }, rng)
    c.send(rng.bytes(128 * 1024))
    const p = await c.nextPacket()
    assert.equal(parseTransportError(p), -404)
    await c.waitClosed()
  })

  it('full transport: bad seqno → -404 and close', async () => {
    const rng = new Prng(7)
    const c = await TestClient.tcp(ports[0]!, { codec: 'full' }, rng)
    c.send(rng.bytes(16))
    await c.nextPacket()
    const other = TestClient.header({ codec: 'full' }, rng).codec // seqno 0 again
    c.writeRaw(other.encodePacket(rng.bytes(16)))
    assert.equal(parseTransportError(await c.nextPacket()), -404)
    await c.waitClosed()
  })

  it('HTTP and garbage obfuscated inits are refused without a reply', async () => {
    for (const first of [Buffer.from('POST /api HTTP/1.1\r\n\r\n'), Buffer.alloc(64, 0x42)]) {
      const sock = connect(ports[1]!, '127.0.0.1')
      const data: Buffer[] = []
      sock.on('data', (d: Buffer) => data.push(d))
      sock.write(first)
      await new Promise<void>((r) => sock.once('close', () => r()))
      assert.equal(Buffer.concat(data).length, 0)
    }
  })
})

describe('TCP listener limits', () => {
  it('idle and handshake timeouts close the connection', async () => {
    const l = new TcpListener({ ports: [0], limits: { idleTimeoutMs: 150, headerTimeoutMs: 150 } })
    const reasons: string[] = []
    l.on('connection', (c) => c.on('close', (r) => reasons.push(r)))
    const [port] = await l.listen()
    try {
      const c = await TestClient.tcp(port!, { codec: 'intermediate' })
      c.send(Buffer.alloc(8))
      await c.waitClosed(2000)
      assert.deepEqual(reasons, ['idle timeout'])
      const silent = connect(port!, '127.0.0.1')
      await new Promise<void>((r) => silent.once('close', () => r()))
    } finally {
      await l.close()
    }
  })

  it('write backpressure pauses reading until the peer drains', async () => {
    const l = new TcpListener({ ports: [0], limits: { writeHighWaterMark: 64 * 1024, maxWriteBuffer: 64 * 1024 * 1024 } })
    let conn: Connection | undefined
    l.on('connection', (c) => {
      conn = c
      c.on('packet', () => {
        // answer a small request with 16 MiB: more than loopback socket buffers absorb while the
        // client below does not read
        const big = Buffer.alloc(256 * 1024)
        for (let i = 0; i < 64; i++) c.send(big)
      })
    })
    const [port] = await l.listen()
    const { header, codec } = TestClient.header({ codec: 'intermediate' }, new Prng(8))
    const sock = connect(port!, '127.0.0.1')
    try {
      await new Promise<void>((r) => sock.once('connect', () => r()))
      sock.pause()
      sock.write(Buffer.concat([header, codec.encodePacket(Buffer.alloc(8))]))
      for (let i = 0; i < 100 && !conn?.readPaused; i++) await new Promise((r) => setTimeout(r, 10))
      assert.equal(conn?.readPaused, true, 'reading paused while writes are pending')
      let got = 0
      sock.on('data', (d: Buffer) => {
        got += d.length
      })
      sock.resume()
      for (let i = 0; i < 200 && conn?.readPaused; i++) await new Promise((r) => setTimeout(r, 10))
      assert.equal(conn?.readPaused, false, 'reading resumed after drain')
      assert.ok(got > 0)
    } finally {
      sock.destroy()
      await l.close()
    }
  })

  it('a peer that never reads is closed once maxWriteBuffer is exceeded', async () => {
    const l = new TcpListener({ ports: [0], limits: { writeHighWaterMark: 16 * 1024, maxWriteBuffer: 512 * 1024 } })
    const reasons: string[] = []
    l.on('connection', (c) => {
      c.on('close', (r) => reasons.push(r))
      c.on('packet', () => {
        for (let i = 0; i < 400 && !c.closed; i++) c.send(Buffer.alloc(32 * 1024))
      })
    })
    const [port] = await l.listen()
    const { header, codec } = TestClient.header({ codec: 'intermediate' }, new Prng(9))
    const sock = connect(port!, '127.0.0.1')
    try {
      await new Promise<void>((r) => sock.once('connect', () => r()))
      sock.pause()
      sock.write(Buffer.concat([header, codec.encodePacket(Buffer.alloc(8))]))
      for (let i = 0; i < 200 && reasons.length === 0; i++) await new Promise((r) => setTimeout(r, 10))
      assert.deepEqual(reasons, ['write buffer overflow'])
    } finally {
      sock.destroy()
      await l.close()
    }
  })

  it('MTProxy secret with an unserved DC gets -444 through the keyed stream', async () => {
    const secret = Buffer.alloc(16, 0x5a)
    const l = new TcpListener({ ports: [0], secrets: [secret], allowPlainObfuscated: false, mtproxyDcIds: [1, 2] })
    const accepted: Connection[] = []
    l.on('connection', (c) => {
      accepted.push(c)
      c.on('packet', (p) => c.send(p))
    })
    const [port] = await l.listen()
    try {
      const ok = await TestClient.tcp(port!, { codec: 'padded', obfuscated: true, secret, dcId: -2 })
      ok.send(Buffer.alloc(16, 1))
      assert.deepEqual((await ok.nextPacket()).subarray(0, 16), Buffer.alloc(16, 1))
      assert.equal(accepted[0]!.dcId, -2)
      assert.equal(accepted[0]!.info.secretIndex, 0)
      ok.close()
      // another seed: the same init again would be refused as a replay
      const bad = await TestClient.tcp(port!, { codec: 'intermediate', obfuscated: true, secret, dcId: 5 }, new Prng(2))
      assert.equal(parseTransportError(await bad.nextPacket()), -444)
      await bad.waitClosed()
      const plain = await TestClient.tcp(port!, { codec: 'intermediate', obfuscated: true })
      await plain.waitClosed()
      assert.equal(accepted.length, 1)
    } finally {
      await l.close()
    }
  })
})

describe('WebSocket listener', () => {
  let listener: WsListener
  let port: number
  const seen: Connection[] = []
  before(async () => {
    listener = new WsListener({ port: 0, limits: { maxFrameSize: 64 * 1024 } })
    listener.on('connection', (c) => attachEcho(c, seen))
    port = await listener.listen()
  })
  after(async () => {
    await listener.close()
  })

  for (const codec of ['abridged', 'intermediate', 'padded'] as const) {
    it(`obfuscated ${codec} over /apiws: echo, quick ack, more traffic`, async () => {
      const rng = new Prng(50)
      const c = await TestClient.ws(port, { codec, obfuscated: true }, rng)
      try {
        const p1 = rng.bytes(2048)
        c.send(p1)
        assert.deepEqual(trim(codec, await c.nextPacket(), 2048), p1)
        const p2 = rng.bytes(32)
        p2.writeUInt32LE(0x80001234, 0)
        c.send(p2, true)
        assert.deepEqual(await c.frames.next(), { type: 'quickAck', token: 0x80001234 })
        assert.deepEqual(trim(codec, await c.nextPacket(), 32), p2)
        c.send(p1)
        assert.deepEqual(trim(codec, await c.nextPacket(), 2048), p1)
        assert.equal(seen[seen.length - 1]!.info.transport, 'ws')
      } finally {
        c.close()
      }
    })
  }

  it('frames split across and packed into WebSocket messages', async () => {
    const rng = new Prng(51)
    const { header, codec } = TestClient.header({ codec: 'intermediate', obfuscated: true }, rng)
    const ws = new WebSocket(`ws://127.0.0.1:${port}/apiws`, 'binary')
    await new Promise<void>((r) => ws.once('open', () => r()))
    const got: Buffer[] = []
    ws.on('message', (d: Buffer) => {
      for (const f of codec.push(d)) if (f.type === 'packet') got.push(f.payload)
    })
    const p = rng.bytes(100)
    const wire = Buffer.concat([header, codec.encodePacket(p), codec.encodePacket(p), codec.encodePacket(p)])
    ws.send(wire.subarray(0, 30))
    ws.send(wire.subarray(30, 200))
    ws.send(wire.subarray(200))
    for (let i = 0; i < 200 && got.length < 3; i++) await new Promise((r) => setTimeout(r, 5))
    ws.terminate()
    assert.deepEqual(got, [p, p, p])
  })

  it('plain (non-obfuscated) streams, other paths and missing subprotocol are refused', async () => {
    const c = await TestClient.ws(port, { codec: 'intermediate' })
    await c.waitClosed()
    for (const [path, proto] of [
      ['/other', 'binary'],
      ['/apiws', 'text'],
    ] as const) {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, proto)
      const err = await new Promise<Error>((r) => ws.once('error', r))
      assert.match(err.message, /Unexpected server response: (404|400)/)
    }
  })
})

describe('Connection robustness', () => {
  it('connections above the per-address cap are closed on arrival; the slot frees on close', async () => {
    const sources = new SourceLimiter({ maxConnectionsPerIp: 2 })
    const l = new TcpListener({ ports: [0], sources })
    l.on('connection', (c) => c.on('packet', (p) => c.send(p)))
    const [port] = await l.listen()
    try {
      const a = await TestClient.tcp(port!, { codec: 'intermediate', obfuscated: true })
      const b = await TestClient.tcp(port!, { codec: 'abridged' })
      for (const x of [a, b]) {
        x.send(Buffer.alloc(8, 1))
        await x.nextPacket()
      }
      const c = await TestClient.tcp(port!, { codec: 'intermediate', obfuscated: true })
      await c.waitClosed() // refused before anything is read
      assert.equal(sources.stats.refused.per_ip, 1)
      a.close()
      await new Promise((r) => setTimeout(r, 50))
      const d = await TestClient.tcp(port!, { codec: 'padded' })
      d.send(Buffer.alloc(8, 2))
      assert.deepEqual((await d.nextPacket()).subarray(0, 8), Buffer.alloc(8, 2))
      b.close()
      d.close()
    } finally {
      await l.close()
    }
  })

  it('pause() holds packets (even from one read chunk) until resume()', async () => {
    const l = new TcpListener({ ports: [0] })
    const got: number[] = []
    let conn: Connection | undefined
    l.on('connection', (c) => {
      conn = c
      c.on('packet', (p) => {
        got.push(p.readUInt32LE(0))
        if (got.length === 1) c.pause()
      })
    })
    const [port] = await l.listen()
    const { header, codec } = TestClient.header({ codec: 'abridged' }, new Prng(80))
    const sock = connect(port!, '127.0.0.1')
    try {
      const frames = [1, 2, 3].map((i) => {
        const b = Buffer.alloc(8)
        b.writeUInt32LE(i, 0)
        return codec.encodePacket(b)
      })
      sock.write(Buffer.concat([header, ...frames]))
      for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 5))
      await new Promise((r) => setTimeout(r, 50))
      assert.deepEqual(got, [1])
      conn!.resume()
      assert.deepEqual(got, [1, 2, 3])
    } finally {
      sock.destroy()
      await l.close()
    }
  })

  it('a throwing packet handler closes that connection, not the process', async () => {
    const l = new TcpListener({ ports: [0] })
    l.on('connection', (c) =>
      c.on('packet', () => {
        throw new Error('boom')
      }),
    )
    const [port] = await l.listen()
    try {
      const c = await TestClient.tcp(port!, { codec: 'intermediate' })
      c.send(Buffer.alloc(8))
      await c.waitClosed()
      const d = await TestClient.tcp(port!, { codec: 'intermediate' })
      d.close()
    } finally {
      await l.close()
    }
  })

  it('a text message on the WebSocket closes the connection', async () => {
    const l = new WsListener({ port: 0 })
    const reasons: string[] = []
    l.on('connection', (c) => c.on('close', (r) => reasons.push(r)))
    const port = await l.listen()
    try {
      const { header } = TestClient.header({ codec: 'intermediate', obfuscated: true }, new Prng(81))
      const ws = new WebSocket(`ws://127.0.0.1:${port}/apiws`, 'binary')
      await new Promise<void>((r) => ws.once('open', () => r()))
      ws.send(header)
      await new Promise((r) => setTimeout(r, 30))
      ws.send('hello')
      await new Promise<void>((r) => ws.once('close', () => r()))
      for (let i = 0; i < 100 && reasons.length === 0; i++) await new Promise((r) => setTimeout(r, 5))
      assert.equal(reasons.length, 1)
    } finally {
      await l.close()
    }
  })

  it('sendQuickAck on the full transport is a logged no-op', async () => {
    const l = new TcpListener({ ports: [0] })
    const results: boolean[] = []
    l.on('connection', (c) =>
      c.on('packet', (p) => {
        results.push(c.sendQuickAck(0x80000001))
        c.send(p)
      }),
    )
    const [port] = await l.listen()
    try {
      const c = await TestClient.tcp(port!, { codec: 'full' })
      c.send(Buffer.alloc(8, 7))
      assert.deepEqual(await c.nextPacket(), Buffer.alloc(8, 7))
      assert.deepEqual(results, [false])
      c.close()
    } finally {
      await l.close()
    }
  })
})
