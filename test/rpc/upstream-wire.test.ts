/**
 * encodeInvokeRequest (src/rpc/upstream-wire.ts) read back by protobufjs with the .proto
 * (the deserializer a backend written with @grpc/proto-loader uses).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { PbInvokeReply, PbInvokeRequest, PbRpcError } from '../../src/cluster/generated/proto.js'
import { decodeInvokeReply, encodeInvokeRequest, type InvokeReplyIn, type InvokeRequestIn } from '../../src/rpc/upstream-wire.js'
import { upstreamProto } from '../../src/rpc/upstream-proto.js'
import { WireError } from '../../src/cluster/wire.js'
import { invokeRequest } from '../helpers/upstream.js'

const decoded = (b: Buffer): PbInvokeRequest => upstreamProto().service.Invoke!.requestDeserialize(b) as PbInvokeRequest

const full: InvokeRequestIn = {
  authKeyId: -0x1122334455667788n,
  permAuthKeyId: 0x7fffffffffffffffn,
  sessionId: -1n,
  msgId: 0x5f0000000000000cn,
  userId: 1_000_000_007n,
  layer: 222,
  client: { apiId: 4, deviceModel: 'Pixel 8 — テスト', systemVersion: 'SDK 34', appVersion: '11.2.3 (5000)', systemLangCode: 'de-DE', langPack: 'android', langCode: 'de' },
  clientIp: '2001:db8::1',
  clientPort: 65535,
  dcId: 2,
  deadlineMs: 1_780_000_000_123,
  method: 'messages.sendMessage',
  constructorId: 0xfe05dc9a,
  query: Buffer.from('9adc05fe0102030405060708', 'hex'),
  withoutUpdates: true,
  transport: 'TRANSPORT_WEBSOCKET',
  gatewayId: 'gw-4242',
  callId: 2 ** 40 + 3,
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  tracestate: 'congo=t61rcWkgMzE',
}

const expected = (r: InvokeRequestIn): PbInvokeRequest => ({
  ...r,
  authKeyId: String(r.authKeyId),
  permAuthKeyId: String(r.permAuthKeyId),
  sessionId: String(r.sessionId),
  msgId: String(r.msgId),
  userId: String(r.userId),
  deadlineMs: String(r.deadlineMs),
  callId: String(r.callId),
})

test('every field of an InvokeRequest is read back as written: negative and largest ids, non-ASCII strings, field numbers above 15', () => {
  assert.deepEqual(decoded(encodeInvokeRequest(full)), expected(full))
})

test('fields at their default are left out: an empty request is zero bytes, and decodes to the defaults', () => {
  const empty = invokeRequest({})
  const b = encodeInvokeRequest(empty)
  assert.equal(b.length, 0)
  assert.deepEqual(decoded(b), expected(empty))
  // an empty ClientInfo is still a present message
  assert.deepEqual(decoded(encodeInvokeRequest({ ...empty, client: { apiId: 0, deviceModel: '', systemVersion: '', appVersion: '', systemLangCode: '', langPack: '', langCode: '' } })).client, {
    apiId: 0,
    deviceModel: '',
    systemVersion: '',
    appVersion: '',
    systemLangCode: '',
    langPack: '',
    langCode: '',
  })
})

test('negative int32 fields take ten bytes, as protobuf writes them, and read back negative', () => {
  const r = { ...full, layer: -1, dcId: -2_147_483_648, clientPort: -5, client: { ...full.client!, apiId: -77 } }
  assert.deepEqual(decoded(encodeInvokeRequest(r)), expected(r))
})

test('a decoded request (decimal strings for the 64-bit fields) encodes to the same bytes as the bigints', () => {
  assert.deepEqual(encodeInvokeRequest(expected(full)), encodeInvokeRequest(full))
})

test('a query the size of a large upload part (512 KB) keeps every byte', () => {
  const query = Buffer.alloc(512 * 1024 + 3, 0xa5)
  query.writeUInt32LE(0xb304a621, 0)
  const r = { ...full, query, constructorId: 0xb304a621 }
  assert.deepEqual(decoded(encodeInvokeRequest(r)).query, query)
})

/** What a backend's protobufjs writes for `r` (the proto-loader server's serializer). */
const written = (r: Partial<PbInvokeReply> & Record<string, unknown>): Buffer => upstreamProto().service.Invoke!.responseSerialize(r)

const defaults = { bindUserId: 0n, unbindUser: false, closeConnection: false, destroyAuthKey: false, deferred: false, callId: 0 }

test('replies written by protobufjs are read field by field: result, rpc_error (negative codes too), ids, flags', () => {
  const result = Buffer.from('15c4b51c00000000', 'hex')
  assert.deepEqual(decodeInvokeReply(written({ result })), { ...defaults, outcome: 'result', result, rpcError: undefined })
  assert.deepEqual(decodeInvokeReply(written({ rpcError: { code: -503, message: 'Timeout' }, callId: String(2 ** 40 + 7) })), {
    ...defaults,
    outcome: 'rpcError',
    rpcError: { code: -503, message: 'Timeout' },
    result: undefined,
    callId: 2 ** 40 + 7,
  })
  assert.deepEqual(decodeInvokeReply(written({ rpcError: { code: 420, message: 'FLOOD_WAIT_30' } })).rpcError, { code: 420, message: 'FLOOD_WAIT_30' })
  assert.deepEqual(decodeInvokeReply(written({ rpcError: { code: -2_147_483_648, message: 'Ä' } })).rpcError, { code: -2_147_483_648, message: 'Ä' })
  assert.deepEqual(decodeInvokeReply(written({ rpcError: {} as PbRpcError })).rpcError, { code: 0, message: '' })
  const flags = decodeInvokeReply(written({ bindUserId: '-9223372036854775808', unbindUser: true, closeConnection: true, destroyAuthKey: true, deferred: true, callId: '1' }))
  assert.deepEqual(flags, { ...defaults, bindUserId: -(2n ** 63n), unbindUser: true, closeConnection: true, destroyAuthKey: true, deferred: true, callId: 1 })
  assert.equal(flags.outcome, undefined)
  assert.deepEqual(decodeInvokeReply(Buffer.alloc(0)), defaults)
  assert.equal(decodeInvokeReply(written({ result: Buffer.alloc(0) })).outcome, 'result')
})

