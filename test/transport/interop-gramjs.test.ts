/**
 * Interop with GramJS (npm `telegram` 2.26): its own Connection/codec classes, unmodified,
 * talk to our listeners over real sockets, and its packet codecs read our frames in memory.
 * GramJS never requests quick acks (its abridged reader would misread a token), so quick-ack
 * interop is covered by the mtcute-free tests in connection.test.ts.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Logger, PromisedNetSockets, PromisedWebSockets } from 'telegram/extensions/index.js'
import { ConnectionTCPAbridged, ConnectionTCPFull, ConnectionTCPObfuscated } from 'telegram/network/index.js'
import { ConnectionTCPMTProxyAbridged } from 'telegram/network/connection/TCPMTProxy.js'
import { AbridgedPacketCodec } from 'telegram/network/connection/TCPAbridged.js'
import { FullPacketCodec } from 'telegram/network/connection/TCPFull.js'
import { LogLevel } from 'telegram/extensions/Logger.js'
import type { Connection } from '../../src/transport/connection.js'
import { createCodec } from '../../src/transport/create-codec.js'
import { TcpListener } from '../../src/transport/tcp-listener.js'
import { WsListener } from '../../src/transport/ws-listener.js'
import { Prng } from './helpers.js'

interface GramConnection {
  connect(): Promise<void>
  send(data: Buffer): Promise<void>
  recv(): Promise<Buffer>
  disconnect(): Promise<void>
}
type GramConnectionClass = new (opts: Record<string, unknown>) => GramConnection

/** The server answers every packet with its bytes reversed in 4-byte words (proves a round trip). */
function reverseWords(p: Buffer): Buffer {
  const out = Buffer.allocUnsafe(p.length)
  const n = p.length / 4
  for (let i = 0; i < n; i++) p.copy(out, (n - 1 - i) * 4, i * 4, i * 4 + 4)
  return out
}

const SIZES = [4, 16, 256, 504, 508, 512, 2048, 40000]

async function exercise(Cls: GramConnectionClass, opts: Record<string, unknown>, rng: Prng): Promise<void> {
  const conn = new Cls({ ip: '127.0.0.1', dcId: 2, loggers: new Logger(LogLevel.NONE), testServers: false, ...opts })
  await conn.connect()
  try {
    for (const n of SIZES) {
      const p = rng.bytes(n)
      await conn.send(p)
      assert.deepEqual(await conn.recv(), reverseWords(p), `size ${n}`)
    }
  } finally {
    await conn.disconnect()
  }
}

describe('GramJS connections against our listeners', () => {
  let tcp: TcpListener
  let ws: WsListener
  let tcpPort: number
  let wsPort: number
  const seen: Connection[] = []
  const secret = Buffer.from('0123456789abcdef0123456789abcdef', 'hex')

  before(async () => {
    tcp = new TcpListener({ ports: [0], secrets: [secret] })
    ws = new WsListener({ port: 0 })
    for (const l of [tcp, ws]) {
      l.on('connection', (c) => {
        seen.push(c)
        c.on('packet', (p) => c.send(reverseWords(p)))
      })
    }
    ;[tcpPort] = (await tcp.listen()) as [number]
    wsPort = await ws.listen()
  })
  after(async () => {
    await tcp.close()
    await ws.close()
  })

  it('ConnectionTCPAbridged', async () => {
    await exercise(ConnectionTCPAbridged as unknown as GramConnectionClass, { port: tcpPort, socket: PromisedNetSockets }, new Prng(60))
    assert.equal(seen.at(-1)!.codecName, 'abridged')
  })

  it('ConnectionTCPFull (seqno and CRC checked both ways)', async () => {
    await exercise(ConnectionTCPFull as unknown as GramConnectionClass, { port: tcpPort, socket: PromisedNetSockets }, new Prng(61))
    assert.equal(seen.at(-1)!.codecName, 'full')
  })

  it('ConnectionTCPObfuscated', async () => {
    await exercise(ConnectionTCPObfuscated as unknown as GramConnectionClass, { port: tcpPort, socket: PromisedNetSockets }, new Prng(62))
    assert.equal(seen.at(-1)!.codecName, 'abridged')
    assert.equal(seen.at(-1)!.info.obfuscated, true)
  })

  it('ConnectionTCPMTProxyAbridged with a 0xdd-prefixed secret', async () => {
    await exercise(
      ConnectionTCPMTProxyAbridged as unknown as GramConnectionClass,
      {
        port: tcpPort,
        socket: PromisedNetSockets,
        proxy: { ip: '127.0.0.1', port: tcpPort, MTProxy: true, secret: 'dd' + secret.toString('hex') },
      },
      new Prng(63),
    )
    const c = seen.at(-1)!
    assert.equal(c.info.secretIndex, 0)
    assert.equal(c.dcId, 2) // GramJS writes the DC as int8 at offset 60
  })

  it('ConnectionTCPObfuscated over PromisedWebSockets (/apiws, subprotocol binary)', async () => {
    await exercise(ConnectionTCPObfuscated as unknown as GramConnectionClass, { port: wsPort, socket: PromisedWebSockets }, new Prng(64))
    assert.equal(seen.at(-1)!.info.transport, 'ws')
  })
})

