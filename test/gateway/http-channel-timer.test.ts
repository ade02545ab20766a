/**
 * HttpChannel's timer (max_delay / wait_after of a held request): when it goes off before the
 * clock reaches the time it was set for (Node's timers run on a monotonic clock, the channel reads
 * Date.now()), the channel sets it again, and the held request is answered once that time comes.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { HttpChannel } from '../../src/gateway/http-channel.js'
import type { HttpExchange } from '../../src/transport/http-api.js'
import { ManualClock } from '../../src/util/clock.js'
import { waitFor } from '../helpers/wait.js'

function exchange(answers: Buffer[]): HttpExchange {
  return {
    body: Buffer.alloc(0),
    socket: {} as Socket,
    remoteIp: '127.0.0.1',
    remotePort: 1,
    localPort: 2,
    gone: false,
    answered: false,
    respond(packet) {
      answers.push(packet)
      return true
    },
    fail: () => true,
    onGone: () => {},
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

describe('HttpChannel timer', () => {
  it('a timer that fires before its time is set again: the held request gets the queued packet when wait_after passes', async () => {
    const clock = new ManualClock(1_000_000)
    const answers: Buffer[] = []
    const ch = new HttpChannel('1', 1n, 2n, '127.0.0.1:1', {
      clock,
      limits: { maxWaitCapMs: 60_000, maxWaiters: 8, maxQueuedPackets: 16, maxQueuedBytes: 1 << 20, idleMs: 300_000 },
      emptyPacket: () => Buffer.from('empty'),
      onClose: () => {},
    })
    try {
      ch.addRequest(exchange(answers), { maxDelay: 30, waitAfter: 10, maxWait: 25_000 }, '127.0.0.1:1')
      ch.send(Buffer.from('answer'))
      // the 10 ms timer goes off while the channel's clock still reads the time of the send
      await sleep(40)
      assert.equal(answers.length, 0)
      assert.equal(ch.waiting, 1)
      clock.advance(10)
      await waitFor(() => answers.length === 1, 2000, 'the held request answered')
      assert.deepEqual(answers.map((b) => b.toString()), ['answer'])
      assert.equal(ch.queued, 0)
    } finally {
      ch.close('test over')
    }
  })
})
