import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Socket } from 'node:net'
import { DEFAULT_HTTP_WAIT, HttpChannel, readHttpWait, type HttpChannelLimits } from '../../src/gateway/http-channel.js'
import { encode } from '../../src/tl/index.js'
import { buildContainer } from '../../src/session/envelope.js'
import type { HttpExchange } from '../../src/transport/http-api.js'
import { ManualClock, systemClock, type Clock } from '../../src/util/clock.js'
import { waitFor } from '../helpers/wait.js'

/** An exchange that records its answer. */
function exchange(): HttpExchange & { got: (Buffer | number)[]; gone: boolean; goneNow(): void } {
  let gone: (() => void) | undefined
  const x = {
    body: Buffer.alloc(0),
    socket: {} as Socket,
    remoteIp: '127.0.0.1',
    remotePort: 1,
    localPort: 2,
    gone: false,
    answered: false,
    got: [] as (Buffer | number)[],
    respond(p: Buffer) {
      if (x.answered || x.gone) return false
      x.answered = true
      x.got.push(p)
      return true
    },
    fail(code: number) {
      if (x.answered || x.gone) return false
      x.answered = true
      x.got.push(code)
      return true
    },
    onGone(cb: () => void) {
      gone = cb
    },
    goneNow() {
      x.gone = true
      gone?.()
    },
  }
  return x
}

const LIMITS: HttpChannelLimits = { maxWaitCapMs: 60_000, maxWaiters: 2, maxQueuedPackets: 3, maxQueuedBytes: 1 << 20, idleMs: 60_000 }
const EMPTY = Buffer.from('empty')

function channel(limits: Partial<HttpChannelLimits> = {}, clock: Clock = systemClock): { ch: HttpChannel; closed: string[] } {
  const closed: string[] = []
  const ch = new HttpChannel('7', 1n, 2n, '127.0.0.1:1', { clock, limits: { ...LIMITS, ...limits }, emptyPacket: () => EMPTY, onClose: (_c, reason) => closed.push(reason) })
  return { ch, closed }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

describe('HttpChannel', () => {
  it('readHttpWait: alone, in a container (the last one wins), absent; negative values read as 0', () => {
    const w = (a: number, b: number, c: number): Buffer => encode({ _: 'http_wait', max_delay: a, wait_after: b, max_wait: c })
    assert.deepEqual(readHttpWait(w(1, 2, 3)), { maxDelay: 1, waitAfter: 2, maxWait: 3 })
    const ping = encode({ _: 'ping', ping_id: 1n })
    const c = buildContainer([
      { msgId: 4n, seqNo: 0, body: w(5, 6, 7) },
      { msgId: 8n, seqNo: 1, body: ping },
      { msgId: 12n, seqNo: 2, body: w(-1, 0, 9) },
    ])
    assert.deepEqual(readHttpWait(c), { maxDelay: 0, waitAfter: 0, maxWait: 9 })
    assert.equal(readHttpWait(ping), undefined)
    assert.equal(readHttpWait(buildContainer([{ msgId: 4n, seqNo: 1, body: ping }])), undefined)
  })

  it('packets go to held requests oldest first, one each; queued ones wait for the next request', () => {
    const { ch } = channel()
    const a = exchange()
    ch.addRequest(a, DEFAULT_HTTP_WAIT, 'x')
    ch.send(Buffer.from('p1'))
    ch.send(Buffer.from('p2'))
    assert.deepEqual(a.got, [Buffer.from('p1')])
    assert.equal(ch.queued, 1)
    const b = exchange()
    ch.addRequest(b, DEFAULT_HTTP_WAIT, 'x')
    assert.deepEqual(b.got, [Buffer.from('p2')])
    ch.close('test')
  })

  it('more held requests than allowed: the oldest is answered at once (empty); a gone one is dropped', () => {
    const { ch } = channel()
    const [a, b, c] = [exchange(), exchange(), exchange()]
    ch.addRequest(a, DEFAULT_HTTP_WAIT, 'x')
    ch.addRequest(b, DEFAULT_HTTP_WAIT, 'x')
    ch.addRequest(c, DEFAULT_HTTP_WAIT, 'x')
    assert.deepEqual(a.got, [EMPTY])
    assert.equal(ch.waiting, 2)
    b.goneNow()
    assert.equal(ch.waiting, 1)
    ch.send(Buffer.from('p'))
    assert.deepEqual(c.got, [Buffer.from('p')])
    ch.close('test')
  })

  it('a packet whose request went away stays queued for the next one', () => {
    const { ch } = channel()
    const a = exchange()
    ch.addRequest(a, { maxDelay: 50, waitAfter: 50, maxWait: 1000 }, 'x')
    ch.send(Buffer.from('p'))
    a.gone = true // gone without its callback yet: respond() refuses
    return sleep(120).then(() => {
      const b = exchange()
      ch.addRequest(b, DEFAULT_HTTP_WAIT, 'x')
      assert.deepEqual(b.got, [Buffer.from('p')])
      ch.close('test')
    })
  })

  it('over its queue limit the channel closes; closing answers held requests; idle closes', async () => {
    const { ch, closed } = channel()
    for (let i = 0; i < 4; i++) ch.send(Buffer.from('p'))
    assert.equal(ch.closed, true)
    assert.match(closed[0]!, /http queue over its limit/)
    const { ch: ch2, closed: closed2 } = channel()
    const a = exchange()
    ch2.addRequest(a, DEFAULT_HTTP_WAIT, 'x')
    ch2.close('by the session layer')
    assert.deepEqual(a.got, [EMPTY])
    assert.deepEqual(closed2, ['by the session layer'])
    const { ch: ch3, closed: closed3 } = channel({ idleMs: 80 })
    const b = exchange()
    ch3.addRequest(b, { maxDelay: 0, waitAfter: 0, maxWait: 30 }, 'x')
    await sleep(250)
    assert.deepEqual(b.got, [EMPTY], 'max_wait answered it')
    assert.deepEqual(closed3, ['idle'])
  })

  it('a transport error goes to every held request and closes the channel', () => {
    const { ch } = channel()
    const a = exchange()
    ch.addRequest(a, DEFAULT_HTTP_WAIT, 'x')
    ch.sendTransportError(-404)
    assert.deepEqual(a.got, [-404])
    assert.equal(ch.closed, true)
  })

  it('a timer that goes off before the clock reaches its time (timers run on a monotonic clock) is set again', async () => {
    const clock = new ManualClock(1_000_000)
    const { ch } = channel({}, clock)
    const a = exchange()
    try {
      ch.addRequest(a, { maxDelay: 30, waitAfter: 10, maxWait: 25_000 }, 'x')
      ch.send(Buffer.from('answer'))
      // the 10 ms timer goes off while the channel's clock still reads the time of the send
      await sleep(40)
      assert.deepEqual(a.got, [])
      assert.equal(ch.waiting, 1)
      clock.advance(10)
      await waitFor(() => a.got.length === 1, 2000, 'the held request answered')
      assert.deepEqual(a.got, [Buffer.from('answer')])
    } finally {
      ch.close('test over')
    }
  })
})
