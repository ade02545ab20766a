import { test } from 'node:test'
import assert from 'node:assert/strict'
import { buildUnencrypted, maxTrailingBytes, parseUnencrypted } from '../../src/gateway/unencrypted.js'

const limits = { maxBody: 1024, maxTrailing: 15 }
const id = (sec: number, n = 0) => (BigInt(sec) << 32n) | BigInt(n * 4)

test('round trip and padded-intermediate trailing bytes', () => {
  const body = Buffer.from('0123456789abcdef0123')
  const m = buildUnencrypted(id(1700000000), body)
  const p = parseUnencrypted(m, limits)
  assert.ok(typeof p !== 'string')
  assert.deepEqual(p.body, body)
  const padded = Buffer.concat([m, Buffer.alloc(15)])
  assert.ok(typeof parseUnencrypted(padded, limits) !== 'string')
  assert.equal(parseUnencrypted(Buffer.concat([m, Buffer.alloc(16)]), limits), 'length_mismatch')
})

test('each check has its reason', () => {
  const body = Buffer.alloc(20)
  assert.equal(parseUnencrypted(Buffer.alloc(19), limits), 'too_short')
  const withKey = buildUnencrypted(id(1700000000), body)
  withKey.writeBigInt64LE(5n, 0)
  assert.equal(parseUnencrypted(withKey, limits), 'auth_key_id_not_zero')
  assert.equal(parseUnencrypted(buildUnencrypted(id(1700000000), Buffer.alloc(1028)), limits), 'oversized')
  assert.equal(parseUnencrypted(buildUnencrypted(id(1700000000) + 1n, body), limits), 'msg_id_not_client')
  assert.equal(parseUnencrypted(buildUnencrypted(-4n, body), limits), 'msg_id_not_positive')
  const short = buildUnencrypted(id(1700000000), body)
  short.writeUInt32LE(24, 16)
  assert.equal(parseUnencrypted(short, limits), 'length_mismatch')
})

test("msg_ids 0 and 1 (TDLib's exchange and pings) are accepted", () => {
  const body = Buffer.alloc(20)
  for (const msgId of [0n, 1n]) {
    const p = parseUnencrypted(buildUnencrypted(msgId, body), limits)
    assert.ok(typeof p !== 'string', String(msgId))
    assert.equal(p.msgId, msgId)
  }
  assert.equal(parseUnencrypted(buildUnencrypted(2n, body), limits), 'msg_id_not_client')
})

test('framings with padding carry up to 256 bytes after an unencrypted message (tgnet Connection::sendData)', () => {
  const m = buildUnencrypted(id(1700000000), Buffer.alloc(20))
  for (const codec of ['padded', 'intermediate'] as const) {
    const l = { maxBody: 1024, maxTrailing: maxTrailingBytes(codec) }
    assert.ok(typeof parseUnencrypted(Buffer.concat([m, Buffer.alloc(256)]), l) !== 'string', codec)
    assert.equal(parseUnencrypted(Buffer.concat([m, Buffer.alloc(257)]), l), 'length_mismatch', codec)
  }
  for (const codec of ['abridged', 'full'] as const) {
    const l = { maxBody: 1024, maxTrailing: maxTrailingBytes(codec) }
    assert.equal(parseUnencrypted(Buffer.concat([m, Buffer.alloc(16)]), l), 'length_mismatch', codec)
  }
})
