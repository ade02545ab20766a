/**
 * Fuzz share of the session envelope (the bench runs 1M: `npm run bench -- fuzz`): parseContainer,
 * firstHandledMsgId, unpackGzip and unwrapQuery on containers, gzip_packed and wrapped queries
 * (mutated) and random bytes. Allowed: ContainerError, TlError, gzip/inflate errors.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { unwrapQuery } from '../../src/session/unwrap.js'
import { crashReport, envelopeTarget, fuzzRun, gzipBomb, rngFor, runOne } from '../helpers/fuzz-targets.js'

test('envelope target: 30k inputs, 0 crashes', () => {
  const crashes = fuzzRun(envelopeTarget, 0xe7e1, 30_000)
  assert.equal(crashes.length, 0, crashReport(crashes))
})

test('envelope target: a gzip_packed inflating above the cap is refused, not a crash', () => {
  const bomb = gzipBomb()
  assert.equal(runOne(envelopeTarget, bomb, rngFor(1, 0)), undefined)
  const u = unwrapQuery(bomb, () => true)
  assert.equal(u.error?.message, 'INPUT_REQUEST_INVALID')
})
