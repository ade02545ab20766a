import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  TlReader,
  TlWriter,
  TlError,
  encode,
  decode,
  MAX_VECTOR_LENGTH,
  MAX_DEPTH,
  MAX_BYTES_LENGTH,
  MAX_MESSAGE_SIZE,
  ID_VECTOR,
} from '../../src/tl/index.js'

function isTlError(code: string, offset?: number) {
  return (e: unknown) => {
    assert.ok(e instanceof TlError, `expected TlError, got ${String(e)}`)
    assert.equal(e.code, code, e.message)
    if (offset !== undefined) assert.equal(e.offset, offset, e.message)
    assert.ok(e.expected.length > 0)
    return true
  }
}

test('primitives are little-endian and round-trip', () => {
  const w = new TlWriter()
  w.int(-2)
  w.uint(0xfffffffe)
  w.long(-0x123456789abcdefn)
  w.long(0x7fffffffffffffffn)
  w.double(1.5)
  w.bool(true)
  w.bool(false)
  w.int128(Buffer.alloc(16, 7))
  w.int256(Buffer.alloc(32, 9))
  w.raw(Buffer.from([1, 2, 3, 4]))
  const b = w.finish()
  assert.equal(b.subarray(0, 4).toString('hex'), 'feffffff')
  assert.equal(b.subarray(8, 16).toString('hex'), '1132547698badcfe')
  const r = new TlReader(b)
  assert.equal(r.int(), -2)
  assert.equal(r.uint(), 0xfffffffe)
  assert.equal(r.long(), -0x123456789abcdefn)
  assert.equal(r.long(), 0x7fffffffffffffffn)
  assert.equal(r.double(), 1.5)
  assert.equal(r.bool(), true)
  assert.equal(r.bool(), false)
  assert.deepEqual(r.int128(), Buffer.alloc(16, 7))
  assert.deepEqual(r.int256(), Buffer.alloc(32, 9))
  assert.deepEqual(r.raw(4), Buffer.from([1, 2, 3, 4]))
  assert.equal(r.remaining(), 0)
})

test('bytes and strings use the short and long length forms with zero padding', () => {
  for (const len of [0, 1, 2, 3, 4, 5, 252, 253, 254, 255, 256, 1000, 70000]) {
    const data = Buffer.alloc(len)
    for (let i = 0; i < len; i++) data[i] = (i * 31 + 7) & 0xff
    const w = new TlWriter(undefined, 8)
    w.bytes(data)
    const b = w.finish()
    const header = len < 254 ? 1 : 4
    assert.equal(b.length, Math.ceil((header + len) / 4) * 4, `len ${len}`)
    if (len >= 254) assert.deepEqual([...b.subarray(0, 4)], [254, len & 0xff, (len >> 8) & 0xff, len >> 16])
    else assert.equal(b[0], len)
    assert.ok(b.subarray(header + len).every((x) => x === 0), 'padding is zero')
    const r = new TlReader(b)
    assert.deepEqual(r.bytes(), data)
    assert.equal(r.remaining(), 0)
  }
  for (const s of ['', 'a', 'abc', 'abcd', 'héllo', '漢字🙂', 'x'.repeat(83), 'é'.repeat(83), 'y'.repeat(84), 'z'.repeat(300), 'ü'.repeat(200)]) {
    const w = new TlWriter()
    w.string(s)
    const b = w.finish()
    assert.equal(b.length % 4, 0)
    const r = new TlReader(b)
    assert.equal(r.string(), s)
    assert.equal(r.remaining(), 0)
    const viaBytes = new TlWriter()
    viaBytes.bytes(Buffer.from(s, 'utf8'))
    assert.deepEqual(viaBytes.finish(), b, `string ${JSON.stringify(s.slice(0, 10))} == bytes(utf8)`)
  }
})

test('the writer grows from a tiny buffer', () => {
  const w = new TlWriter(undefined, 1)
  for (let i = 0; i < 10000; i++) w.long(BigInt(i))
  const r = new TlReader(w.finish())
  for (let i = 0; i < 10000; i++) assert.equal(r.long(), BigInt(i))
})

test('truncated input gives TRUNCATED with the offset of the value', () => {
  assert.throws(() => new TlReader(Buffer.alloc(3)).int(), isTlError('TRUNCATED', 0))
  const r = new TlReader(Buffer.alloc(11))
  r.int()
  assert.throws(() => r.long(), isTlError('TRUNCATED', 4))
  assert.throws(() => new TlReader(Buffer.from([5, 1, 2])).bytes(), isTlError('TRUNCATED', 0))
  assert.throws(() => new TlReader(Buffer.from([254, 0, 1])).bytes(), isTlError('TRUNCATED', 0))
  assert.throws(() => new TlReader(Buffer.from([254, 0, 1, 0, 1, 2])).bytes(), isTlError('TRUNCATED', 0))
  assert.throws(() => new TlReader(Buffer.alloc(0)).string(), isTlError('TRUNCATED', 0))
  const full = encode({ _: 'pong', msg_id: 1n, ping_id: 2n })
  for (let n = 0; n < full.length; n++) assert.throws(() => decode(full.subarray(0, n)), isTlError('TRUNCATED'))
})

