/**
 * Fuzz share of the unencrypted-message parser (the bench runs 1M: `npm run bench -- fuzz`):
 * parseUnencrypted + describeUnencrypted never throw, decodeUnencryptedBody throws only TlError,
 * on valid handshake messages (mutated) and random bytes.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { crashReport, fuzzRun, unencryptedTarget } from '../helpers/fuzz-targets.js'

test('unencrypted target: 40k inputs, 0 crashes', () => {
  const crashes = fuzzRun(unencryptedTarget, 0x0e7c, 40_000)
  assert.equal(crashes.length, 0, crashReport(crashes))
})
