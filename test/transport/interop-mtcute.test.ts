/**
 * Interop with mtcute 0.30 (@mtcute/core): its intermediate, padded-intermediate and obfuscated
 * packet codecs, unmodified, against our codecs in memory and against our TCP and WebSocket
 * listeners over real sockets (mtcute's own WebSocket transport lives in @mtcute/web, which is not
 * installed; we drive its obfuscated codec over a `ws` client the same way it does: subprotocol
 * `binary`, path /apiws). mtcute never requests quick acks.
 */
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { Bytes, write } from '@fuman/io'
import {
  IntermediatePacketCodec,
  ObfuscatedPacketCodec,
  PaddedIntermediatePacketCodec,
  TransportError,
  type IPacketCodec,
} from '@mtcute/core'
import { NodeCryptoProvider } from '@mtcute/node/utils.js'
import { WebSocket } from 'ws'
import { TRANSPORT_ERROR } from '../../src/transport/errors.js'
import { acceptObfuscatedInit } from '../../src/transport/obfuscated.js'
import { createCodec } from '../../src/transport/create-codec.js'
import { TcpListener } from '../../src/transport/tcp-listener.js'
import { WsListener } from '../../src/transport/ws-listener.js'
import type { Connection } from '../../src/transport/connection.js'
import { Prng, splitRandom } from './helpers.js'

const crypto = new NodeCryptoProvider()
const noopLog = {
  create: () => noopLog,
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  verbose: () => {},
  request: () => {},
} as never

type Kind = 'intermediate' | 'padded' | 'obf-intermediate' | 'obf-padded'

function mtcuteCodec(kind: Kind, proxySecret?: Uint8Array): IPacketCodec {
  const inner = kind.endsWith('padded') ? new PaddedIntermediatePacketCodec() : new IntermediatePacketCodec()
  const codec: IPacketCodec = kind.startsWith('obf')
    ? new ObfuscatedPacketCodec(inner, proxySecret ? { dcId: 2, media: false, test: false, secret: proxySecret } : undefined)
    : inner
  codec.setup?.(crypto, noopLog)
  return codec
}

async function encode(codec: IPacketCodec, p: Uint8Array): Promise<Buffer> {
  const b = Bytes.alloc(p.length + 32)
  await codec.encode(p, b)
  return Buffer.from(b.result())
}

/** Drains every complete frame mtcute can decode from its read buffer. */
async function decodeAll(codec: IPacketCodec, rd: Bytes): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for (;;) {
    const f = await codec.decode(rd, false)
    if (f === null) return out
    out.push(f)
    // obfuscated codec moves bytes into its own buffer: call again with nothing new
  }
}

function prefixEq(kind: Kind, got: Uint8Array, want: Uint8Array): void {
  if (kind.endsWith('padded')) {
    assert.ok(got.length >= want.length && got.length <= want.length + 15)
    assert.deepEqual(Buffer.from(got.subarray(0, want.length)), Buffer.from(want))
  } else assert.deepEqual(Buffer.from(got), Buffer.from(want))
}

before(async () => {
  await crypto.initialize()
})

