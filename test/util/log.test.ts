import assert from 'node:assert/strict'
import { test } from 'node:test'
import { prettyLine, RecentProblems } from '../../src/util/log.js'

test('pretty format: time, level, name, message and the other fields on one line', () => {
  const t = Date.UTC(2026, 0, 2, 3, 4, 5, 678)
  const line = JSON.stringify({ level: 30, time: t, pid: 1, hostname: 'h', name: 'mtgate', layer: 'session', n: 2, msg: 'session: new', why: 'a b' }) + '\n'
  assert.equal(prettyLine(line), '03:04:05.678 INFO  mtgate: session: new layer=session n=2 why="a b"\n')
  const err = prettyLine(JSON.stringify({ level: 50, time: t, msg: 'failed', err: { type: 'Error', message: 'x', stack: 'Error: x\n    at f' } }))
  assert.equal(err, '03:04:05.678 ERROR failed\n    Error: x\n        at f\n')
  assert.equal(prettyLine('not json\n'), 'not json\n')
})

test('RecentProblems: keeps warn, error and fatal lines (not below), the last `max` of them, each with its fields as text', () => {
  const r = new RecentProblems(3)
  const at = (level: number, msg: string, fields: Record<string, unknown> = {}): void =>
    r.write(JSON.stringify({ level, time: 1000 + level, pid: 1, hostname: 'h', name: 'mtgate', ...fields, msg }) + '\n')
  at(30, 'info')
  at(20, 'debug')
  assert.deepEqual(r.list(), [])
  at(40, 'w', { reason: 'x y', n: 2 })
  at(50, 'e', { err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at f' } })
  assert.deepEqual(r.list(), [
    { time: 1040, level: 'warn', msg: 'w', detail: 'reason="x y" n=2' },
    { time: 1050, level: 'error', msg: 'e', detail: 'err=boom' },
  ])
  at(60, 'f', { long: 'z'.repeat(1000) })
  at(40, 'w2')
  assert.deepEqual(r.list().map((p) => p.msg), ['e', 'f', 'w2'], 'the oldest dropped')
  assert.equal(r.list()[1]!.detail.length, 300)
  r.write('not json, level unknown\n')
  r.write('{"level":45 broken')
  assert.equal(r.list().length, 3)
})
