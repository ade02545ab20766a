import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Presence, type PresenceChange } from '../../src/session/presence.js'
import { ManualClock } from '../../src/util/clock.js'

test('presence: online / offline transitions per key, a user change of an online key, queries by user', () => {
  const clock = new ManualClock(1_000)
  const p = new Presence(clock)
  const seen: [string, boolean, number][] = []
  const stop = p.subscribe((c: PresenceChange) => seen.push([`${c.userId ?? '-'}/${c.authKeyId}`, c.online, c.sessions]))

  p.update(1n, undefined, 0) // nothing online: nothing to say
  p.update(1n, undefined, 1)
  p.update(1n, undefined, 2) // more sessions: no event
  p.update(1n, 7n, 2) // signed in while online
  p.update(2n, 7n, 1)
  p.update(3n, 8n, 1)
  assert.deepEqual(
    p.keys([7n]).map((k) => [k.authKeyId, k.sessions]),
    [
      [1n, 2],
      [2n, 1],
    ],
  )
  assert.deepEqual(p.keys([8n, 8n, 9n]).map((k) => k.authKeyId), [3n])
  assert.equal(p.keys().length, 3)
  p.update(1n, 7n, 0)
  p.update(1n, 7n, 0) // already offline
  assert.deepEqual(p.keys([7n]).map((k) => k.authKeyId), [2n])
  stop()
  p.update(2n, 7n, 0)
  assert.equal(p.onlineKeyCount, 1)
  assert.deepEqual(seen, [
    ['-/1', true, 1],
    ['-/1', false, 0],
    ['7/1', true, 2],
    ['7/2', true, 1],
    ['8/3', true, 1],
    ['7/1', false, 0],
  ])
})