describe('GramJS reads our transport errors', () => {
  for (const [label, Cls] of [
    ['abridged', ConnectionTCPAbridged],
    ['obfuscated', ConnectionTCPObfuscated],
    ['full', ConnectionTCPFull],
  ] as const) {
    it(`${label}: -404 arrives as the 4-byte int32 LE packet, then the server closes`, async () => {
      const l = new TcpListener({ ports: [0] })
      l.on('connection', (c) => c.on('packet', () => c.close('test', -404)))
      const [port] = (await l.listen()) as [number]
      const conn = new (Cls as unknown as GramConnectionClass)({
        ip: '127.0.0.1',
        port,
        dcId: 2,
        loggers: new Logger(LogLevel.NONE),
        socket: PromisedNetSockets,
        testServers: false,
      })
      try {
        await conn.connect()
        await conn.send(Buffer.alloc(16))
        const got = await conn.recv()
        assert.equal(got.length, 4)
        assert.equal(got.readInt32LE(0), -404)
      } finally {
        await conn.disconnect()
        await l.close()
      }
    })
  }
})

/** GramJS readers pull exact byte counts; serve them from a buffer. */
function reader(buf: Buffer) {
  let off = 0
  const read = async (n: number) => {
    const out = buf.subarray(off, off + n)
    off += n
    return out
  }
  return { read, readExactly: read }
}

describe('GramJS packet codecs in memory', () => {
  it('abridged: their frames decode in ours, ours in theirs (short and 0x7f headers)', async () => {
    const rng = new Prng(65)
    const theirs = new AbridgedPacketCodec(undefined as never)
    const server = createCodec('abridged', { side: 'server', maxFrameSize: 1 << 20 })
    for (const n of [4, 504, 508, 4096, 65536]) {
      const p = rng.bytes(n)
      const frames = server.push(theirs.encodePacket(p))
      assert.deepEqual(frames, [{ type: 'packet', payload: p, quickAck: false }])
      assert.deepEqual(await theirs.readPacket(reader(server.encodePacket(p)) as never), p)
    }
  })

  it('full: seqnos advance in step on both sides', async () => {
    const rng = new Prng(66)
    const theirs = new FullPacketCodec(undefined as never)
    const server = createCodec('full', { side: 'server', maxFrameSize: 1 << 20 })
    for (let i = 0; i < 5; i++) {
      const p = rng.bytes(4 * (1 + rng.int(300)))
      assert.deepEqual(server.push(theirs.encodePacket(p)), [{ type: 'packet', payload: p, quickAck: false }])
      assert.deepEqual(await theirs.readPacket(reader(server.encodePacket(p)) as never), p)
    }
  })
})