describe('mtcute codecs in memory', () => {
  for (const kind of ['intermediate', 'padded', 'obf-intermediate', 'obf-padded'] as Kind[]) {
    it(`${kind}: their frames decode in ours and ours in theirs, at random boundaries`, async () => {
      const rng = new Prng(70)
      const theirs = mtcuteCodec(kind)
      const tag = Buffer.from(await theirs.tag())
      const ours = kind.startsWith('obf')
        ? acceptObfuscatedInit(tag, { codec: { maxFrameSize: 1 << 20 } }).codec
        : createCodec(kind as 'intermediate' | 'padded', { side: 'server', maxFrameSize: 1 << 20 })
      // (a 4-byte packet is a transport error to mtcute, so payloads start at 8 bytes)
      const msgs = [8, 64, 1024, 8192, 100000].map((n) => rng.bytes(n))
      const wire = Buffer.concat(await Promise.all(msgs.map((m) => encode(theirs, m))))
      const frames = []
      for (const c of splitRandom(wire, rng, 300)) frames.push(...ours.push(c))
      assert.equal(frames.length, msgs.length)
      frames.forEach((f, i) => {
        assert.equal(f.type, 'packet')
        if (f.type === 'packet') prefixEq(kind, f.payload, msgs[i]!)
      })
      const back = Buffer.concat(msgs.map((m) => ours.encodePacket(m)))
      const rd = Bytes.alloc()
      const got: Uint8Array[] = []
      for (const c of splitRandom(back, rng, 500)) {
        write.bytes(rd, c)
        got.push(...(await decodeAll(theirs, rd)))
      }
      assert.equal(got.length, msgs.length)
      got.forEach((g, i) => prefixEq(kind, g, msgs[i]!))
    })
  }

  it('our transport errors raise mtcute TransportError(404/429/444), also through obfuscation', async () => {
    for (const kind of ['intermediate', 'padded', 'obf-padded'] as Kind[]) {
      for (const code of [TRANSPORT_ERROR.AUTH_KEY_NOT_FOUND, TRANSPORT_ERROR.FLOOD, TRANSPORT_ERROR.INVALID_DC]) {
        const theirs = mtcuteCodec(kind)
        const tag = Buffer.from(await theirs.tag())
        const ours = kind.startsWith('obf')
          ? acceptObfuscatedInit(tag, { codec: { maxFrameSize: 1 << 20 } }).codec
          : createCodec(kind as 'intermediate' | 'padded', { side: 'server', maxFrameSize: 1 << 20 })
        const rd = Bytes.alloc()
        write.bytes(rd, ours.encodeTransportError(code))
        await assert.rejects(
          async () => decodeAll(theirs, rd),
          (e: unknown) => e instanceof TransportError && e.code === -code,
        )
      }
    }
  })

  it('MTProxy-keyed obfuscated codec (secret + DC id) is accepted with its DC', async () => {
    const secret = new Prng(71).bytes(16)
    const theirs = mtcuteCodec('obf-padded', secret)
    const tag = Buffer.from(await theirs.tag())
    const acc = acceptObfuscatedInit(tag, { codec: { maxFrameSize: 1 << 20 }, secrets: [secret], allowPlain: false })
    assert.equal(acc.dcId, 2)
    assert.equal(acc.secretIndex, 0)
    const p = new Prng(72).bytes(256)
    const f = acc.codec.push(await encode(theirs, p))
    assert.equal(f.length, 1)
  })
})

describe('mtcute codecs against our listeners', () => {
  let tcp: TcpListener
  let ws: WsListener
  let tcpPort: number
  let wsPort: number
  const seen: Connection[] = []
  before(async () => {
    tcp = new TcpListener({ ports: [0] })
    ws = new WsListener({ port: 0 })
    for (const l of [tcp, ws]) {
      l.on('connection', (c) => {
        seen.push(c)
        // the first word of each test payload is its real length: strip the client's padding
        c.on('packet', (p) => c.send(p.subarray(0, p.readUInt32LE(0))))
      })
    }
    ;[tcpPort] = (await tcp.listen()) as [number]
    wsPort = await ws.listen()
  })
  after(async () => {
    await tcp.close()
    await ws.close()
  })

  async function roundTrip(kind: Kind, transport: 'tcp' | 'ws'): Promise<void> {
    const rng = new Prng(73)
    const codec = mtcuteCodec(kind)
    const tag = Buffer.from(await codec.tag())
    const rd = Bytes.alloc()
    const got: Uint8Array[] = []
    let waiter: (() => void) | null = null
    const onData = async (d: Buffer) => {
      write.bytes(rd, d)
      got.push(...(await decodeAll(codec, rd)))
      waiter?.()
    }
    let send: (b: Buffer) => void
    let close: () => void
    if (transport === 'tcp') {
      const s = connect(tcpPort, '127.0.0.1')
      await new Promise<void>((r) => s.once('connect', () => r()))
      s.on('data', (d: Buffer) => void onData(d))
      send = (b) => s.write(b)
      close = () => s.destroy()
    } else {
      const w = new WebSocket(`ws://127.0.0.1:${wsPort}/apiws`, 'binary')
      await new Promise<void>((r) => w.once('open', () => r()))
      w.on('message', (d: Buffer) => void onData(d))
      send = (b) => w.send(b)
      close = () => w.terminate()
    }
    try {
      send(tag)
      const msgs = [16, 1024, 20000].map((n) => {
        const m = rng.bytes(n)
        m.writeUInt32LE(n, 0)
        return m
      })
      for (const m of msgs) send(await encode(codec, m))
      while (got.length < msgs.length) {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('timeout')), 3000)
          waiter = () => {
            clearTimeout(t)
            resolve()
          }
        })
      }
      got.forEach((g, i) => prefixEq(kind, g, msgs[i]!))
      assert.equal(seen.at(-1)!.info.transport, transport)
    } finally {
      close()
    }
  }

  for (const kind of ['intermediate', 'padded', 'obf-intermediate', 'obf-padded'] as Kind[]) {
    it(`${kind} over TCP`, () => roundTrip(kind, 'tcp'))
  }
  for (const kind of ['obf-intermediate', 'obf-padded'] as Kind[]) {
    it(`${kind} over WebSocket`, () => roundTrip(kind, 'ws'))
  }
})
