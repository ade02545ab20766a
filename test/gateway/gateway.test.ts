/**
 * The gateway's unencrypted path over a real TCP connection with our own codecs: message checks
 * (length, msg_id, oversized, non-handshake methods), our spec client end to end, and the
 * encrypted path reaching the injected handler.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { clientHandshake } from '../../src/handshake/client.js'
import { serialize } from '../../src/handshake/messages.js'
import { startTestServer, PlainTcpClient, TransportErrorPacket, type TestServer } from '../helpers/clients.js'

let server: TestServer

before(async () => {
  server = await startTestServer()
})
after(async () => {
  await server.close()
})

const connect = (codec: 'intermediate' | 'abridged' | 'padded' = 'intermediate') => PlainTcpClient.connect(server.host, server.port, codec)

function message(msgId: bigint, body: Buffer, declaredLength = body.length): Buffer {
  const m = Buffer.alloc(20 + body.length)
  m.writeBigInt64LE(msgId, 8)
  m.writeUInt32LE(declaredLength, 16)
  body.copy(m, 20)
  return m
}

async function expectError(c: PlainTcpClient, code: number): Promise<void> {
  const p = await c.nextPacket()
  assert.equal(p.length, 4, `expected a transport error, got ${p.length} bytes`)
  assert.equal(p.readInt32LE(0), code)
}

test('our spec client over intermediate and padded intermediate: key stored, used on the encrypted path', async () => {
  for (const codec of ['intermediate', 'padded'] as const) {
    const c = await connect(codec)
    try {
      const res = await clientHandshake(c, { publicKeys: [server.key.publicKey], dcId: server.dcId })
      assert.deepEqual((await server.store.get(res.authKeyId))?.key, res.authKey)
      // An encrypted packet with the new auth_key_id reaches onEncrypted.
      const enc = Buffer.alloc(64)
      enc.writeBigInt64LE(res.authKeyId, 0)
      c.sendRaw(enc)
      assert.equal(await server.waitEncrypted((id) => id === res.authKeyId, 5000), res.authKeyId)
    } finally {
      c.close()
    }
  }
})

test('server msg_ids of unencrypted answers are odd-by-one (≡ 1 mod 4) and increase', async () => {
  const c = await connect()
  try {
    const ids: bigint[] = []
    for (let i = 0; i < 2; i++) {
      c.sendRaw(message(c.nextMsgId(), serialize({ _: 'req_pq_multi', nonce: Buffer.alloc(16, i + 1) })))
      const p = await c.nextPacket()
      ids.push(p.readBigInt64LE(8))
    }
    for (const id of ids) assert.equal(id % 4n, 1n)
    assert.ok(ids[1]! > ids[0]!)
  } finally {
    c.close()
  }
})

test('oversized unencrypted message → -404', async () => {
  const c = await connect()
  c.sendRaw(message(c.nextMsgId(), Buffer.alloc(2048)))
  await expectError(c, -404)
  c.close()
})

test('declared length larger than the packet → -404', async () => {
  const c = await connect()
  c.sendRaw(message(c.nextMsgId(), serialize({ _: 'req_pq_multi', nonce: Buffer.alloc(16) }), 400))
  await expectError(c, -404)
  c.close()
})

test('msg_id not divisible by 4 → -404', async () => {
  const c = await connect()
  c.sendRaw(message(c.nextMsgId() + 1n, serialize({ _: 'req_pq_multi', nonce: Buffer.alloc(16) })))
  await expectError(c, -404)
  c.close()
})

test("Telegram Desktop's exchange with a fast clock: set_client_DH_params's msg_id rebased below req_DH_params's, 252 bytes of padding inside message_data", async () => {
  const c = await connect()
  try {
    let n = 0
    const first = c.nextMsgId()
    const rpc = {
      async call(body: Buffer): Promise<Buffer> {
        // the third message (set_client_DH_params) after lib_base's unixtime::update moved the base back 5 s
        const msgId = n++ < 2 ? first + BigInt(n * 4) : first - (5n << 32n)
        c.sendRaw(message(msgId, Buffer.concat([body, Buffer.alloc(252, 3)])))
        const ans = await c.nextPacket()
        if (ans.length === 4) throw new TransportErrorPacket(ans.readInt32LE(0))
        return ans.subarray(20, 20 + ans.readUInt32LE(16))
      },
    }
    const res = await clientHandshake(rpc, { publicKeys: [server.key.publicKey], dcId: 2 })
    assert.equal(n, 3)
    assert.deepEqual((await server.store.get(res.authKeyId))?.key, res.authKey)
  } finally {
    c.close()
  }
})

test("TDLib's connection: pings with msg_id 1, then the exchange with msg_id 0 and padding inside message_data (td/mtproto/NoCryptoStorer.h)", async () => {
  const c = await connect()
  try {
    for (const n of [1, 2]) {
      c.sendRaw(message(1n, serialize({ _: 'req_pq_multi', nonce: Buffer.alloc(16, n) })))
      assert.equal((await c.nextPacket()).readUInt32LE(20), 0x05162463, 'resPQ to the ping')
    }
    const rpc = {
      async call(body: Buffer): Promise<Buffer> {
        const pad = (-body.length & 15) + 16 * 15 // the most TDLib adds
        c.sendRaw(message(0n, Buffer.concat([body, Buffer.alloc(pad, 7)])))
        const ans = await c.nextPacket()
        if (ans.length === 4) throw new TransportErrorPacket(ans.readInt32LE(0))
        return ans.subarray(20, 20 + ans.readUInt32LE(16))
      },
    }
    const res = await clientHandshake(rpc, { publicKeys: [server.key.publicKey], dcId: 2 })
    assert.deepEqual((await server.store.get(res.authKeyId))?.key, res.authKey)
  } finally {
    c.close()
  }
})

test('a non-handshake method or garbage in an unencrypted message → -404', async () => {
  const c = await connect()
  const ping = Buffer.alloc(12)
  ping.writeUInt32LE(0x7abe77ec, 0) // ping#7abe77ec ping_id:long
  c.sendRaw(message(c.nextMsgId(), ping))
  await expectError(c, -404)
  c.close()
  const d = await connect()
  d.sendRaw(message(d.nextMsgId(), Buffer.from([1, 2, 3, 4, 5, 6, 7, 8])))
  await expectError(d, -404)
  d.close()
})

test('the log line of a rejected unencrypted message says what the client sent: constructor, lengths, framing', async () => {
  const lines: Array<Record<string, unknown>> = []
  const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) })
  const s = await startTestServer({ host: '127.0.0.4', log })
  try {
    const c = await PlainTcpClient.connect(s.host, s.port, 'padded')
    c.sendRaw(message(c.nextMsgId(), Buffer.from('ec77be7a0100000000000000', 'hex'))) // ping
    await expectError(c, -404)
    c.close()
    const line = lines.find((l) => l.msg === 'unencrypted message rejected')
    assert.ok(line, `logged: ${JSON.stringify(lines)}`)
    assert.equal(line.reason, 'not_a_handshake_method')
    assert.equal(line.tlName, 'ping')
    assert.equal(line.constructorId, '7abe77ec')
    assert.equal(line.bodyLength, 12)
    assert.equal(line.codec, 'padded')
    assert.equal(line.obfuscated, false)
    assert.equal(typeof line.packetLength, 'number')
  } finally {
    await s.close()
  }
})

test('an unknown auth_key_id on the encrypted path → -404 (test handler)', async () => {
  const c = await connect()
  const enc = Buffer.alloc(64)
  enc.writeBigInt64LE(0x1234567n, 0)
  c.sendRaw(enc)
  await expectError(c, -404)
  c.close()
})

test('flood of handshakes from one address prefix → -429', async () => {
  const s = await startTestServer({ host: '127.0.0.3', handshake: { rate: { perSecondPerPrefix: 0.001, burstPerPrefix: 2 } } })
  const cs: PlainTcpClient[] = []
  try {
    for (let i = 0; i < 2; i++) {
      const c = await PlainTcpClient.connect(s.host, s.port)
      cs.push(c)
      await c.call(serialize({ _: 'req_pq_multi', nonce: Buffer.alloc(16, i) }))
    }
    const c = await PlainTcpClient.connect(s.host, s.port)
    cs.push(c)
    await assert.rejects(c.call(serialize({ _: 'req_pq_multi', nonce: Buffer.alloc(16, 9) })), (e: unknown) => e instanceof TransportErrorPacket && e.code === -429)
  } finally {
    for (const c of cs) c.close()
    await s.close()
  }
})

test('the bench load generator (fast client mode) completes real handshakes: one stored key each', async () => {
  const { dhPublic } = await import('../../src/handshake/dh-engine.js')
  const { randomBytes } = await import('node:crypto')
  const b = randomBytes(256)
  const fast = { b, gB: dhPublic(b) }
  const stored: bigint[] = []
  const s = await startTestServer({ host: '127.0.0.4' })
  const origPut = s.store.put.bind(s.store)
  s.store.put = async (r) => {
    stored.push(r.id)
    return origPut(r)
  }
  try {
    for (let i = 0; i < 3; i++) {
      const c = await PlainTcpClient.connect(s.host, s.port)
      try {
        const res = await clientHandshake(c, { publicKeys: [s.key.publicKey], dcId: s.dcId, fast })
        assert.equal(typeof res.serverSalt, 'bigint')
      } finally {
        c.close()
      }
    }
    assert.equal(stored.length, 3)
    for (const id of stored) assert.ok(await s.store.get(id))
  } finally {
    await s.close()
  }
})