test('bad values: length prefix 255, non-Bool, unknown constructor, trailing bytes', () => {
  assert.throws(() => new TlReader(Buffer.from([255, 0, 0, 0])).bytes(), isTlError('BAD_VALUE', 0))
  assert.throws(() => new TlReader(Buffer.from([1, 2, 3, 4])).bool(), isTlError('UNEXPECTED_CONSTRUCTOR', 0))
  assert.throws(() => decode(Buffer.from([1, 2, 3, 4])), isTlError('UNKNOWN_CONSTRUCTOR', 0))
  const p = encode({ _: 'pong', msg_id: 1n, ping_id: 2n })
  assert.throws(() => decode(Buffer.concat([p, Buffer.alloc(4)])), isTlError('TRAILING', p.length))
  // A vector field that does not start with the vector id.
  const bad = encode({ _: 'msgs_ack', msg_ids: [1n] })
  bad.writeUInt32LE(0x12345678, 4)
  assert.throws(() => decode(bad), isTlError('UNEXPECTED_CONSTRUCTOR', 4))
})

test('absurd lengths and deep nesting hit the named limits, not memory', () => {
  const w = new TlWriter()
  w.int(0x62d6b459) // msgs_ack
  w.int(ID_VECTOR)
  w.int(MAX_VECTOR_LENGTH + 1)
  assert.throws(() => decode(w.finish()), isTlError('LIMIT', 8))
  const neg = Buffer.from(w.finish())
  neg.writeInt32LE(-1, 8)
  assert.throws(() => decode(neg), isTlError('LIMIT', 8))
  const big = Buffer.from(w.finish())
  big.writeInt32LE(1000, 8) // 1000 longs claimed, none present
  assert.throws(() => decode(big), isTlError('TRUNCATED', 8))
  const huge = Buffer.from([254, 0xff, 0xff, 0xff])
  assert.throws(() => new TlReader(huge).bytes(), isTlError('LIMIT', 0))
  assert.ok(MAX_BYTES_LENGTH < 0xffffff)
  // inputPeerUserFromMessage nests inputPeer: build MAX_DEPTH + 5 levels.
  const nw = new TlWriter()
  for (let i = 0; i < MAX_DEPTH + 5; i++) nw.int(0xa87b0a1c)
  assert.throws(() => decode(nw.finish()), isTlError('LIMIT'))
  let obj: Record<string, unknown> = { _: 'inputPeerSelf' }
  for (let i = 0; i < MAX_DEPTH - 2; i++) obj = { _: 'inputPeerUserFromMessage', peer: obj, msg_id: i, user_id: 1n }
  assert.deepStrictEqual(decode(encode(obj as never)), obj)
  assert.throws(() => decode(Buffer.alloc(MAX_MESSAGE_SIZE + 4)), isTlError('LIMIT', 0))
})

test('encoding a malformed object gives TlError ENCODE', () => {
  assert.throws(() => encode({ _: 'nosuchThing' } as never), isTlError('ENCODE'))
  assert.throws(() => encode({ _: 'pong', msg_id: 1 } as never), isTlError('ENCODE'))
  assert.throws(() => encode({ _: 'req_pq_multi', nonce: Buffer.alloc(15) }), isTlError('ENCODE'))
  // Encoding still works after a failure (the pooled writer is released).
  assert.equal(encode({ _: 'pong', msg_id: 1n, ping_id: 2n }).length, 20)
})

test('flags: absent optionals are undefined, true-flags are booleans, flags word is computed', () => {
  const obj = {
    _: 'codeSettings',
    allow_flashcall: true,
    current_number: false,
    allow_app_hash: false,
    allow_missed_call: false,
    allow_firebase: true,
    unknown_number: false,
    logout_tokens: [Buffer.from('ab')],
    token: undefined,
    app_sandbox: undefined,
  } as const
  const b = encode(obj)
  assert.equal(b.readUInt32LE(4), (1 << 0) | (1 << 7) | (1 << 6))
  assert.deepStrictEqual(decode(b), obj)
  // Omitted keys encode like undefined ones.
  const minimal = encode({ _: 'codeSettings' })
  assert.equal(minimal.readUInt32LE(4), 0)
  assert.deepStrictEqual(decode(minimal), {
    _: 'codeSettings',
    allow_flashcall: false,
    current_number: false,
    allow_app_hash: false,
    allow_missed_call: false,
    allow_firebase: false,
    unknown_number: false,
    logout_tokens: undefined,
    token: undefined,
    app_sandbox: undefined,
  })
})

