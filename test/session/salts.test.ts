import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FUTURE_SALTS_MAX, SALT_PERIOD_SECONDS, SALT_VALIDITY_SECONDS, SaltSet } from '../../src/session/salts.js'
import { testRandom } from './harness.js'

const NOW = 1_750_000_000

test('a fresh set gets a current window aligned on the period and salts ahead', () => {
  const s = new SaltSet([], testRandom())
  assert.equal(s.refresh(NOW), true)
  const snap = s.snapshot()
  assert.ok(snap.length >= 3)
  assert.equal(snap[0]!.validSince % SALT_PERIOD_SECONDS, 0)
  assert.ok(snap[0]!.validSince <= NOW && NOW < snap[0]!.validUntil)
  assert.equal(snap[0]!.validUntil - snap[0]!.validSince, SALT_VALIDITY_SECONDS)
  assert.equal(s.current(NOW), snap[0]!.salt)
  assert.equal(s.refresh(NOW), false, 'nothing to do a second time')
})

test('rolling: the next salt takes over after a period, the old one stays valid for the grace period', () => {
  const s = new SaltSet([], testRandom())
  s.refresh(NOW)
  const first = s.current(NOW)
  const start = s.snapshot()[0]!.validSince
  const t1 = start + SALT_PERIOD_SECONDS + 1
  s.refresh(t1)
  const second = s.current(t1)
  assert.notEqual(second, first)
  assert.equal(s.isValid(first, t1), true, 'previous salt accepted for a further 1800 s')
  assert.equal(s.isValid(second, t1), true)
  const t2 = start + SALT_VALIDITY_SECONDS + 1
  s.refresh(t2)
  assert.equal(s.isValid(first, t2), false)
  assert.equal(s.isValid(123n, t2), false)
  assert.equal(s.snapshot().some((x) => x.salt === first), false, 'expired windows are dropped')
})

test('a future salt is not accepted before its window starts', () => {
  const s = new SaltSet([], testRandom())
  s.refresh(NOW)
  const later = s.snapshot()[2]!
  assert.equal(s.isValid(later.salt, NOW), false)
  assert.equal(s.isValid(later.salt, later.validSince - 31), false)
  assert.equal(s.isValid(later.salt, later.validSince - 30), true, 'a client slightly ahead may switch early')
  assert.equal(s.isValid(later.salt, later.validSince), true)
})

test('future(num) returns num salts from the current one (clamped to 1..64), consecutive windows', () => {
  const s = new SaltSet([], testRandom())
  s.refresh(NOW)
  const { salts, changed } = s.future(10, NOW)
  assert.equal(changed, true)
  assert.equal(salts.length, 10)
  assert.equal(salts[0]!.salt, s.current(NOW))
  for (let i = 1; i < salts.length; i++) assert.equal(salts[i]!.validSince - salts[i - 1]!.validSince, SALT_PERIOD_SECONDS)
  assert.equal(s.future(1000, NOW).salts.length, FUTURE_SALTS_MAX)
  assert.equal(s.future(0, NOW).salts.length, 1)
  assert.equal(s.future(-5, NOW).salts.length, 1)
})

test('loaded salts (e.g. persisted, or the handshake salt) are honoured', () => {
  const s = new SaltSet([{ salt: 42n, validSince: NOW - 10, validUntil: NOW + 100 }], testRandom())
  s.refresh(NOW)
  assert.equal(s.current(NOW), 42n)
  assert.equal(s.isValid(42n, NOW), true)
  assert.equal(s.isValid(42n, NOW + 100), false)
})
