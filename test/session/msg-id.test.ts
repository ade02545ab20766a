import { test } from 'node:test'
import assert from 'node:assert/strict'
import { checkClientMsgId, msgIdToMs, msToMsgId } from '../../src/session/msg-id.js'

const NOW = 1_750_000_000_123

test('msToMsgId encodes unix time in the high 32 bits and the fraction in the low bits', () => {
  const id = msToMsgId(NOW)
  assert.equal(Number(id >> 32n), Math.floor(NOW / 1000))
  assert.ok((id & 0xffffffffn) > 0n, 'lower 32 bits carry the fraction')
  assert.ok(Math.abs(msgIdToMs(id) - NOW) < 1)
})

test('client msg_id: parity → 18, too old → 16, too new → 17, within the window → 0', () => {
  const ok = msToMsgId(NOW) & ~3n
  assert.equal(checkClientMsgId(ok, NOW), 0)
  assert.equal(checkClientMsgId(ok | 1n, NOW), 18)
  assert.equal(checkClientMsgId(ok | 2n, NOW), 18)
  assert.equal(checkClientMsgId(msToMsgId(NOW - 299_000) & ~3n, NOW), 0)
  assert.equal(checkClientMsgId(msToMsgId(NOW - 301_000) & ~3n, NOW), 16)
  assert.equal(checkClientMsgId(msToMsgId(NOW + 29_000) & ~3n, NOW), 0)
  assert.equal(checkClientMsgId(msToMsgId(NOW + 31_000) & ~3n, NOW), 17)
  assert.equal(checkClientMsgId(msToMsgId(NOW - 600_000) & ~3n, NOW), 16)
  assert.equal(checkClientMsgId(msToMsgId(NOW + 600_000) & ~3n, NOW), 17)
})