test('raw Object payloads: trailing !X taken as bytes, re-encoded verbatim', () => {
  const inner = { _: 'initConnection', api_id: 4, device_model: 'd', system_version: 's', app_version: 'a', system_lang_code: 'en', lang_pack: '', lang_code: 'en', query: { _: 'help.getConfig' } } as const
  const full = encode({ _: 'invokeWithLayer', layer: 222, query: inner })
  const raw = decode(full, { rawObjects: true })
  assert.equal(raw._, 'invokeWithLayer')
  if (raw._ !== 'invokeWithLayer') return
  assert.ok(Buffer.isBuffer(raw.query))
  assert.deepEqual(raw.query, encode(inner))
  assert.deepEqual(encode(raw), full)
  // An unknown inner method still decodes in raw mode.
  const unknown = Buffer.concat([full.subarray(0, 8), Buffer.from([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4])])
  const u = decode(unknown, { rawObjects: true })
  assert.deepEqual((u as { query: Buffer }).query, Buffer.from([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]))
  assert.throws(() => decode(unknown), isTlError('UNKNOWN_CONSTRUCTOR', 8))
})

test('gzip_packed inside an object field is inflated transparently', async () => {
  const { gzipSync } = await import('node:zlib')
  const user = encode({ _: 'inputPeerSelf' })
  const w = new TlWriter()
  w.int(0xa87b0a1c) // inputPeerUserFromMessage peer:InputPeer msg_id:int user_id:long
  w.int(0x3072cfa1)
  w.bytes(gzipSync(user))
  w.int(5)
  w.long(6n)
  assert.deepStrictEqual(decode(w.finish()), { _: 'inputPeerUserFromMessage', peer: { _: 'inputPeerSelf' }, msg_id: 5, user_id: 6n })
  const off = new TlReader(w.finish(), 0, undefined, { unzip: false })
  assert.throws(() => off.object(), isTlError('UNKNOWN_CONSTRUCTOR', 4))
  const bad = new TlWriter()
  bad.int(0x3072cfa1)
  bad.bytes(Buffer.from('not gzip at all'))
  assert.throws(() => decode(bad.finish()), isTlError('BAD_VALUE', 0))
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
  assert.throws(() => decodeResult('contacts.getContactIDs', Buffer.concat([ids, Buffer.alloc(4)])), isTlError('TRAILING'))
  assert.throws(() => encodeResult('contacts.getContactIDs', [1n] as never), isTlError('ENCODE'))
})

test('checkResult / checkResultBytes: what decodeResult accepts and refuses, of the result type; the bytes only stepped over', async () => {
  const { encodeResult, checkResult, checkResultBytes } = await import('../../src/tl/index.js')
  const { maybeGzip } = await import('../../src/session/envelope.js')
  const config = {
    _: 'help.appConfig',
    hash: 7,
    config: { _: 'jsonObject', value: [{ _: 'jsonObjectValue', key: 'k'.repeat(300), value: { _: 'jsonString', value: 'välue' } }] },
  } as const
  const bytes = encodeResult('help.getAppConfig', config as never)
  checkResultBytes('help.getAppConfig', bytes)
  assert.deepEqual(checkResult('help.getAppConfig', bytes), config, 'the decoded result')
  checkResult('contacts.getContactIDs', encodeResult('contacts.getContactIDs', [1, 2]))
  checkResultBytes('contacts.getContactIDs', encodeResult('contacts.getContactIDs', [1, 2]))
  assert.throws(() => checkResultBytes('contacts.getContactIDs', encodeResult('contacts.getContactIDs', [1, 2]).subarray(0, 12)), isTlError('TRUNCATED'))
  // a gzip_packed result is inflated and checked inside
  const packed = maybeGzip(Buffer.concat([bytes]), 64)
  assert.equal(packed.readUInt32LE(0), 0x3072cfa1)
  checkResultBytes('help.getAppConfig', packed)
  assert.deepEqual(checkResult('help.getAppConfig', packed), config)
  assert.throws(() => checkResultBytes('help.getAppConfig', Buffer.concat([bytes, Buffer.alloc(4)])), isTlError('TRAILING'))
  assert.throws(() => checkResultBytes('help.getAppConfig', bytes.subarray(0, bytes.length - 4)), isTlError('TRUNCATED'))
  // the long key's length says more bytes than there are
  const keyAt = bytes.indexOf(Buffer.from('kkkk')) - 4
  const cut = Buffer.from(bytes.subarray(0, keyAt + 100))
  assert.throws(() => checkResultBytes('help.getAppConfig', cut), isTlError('TRUNCATED', keyAt))
  // a well-formed object of another type
  const nearest = encodeResult('help.getNearestDc', { _: 'nearestDc', country: 'DE', this_dc: 2, nearest_dc: 2 })
  assert.throws(() => checkResultBytes('help.getAppConfig', nearest), isTlError('BAD_VALUE'))
  assert.throws(() => checkResult('help.getAppConfig', nearest), isTlError('BAD_VALUE'))
  assert.throws(() => checkResultBytes('help.getAppConfig', encodeResult('account.updateStatus', true)), TlError)
  assert.throws(() => checkResult('help.getAppConfig', encodeResult('account.updateStatus', true)), TlError)
})
