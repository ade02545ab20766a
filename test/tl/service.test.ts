import { test } from 'node:test'
import assert from 'node:assert/strict'
import { gzipSync } from 'node:zlib'
import {
  TlError,
  TlWriter,
  encode,
  decode,
  decodeMsgContainer,
  encodeMsgContainer,
  decodeRpcResult,
  encodeRpcResult,
  decodeGzipPacked,
  encodeGzipPacked,
  unwrapGzip,
  peekId,
  ID_MSG_CONTAINER,
  ID_RPC_RESULT,
  ID_GZIP_PACKED,
  MAX_CONTAINER_MESSAGES,
} from '../../src/tl/index.js'

const code = (c: string) => (e: unknown) => e instanceof TlError && e.code === c

test('msg_container: messages with msg_id, seqno, bytes and body round-trip', () => {
  const ping = encode({ _: 'ping', ping_id: 5n })
  const ack = encode({ _: 'msgs_ack', msg_ids: [1n, 2n] })
  const msgs = [
    { msg_id: 0x6000000000000004n, seqno: 1, body: ping },
    { msg_id: 0x6000000000000008n, seqno: 2, body: ack },
  ]
  const c = encodeMsgContainer(msgs)
  assert.equal(peekId(c), ID_MSG_CONTAINER)
  assert.equal(c.readInt32LE(4), 2)
  assert.equal(c.readBigInt64LE(8), 0x6000000000000004n)
  assert.equal(c.readInt32LE(16), 1)
  assert.equal(c.readInt32LE(20), ping.length)
  const back = decodeMsgContainer(c)
  assert.deepStrictEqual(back, msgs)
  assert.deepStrictEqual(decode(back[1]!.body), { _: 'msgs_ack', msg_ids: [1n, 2n] })
  assert.deepStrictEqual(decodeMsgContainer(encodeMsgContainer([])), [])
})

test('msg_container: bad lengths, nesting, counts and trailing bytes are TlErrors', () => {
  const ping = encode({ _: 'ping', ping_id: 5n })
  const good = encodeMsgContainer([{ msg_id: 4n, seqno: 1, body: ping }])
  const odd = Buffer.from(good)
  odd.writeInt32LE(ping.length + 1, 20)
  assert.throws(() => decodeMsgContainer(odd), code('BAD_VALUE'))
  const long = Buffer.from(good)
  long.writeInt32LE(ping.length + 4, 20)
  assert.throws(() => decodeMsgContainer(long), code('TRUNCATED'))
  const many = Buffer.from(good)
  many.writeInt32LE(MAX_CONTAINER_MESSAGES + 1, 4)
  assert.throws(() => decodeMsgContainer(many), code('LIMIT'))
  const claims = Buffer.from(good)
  claims.writeInt32LE(50, 4)
  assert.throws(() => decodeMsgContainer(claims), code('TRUNCATED'))
  assert.throws(() => decodeMsgContainer(Buffer.concat([good, Buffer.alloc(4)])), code('TRAILING'))
  assert.throws(() => decodeMsgContainer(encodeMsgContainer([{ msg_id: 8n, seqno: 0, body: good }])), code('BAD_VALUE'))
  assert.throws(() => decodeMsgContainer(ping), code('UNEXPECTED_CONSTRUCTOR'))
  assert.throws(() => encodeMsgContainer(new Array(MAX_CONTAINER_MESSAGES + 1).fill({ msg_id: 1n, seqno: 0, body: ping })), code('ENCODE'))
})

test('rpc_result: raw and decoded results, gzip on demand', () => {
  const cfg = { _: 'rpc_error', error_code: 420, error_message: 'FLOOD_WAIT_3' } as const
  const b = encodeRpcResult(77n, cfg)
  assert.equal(peekId(b), ID_RPC_RESULT)
  assert.equal(b.readBigInt64LE(4), 77n)
  assert.deepStrictEqual(decodeRpcResult(b), { req_msg_id: 77n, result: cfg })
  assert.deepStrictEqual(decodeRpcResult(b, { raw: true }), { req_msg_id: 77n, result: encode(cfg) })
  const pre = encodeRpcResult(78n, encode(cfg))
  assert.deepEqual(decodeRpcResult(pre).result, cfg)
  const z = encodeRpcResult(79n, cfg, { gzipAbove: 0 })
  assert.equal(z.readUInt32LE(12), ID_GZIP_PACKED)
  assert.deepStrictEqual(decodeRpcResult(z), { req_msg_id: 79n, result: cfg })
  assert.deepEqual(unwrapGzip(decodeRpcResult(z, { raw: true }).result as Buffer), encode(cfg))
  assert.throws(() => decodeRpcResult(Buffer.concat([b, Buffer.alloc(4)])), code('TRAILING'))
  assert.throws(() => decodeRpcResult(b.subarray(0, 10)), code('TRUNCATED'))
  assert.throws(() => decodeRpcResult(b.subarray(0, 12), { raw: true }), code('TRUNCATED'))
})

test('gzip_packed: zip and unzip, bounded output, garbage rejected', () => {
  const body = encode({ _: 'msgs_ack', msg_ids: Array.from({ length: 500 }, (_, i) => BigInt(i)) })
  const z = encodeGzipPacked(body)
  assert.ok(z.length < body.length)
  assert.deepEqual(decodeGzipPacked(z), body)
  assert.deepEqual(unwrapGzip(z), body)
  assert.deepEqual(unwrapGzip(body), body)
  assert.deepStrictEqual(decode(z), decode(body))
  // A bomb: 64 KiB of zeros with a 1 KiB limit.
  const w = new TlWriter()
  w.int(ID_GZIP_PACKED)
  w.bytes(gzipSync(Buffer.alloc(65536)))
  assert.throws(() => decodeGzipPacked(w.finish(), 1024), code('LIMIT'))
  const g = new TlWriter()
  g.int(ID_GZIP_PACKED)
  g.bytes(Buffer.from('garbage!'))
  assert.throws(() => decodeGzipPacked(g.finish()), code('BAD_VALUE'))
  assert.throws(() => decodeGzipPacked(body), code('UNEXPECTED_CONSTRUCTOR'))
  const trunc = Buffer.from(z)
  assert.throws(() => decodeGzipPacked(trunc.subarray(0, trunc.length - 8)), (e: unknown) => e instanceof TlError)
})

test('method results: vectors, Bool and objects per the schema', async () => {
  const { encodeResult, decodeResult } = await import('../../src/tl/index.js')
  const b = encodeResult('account.updateStatus', true)
  assert.deepEqual([...b], [0xb5, 0x75, 0x72, 0x99])
  assert.equal(decodeResult('account.updateStatus', b), true)
  const users = [{ _: 'userEmpty', id: 5n }] as const
  const u = encodeResult('users.getUsers', [...users])
  assert.equal(u.readUInt32LE(0), 0x1cb5c415)
  assert.deepStrictEqual(decodeResult('users.getUsers', u), [...users])
  const views = encodeResult('messages.getMessagesViews', { _: 'messages.messageViews', views: [], chats: [], users: [] })
  assert.deepStrictEqual(decodeResult('messages.getMessagesViews', views), { _: 'messages.messageViews', views: [], chats: [], users: [] })
  const ids = encodeResult('contacts.getContactIDs', [1, 2, 3])
  assert.deepStrictEqual(decodeResult('contacts.getContactIDs', ids), [1, 2, 3])
  assert.throws(() => decodeResult('contacts.getContactIDs', Buffer.concat([ids, Buffer.alloc(4)])), code('TRAILING'))
  assert.throws(() => encodeResult('contacts.getContactIDs', [1n] as never), code('ENCODE'))
})