test('the result is the reply\'s bytes as written, a large one too', () => {
  const result = Buffer.alloc(300_000, 0x5a)
  const r = decodeInvokeReply(written({ result, bindUserId: '42', callId: '9' }))
  assert.deepEqual([r.outcome, r.result?.equals(result), r.bindUserId, r.callId], ['result', true, 42n, 9])
})

test('unknown fields of every wire type are skipped; the oneof member written last wins', () => {
  const known = written({ bindUserId: '5', callId: '3' })
  const unknown = Buffer.concat([
    Buffer.from([(10 << 3) | 0, 0x80, 0x80, 0x01]), // field 10, varint
    Buffer.from([(11 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8]), // fixed64
    Buffer.from([(12 << 3) | 2, 3, 9, 9, 9]), // length-delimited
    Buffer.from([(13 << 3) | 5, 1, 2, 3, 4]), // fixed32
    Buffer.from([0xc8, 0x3e, 0x01]), // field 1001 (a two-byte key), varint
  ])
  assert.deepEqual(decodeInvokeReply(Buffer.concat([unknown, known, unknown])), { ...defaults, bindUserId: 5n, callId: 3 })
  const both = decodeInvokeReply(Buffer.concat([written({ result: Buffer.from([1, 2, 3, 4]) }), written({ rpcError: { code: 400, message: 'X' } })]))
  assert.deepEqual([both.outcome, both.result, both.rpcError], ['rpcError', undefined, { code: 400, message: 'X' }])
  const back = decodeInvokeReply(Buffer.concat([written({ rpcError: { code: 400, message: 'X' } }), written({ result: Buffer.from([1, 2, 3, 4]) })]))
  assert.deepEqual([back.outcome, back.result, back.rpcError], ['result', Buffer.from([1, 2, 3, 4]), undefined])
})

test('malformed replies are refused with WireError: truncation anywhere, groups, overlong varints', () => {
  const full = written({ rpcError: { code: 500, message: 'INTERNAL' }, bindUserId: '7', callId: '300' })
  for (let n = 1; n < full.length; n++) {
    // every proper prefix either ends between fields (and reads as far as it goes) or is refused
    try {
      decodeInvokeReply(full.subarray(0, n))
    } catch (e) {
      assert.ok(e instanceof WireError, `prefix ${n}: ${String(e)}`)
    }
  }
  assert.throws(() => decodeInvokeReply(Buffer.from([0x0a, 0x05, 1, 2])), WireError) // result longer than the reply
  assert.throws(() => decodeInvokeReply(Buffer.from([0x19, 1, 2, 3])), WireError) // bind_user_id cut short
  assert.throws(() => decodeInvokeReply(Buffer.from([0x40, ...Array(10).fill(0xff), 1])), WireError) // 11-byte varint
  assert.throws(() => decodeInvokeReply(Buffer.from([(9 << 3) | 3])), WireError) // start group
  assert.throws(() => decodeInvokeReply(Buffer.from([(9 << 3) | 1, 1, 2])), WireError) // fixed64 cut short
  assert.throws(() => decodeInvokeReply(Buffer.from([0x12, 0x03, 0x08, 0x96])), WireError) // rpc_error's code cut short
})

test('a random mix of replies reads the same as protobufjs reads it', () => {
  const { responseDeserialize } = upstreamProto().service.Invoke!
  let x = 12345
  const rnd = (n: number): number => ((x = (x * 1103515245 + 12345) >>> 0) % n)
  for (let i = 0; i < 500; i++) {
    const r: Record<string, unknown> = {}
    if (rnd(3) === 0) r.result = Buffer.from(Array.from({ length: rnd(40) }, () => rnd(256)))
    else if (rnd(2) === 0) r.rpcError = { code: rnd(2000) - 1000, message: `E_${rnd(1e6)}` }
    if (rnd(2)) r.bindUserId = String(BigInt(rnd(2 ** 31)) * BigInt(rnd(2 ** 31)) * (rnd(2) ? 1n : -1n))
    for (const f of ['unbindUser', 'closeConnection', 'destroyAuthKey', 'deferred']) if (rnd(2)) r[f] = true
    if (rnd(2)) r.callId = String(rnd(2 ** 31) * 1024)
    const b = written(r)
    const theirs = responseDeserialize(b) as PbInvokeReply
    const ours: InvokeReplyIn = decodeInvokeReply(b)
    const same = (x: InvokeReplyIn | PbInvokeReply) => ({
      ...x,
      bindUserId: String(x.bindUserId),
      callId: String(x.callId),
      outcome: x.outcome ?? null,
      result: x.result ?? null,
      rpcError: x.rpcError ?? null,
    })
    assert.deepEqual(same(ours), same(theirs), `reply ${i}`)
  }
})
