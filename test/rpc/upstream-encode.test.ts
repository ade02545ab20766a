/**
 * encodeInvokeRequest (src/rpc/upstream-encode.ts) read back by protobufjs with the .proto
 * (the deserializer a backend written with @grpc/proto-loader uses).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { PbInvokeRequest } from '../../src/cluster/generated/proto.js'
import { encodeInvokeRequest, type InvokeRequestIn } from '../../src/rpc/upstream-encode.js'
import { upstreamProto } from '../../src/rpc/upstream-proto.js'
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
