import assert from 'node:assert/strict'
import { test } from 'node:test'
import { prettyLine } from '../../src/util/log.js'

test('pretty format: time, level, name, message and the other fields on one line', () => {
  const t = Date.UTC(2026, 0, 2, 3, 4, 5, 678)
  const line = JSON.stringify({ level: 30, time: t, pid: 1, hostname: 'h', name: 'mtgate', layer: 'session', n: 2, msg: 'session: new', why: 'a b' }) + '\n'
  assert.equal(prettyLine(line), '03:04:05.678 INFO  mtgate: session: new layer=session n=2 why="a b"\n')
  const err = prettyLine(JSON.stringify({ level: 50, time: t, msg: 'failed', err: { type: 'Error', message: 'x', stack: 'Error: x\n    at f' } }))
  assert.equal(err, '03:04:05.678 ERROR failed\n    Error: x\n        at f\n')
  assert.equal(prettyLine('not json\n'), 'not json\n')
})
