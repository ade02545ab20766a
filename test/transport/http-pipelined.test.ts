/**
 * Pipelined MTProto-over-HTTP requests on one keep-alive connection (what Telethon's ConnectionHttp
 * sends: a POST per batch, without waiting for the answers) when the client closes the
 * connection: every exchange still held is gone, also those whose responses queue behind the
 * first one, and an answer to any of them is refused (so it stays for the session's next request).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import type { HttpExchange } from '../../src/transport/http-api.js'
import { WsListener } from '../../src/transport/ws-listener.js'
import { waitFor } from '../helpers/wait.js'

function post(body: Buffer): Buffer {
  const head = `POST /api HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nContent-Length: ${body.length}\r\n\r\n`
  return Buffer.concat([Buffer.from(head, 'ascii'), body])
}

describe('HTTP transport: pipelined requests on a connection that closes', () => {
  let l: WsListener
  let port: number
  const exchanges: HttpExchange[] = []
  before(async () => {
    l = new WsListener({ host: '127.0.0.1', port: 0, http: {} })
    l.on('exchange', (x) => exchanges.push(x))
    port = await l.listen()
  })
  after(() => l.close())

  for (const how of ['end', 'destroy'] as const) {
    it(`client ${how}s the connection: all three held exchanges are gone, none can be answered`, async () => {
      exchanges.length = 0
      const s: Socket = connect(port, '127.0.0.1')
      s.on('error', () => {})
      s.on('data', () => assert.fail('no answer was written'))
      await new Promise<void>((r) => s.once('connect', () => r()))
      s.write(Buffer.concat([1, 2, 3].map((i) => post(Buffer.alloc(16, i)))))
      await waitFor(() => exchanges.length === 3, 5000, 'three exchanges')
      assert.deepEqual(exchanges.map((x) => x.body[0]), [1, 2, 3])
      const gone: number[] = []
      exchanges.forEach((x, i) => x.onGone(() => gone.push(i)))
      if (how === 'end') s.end()
      else s.destroy()
      await waitFor(() => gone.length === 3, 5000, `onGone of all three (got ${JSON.stringify(gone)})`)
      assert.deepEqual(gone.sort(), [0, 1, 2])
      for (const x of exchanges) {
        assert.equal(x.gone, true)
        assert.equal(x.respond(Buffer.alloc(8)), false)
        assert.equal(x.answered, false)
      }
    })
  }

  it('onGone registered after the client left is called at once', async () => {
    exchanges.length = 0
    const s = connect(port, '127.0.0.1')
    s.on('error', () => {})
    s.write(Buffer.concat([post(Buffer.alloc(16, 7)), post(Buffer.alloc(16, 8))]))
    await waitFor(() => exchanges.length === 2, 5000, 'two exchanges')
    s.destroy()
    await waitFor(() => exchanges.every((x) => x.gone), 5000, 'both gone')
    let called = 0
    exchanges[1]!.onGone(() => called++)
    assert.equal(called, 1)
  })
})
