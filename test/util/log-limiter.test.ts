import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { describe, it } from 'node:test'
import { pino, type Logger } from 'pino'
import { ManualClock } from '../../src/util/clock.js'
import { LogLimiter } from '../../src/util/log-limiter.js'

function capture(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>)
      cb()
    },
  })
  return { log: pino({ level: 'info' }, sink), lines }
}

describe('LogLimiter', () => {
  it('one line per reason per interval; the rest are counted and reported with `suppressed`', async () => {
    const { log, lines } = capture()
    const clock = new ManualClock(0)
    const l = new LogLimiter(log, 50, clock)
    for (let i = 0; i < 1000; i++) l.warn('flood', { i }, 'rejected')
    l.warn('other', {}, 'other reason')
    clock.advance(50)
    await new Promise((r) => setTimeout(r, 80))
    assert.equal(lines.length, 3)
    assert.equal(lines[0]!.i, 0)
    assert.equal(lines[0]!.reason, 'flood')
    assert.equal(lines[1]!.reason, 'other')
    assert.equal(lines[2]!.suppressed, 999)
    assert.equal(lines[2]!.i, 999, 'the last suppressed event is the one shown')
  })

  it("keeps the caller's own reason field", async () => {
    const { log, lines } = capture()
    new LogLimiter(log).info('key', { reason: 'bad_thing' }, 'x')
    await new Promise((r) => setImmediate(r))
    assert.equal(lines[0]!.reason, 'bad_thing')
  })
})
