import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { gzipSync } from 'node:zlib'
import { parseArgs, UsageError } from '../../../src/cli/args.js'
import { FramePrinter } from '../../../src/cli/decode/print.js'
import { frameConnection } from '../../../src/cli/decode/stream.js'
import { AuthKey, sealMessage } from '../../../src/crypto/message.js'
import { buildContainer, buildRpcResult } from '../../../src/session/envelope.js'
import { encode, TlWriter } from '../../../src/tl/index.js'
import { createCodec } from '../../../src/transport/create-codec.js'
import { acceptObfuscatedInit, createObfuscatedClient } from '../../../src/transport/obfuscated.js'

const key = new AuthKey(Buffer.alloc(256, 9))
const base = { salt: 5n, sessionId: 6n, seqNo: 1 }

function gzipPacked(body: Buffer): Buffer {
  const w = new TlWriter(undefined, 64)
  w.int(0x3072cfa1)
  w.bytes(gzipSync(body))
  return Buffer.from(w.finish())
}

describe('decode: frames and records', () => {
  it('containers, gzip_packed, rpc_result by its query, unknown constructors as hex, unencrypted handshake objects', () => {
    const unknown = Buffer.from('efbeadde01000000', 'hex')
    const query = encode({ _: 'invokeWithLayer', layer: 222, query: { _: 'help.getNearestDc' } } as never)
    const up = buildContainer([
      { msgId: 100n, seqNo: 1, body: query },
      { msgId: 104n, seqNo: 3, body: gzipPacked(encode({ _: 'ping', ping_id: 7n })) },
      { msgId: 108n, seqNo: 5, body: unknown },
    ])
    const nearest = encode({ _: 'nearestDc', country: 'NL', this_dc: 2, nearest_dc: 4 } as never)
    const down = buildRpcResult(100n, gzipPacked(nearest))
    const reqPq = Buffer.alloc(20 + 20)
    reqPq.writeBigInt64LE(0x70n, 8)
    reqPq.writeInt32LE(20, 16)
    encode({ _: 'req_pq_multi', nonce: Buffer.alloc(16, 1) } as never).copy(reqPq, 20)

    const o = createObfuscatedClient({ codec: 'abridged', maxFrameSize: 1 << 20 })
    const toServer = Buffer.concat([o.init, o.codec.encodePacket(reqPq), o.codec.encodePacket(sealMessage(key, { ...base, msgId: 112n, body: up }, 'client'), true)])
    // what the server sends, through the server's side of the same init
    const server = acceptObfuscatedInit(o.init, { codec: { maxFrameSize: 1 << 20 } }).codec
    const toClient = Buffer.concat([server.encodeQuickAck(0x12345678)!, server.encodePacket(sealMessage(key, { ...base, msgId: 113n, body: down }, 'server'))])

    const conn = frameConnection([{ time: NaN, data: toServer }], [{ time: NaN, data: toClient }])
    assert.deepEqual([conn.transport, conn.obfuscated, conn.warnings], ['abridged', true, []])
    const printer = new FramePrinter(conn, { key: (id) => (id === key.id ? key : undefined) })
    const recs = conn.frames.map((f) => printer.record(f)) as Record<string, any>[] // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.deepEqual(recs[0]!.body, { _: 'req_pq_multi', nonce: '01'.repeat(16) })
    assert.equal(recs[0]!.auth_key_id, '0')
    assert.equal(recs[0]!.msg_id, '112')
    assert.equal(recs[1]!.quick_ack, true)
    const inner = recs[1]!.body.messages
    assert.deepEqual(inner[0].body, { _: 'invokeWithLayer', layer: 222, query: { _: 'help.getNearestDc' } })
    assert.deepEqual(inner[1].body, { _: 'gzip_packed', body: { _: 'ping', ping_id: '7' } })
    assert.equal(inner[2].body._, 'undecoded')
    assert.equal(inner[2].body.id, '0xdeadbeef')
    assert.equal(inner[2].body.hex, 'efbeadde01000000')
    assert.deepEqual(recs[2], { from: 'server', transport: 'abridged', obfuscated: true, quick_ack_token: '0x92345678' })
    assert.deepEqual(recs[3]!.body, {
      _: 'rpc_result',
      req_msg_id: '100',
      result: { _: 'gzip_packed', body: { _: 'nearestDc', country: 'NL', this_dc: 2, nearest_dc: 4 } },
    })
  })

  it('full transport: unencrypted objects, a transport error, a frame the key does not open', () => {
    const reqPq = Buffer.alloc(40)
    reqPq.writeBigInt64LE(0x74n, 8)
    reqPq.writeInt32LE(20, 16)
    encode({ _: 'req_pq_multi', nonce: Buffer.alloc(16, 2) } as never).copy(reqPq, 20)
    const client = createCodec('full', { side: 'client', maxFrameSize: 1 << 20 })
    const other = new AuthKey(Buffer.alloc(256, 3))
    const toServer = Buffer.concat([client.encodePacket(reqPq), client.encodePacket(sealMessage(other, { ...base, msgId: 0x78n, body: encode({ _: 'ping', ping_id: 1n }) }, 'client'))])
    const toClient = createCodec('full', { side: 'server', maxFrameSize: 1 << 20 }).encodeTransportError(-404)
    const conn = frameConnection([{ time: NaN, data: toServer }], [{ time: NaN, data: toClient }])
    assert.deepEqual([conn.transport, conn.obfuscated, conn.warnings], ['full', false, []])
    const recs = conn.frames.map((f) => new FramePrinter(conn, { key: () => key }).record(f)) as Record<string, any>[] // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.deepEqual(recs[0]!.body, { _: 'req_pq_multi', nonce: '02'.repeat(16) })
    assert.equal(recs[1]!.auth_key_id, other.id.toString())
    assert.match(recs[1]!.error, /^auth_key_id: /)
    assert.deepEqual(recs[2], { from: 'server', transport: 'full', obfuscated: false, length: 4, quick_ack: false, transport_error: -404 })
  })

  it('obfuscated2 keyed by an MTProxy secret: read with the secret, refused without it', () => {
    const secret = Buffer.alloc(16, 0x5a)
    const o = createObfuscatedClient({ codec: 'padded', maxFrameSize: 1 << 20, secret })
    const ping = sealMessage(key, { ...base, msgId: 0x7cn, body: encode({ _: 'ping', ping_id: 3n }) }, 'client')
    const server = acceptObfuscatedInit(o.init, { codec: { maxFrameSize: 1 << 20 }, secrets: [secret], allowPlain: false }).codec
    const pong = sealMessage(key, { ...base, msgId: 0x7dn, body: encode({ _: 'pong', msg_id: 0x7cn, ping_id: 3n }) }, 'server')
    const toServer = [{ time: NaN, data: Buffer.concat([o.init, o.codec.encodePacket(ping)]) }]
    const toClient = [{ time: NaN, data: server.encodePacket(pong) }]
    const conn = frameConnection(toServer, toClient, [secret])
    assert.deepEqual([conn.transport, conn.obfuscated, conn.warnings], ['padded', true, []])
    const printer = new FramePrinter(conn, { key: () => key })
    assert.deepEqual(
      conn.frames.map((f) => printer.record(f).body),
      [
        { _: 'ping', ping_id: '3' },
        { _: 'pong', msg_id: '124', ping_id: '3' },
      ],
    )
    assert.throws(() => frameConnection(toServer, toClient), /no key yields a known protocol tag/)
  })

  it('decode options parse; a missing file or key source is a usage error', () => {
    assert.deepEqual(parseArgs(['decode', '--key', 'ab', '--server', 's.bin', '--layer', '214', 'c.bin']), {
      command: 'decode',
      bits: 2048,
      decode: { key: 'ab', server: 's.bin', layer: 214, file: 'c.bin' },
    })
    assert.deepEqual(parseArgs(['decode', 'x.pcap', '--data-dir=d', '--secret', 'dd00']).decode, { file: 'x.pcap', dataDir: 'd', secret: 'dd00' })
    for (const argv of [['decode', '--key', 'ab'], ['decode', 'f'], ['decode', '--key', 'a', '--key-file', 'b', 'f'], ['decode', '--key', 'a', 'f', 'g'], ['serve', '--key', 'a'], ['decode', '--layer', 'x', '--key', 'a', 'f']]) {
      assert.throws(() => parseArgs(argv), UsageError, argv.join(' '))
    }
  })
})
