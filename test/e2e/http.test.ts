/**
 * MTProto over HTTP end to end (service_messages.md "HTTP Wait/Long Poll", transports: HTTP): the
 * key exchange over POST /api, encrypted requests answered in their session's channel, http_wait
 * timings (max_wait → an empty container, wait_after / max_delay), a push through a held long
 * poll, the same session moving TCP → HTTP → TCP without a new key, transport errors as HTTP
 * statuses, CORS and the refusals of the request layer, and the HTTP-only port.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { AuthKey } from '../../src/crypto/message.js'
import { clientHandshake } from '../../src/handshake/client.js'
import { encode } from '../../src/tl/index.js'
import { HttpMtClient, type ServerMessage } from './http-client.js'
import { RawClient } from './raw-client.js'
import { recordNewKeys, startE2eServer, waitFor, type E2eServer } from './harness.js'

const PUSH = encode({ _: 'updateShort', update: { _: 'updateLoginToken' }, date: 1_700_000_000 })

function names(ms: ServerMessage[]): string[] {
  return ms.map((m) => (m.result !== undefined || m.body.readUInt32LE(0) === 0xf35c6d01 ? 'rpc_result' : (m.obj?._ ?? `0x${m.body.readUInt32LE(0).toString(16)}`)))
}

describe('MTProto over HTTP', () => {
  let e: E2eServer
  let created: bigint[]
  let httpOnlyPort: number

  before(async () => {
    e = await startE2eServer({ host: '127.0.77.71', tcpPort: 0, wsPort: 0, config: { http: { port: 0 } } })
    created = recordNewKeys(e.server.store)
    httpOnlyPort = e.server.addresses.find((a) => a.kind === 'http')!.port
  })
  after(async () => {
    await e.close()
  })

  /** A client with a key made over HTTP, its session started (new_session_created seen). */
  async function session(port = e.wsPort!): Promise<HttpMtClient> {
    const c = new HttpMtClient(`http://${e.host}:${port}`)
    const r = await clientHandshake(c.plain, { publicKeys: e.server.rsaKeys.all().map((k) => k.publicKey), dcId: 2 })
    c.useKey(r.authKey, r.serverSalt)
    const first = await c.send(encode({ _: 'ping', ping_id: 1n }), false)
    assert.equal(first.status, 200)
    // the first answer: new_session_created and the pong, in one container or one after the other
    const got = names(await c.until(first.messages, (m) => m.obj?._ === 'pong'))
    assert.ok(got.includes('new_session_created') && got.includes('pong'), got.join(','))
    return c
  }

  it('key exchange over POST /api, then a query answered in the response', async () => {
    const before = created.length
    const c = await session()
    try {
      assert.equal(created.length, before + 1)
      const r = await c.send(encode({ _: 'help.getNearestDc' }), true)
      const result = r.messages.find((m) => m.result !== undefined)
      assert.ok(result, names(r.messages).join(','))
      assert.equal(result.result!._, 'nearestDc')
    } finally {
      c.close()
    }
  })

  it('max_wait with nothing to send: an empty container after max_wait', async () => {
    const c = await session()
    try {
      const t0 = Date.now()
      const r = await c.poll(0, 0, 400)
      const took = Date.now() - t0
      assert.equal(r.status, 200)
      assert.deepEqual(r.messages, [], 'an empty msg_container')
      assert.ok(took >= 350 && took < 3000, `answered after ${took} ms`)
    } finally {
      c.close()
    }
  })

  /** A long poll with these http_wait values, a push `pushAt` ms after it: what it got and when. */
  async function pushIntoPoll(maxDelay: number, waitAfter: number, pushAt: number): Promise<{ got: string[]; took: number }> {
    const c = await session()
    try {
      const t0 = Date.now()
      const poll = c.poll(maxDelay, waitAfter, 10_000)
      setTimeout(() => e.server.push({ authKeyId: c.key!.id, sessionId: c.sessionId }, PUSH), pushAt)
      const r = await poll
      return { got: names(r.messages), took: Date.now() - t0 }
    } finally {
      c.close()
    }
  }

  it('a push reaches a held long poll; wait_after holds the answer for more', async () => {
    const { got, took } = await pushIntoPoll(5000, 300, 200)
    assert.ok(got.includes('updateShort'), got.join(','))
    assert.ok(took >= 450 && took < 3000, `push at 200 ms, wait_after 300: answered after ${took} ms`)
  })

  it('max_delay caps wait_after', async () => {
    const { got, took } = await pushIntoPoll(300, 5000, 100)
    assert.ok(got.includes('updateShort'), got.join(','))
    assert.ok(took >= 350 && took < 3000, `push at 100 ms, max_delay 300: answered after ${took} ms`)
  })

  it('the same session moves TCP → HTTP → TCP on one key, no new exchange; a push follows it', async () => {
    const h = await session()
    const keys = created.length
    const tcp = await RawClient.connect({ host: e.host, port: e.tcpPort!, key: new AuthKey(h.key!.key), salt: h.salt, sessionId: h.sessionId })
    try {
      await tcp.ping()
      assert.equal(e.server.push({ authKeyId: h.key!.id, sessionId: h.sessionId }, PUSH), 1)
      await waitFor(() => tcp.log.pushes.length === 1, 5000, 'push over TCP')
      tcp.close()
      h.content += 100 // past the seqnos the TCP client used in the same session
      // first the messages the session re-sends to its new connection (unacknowledged), then the answer
      const got = await h.until((await h.send(encode({ _: 'help.getNearestDc' }), true)).messages, (m) => m.result?._ === 'nearestDc')
      assert.ok(got.some((m) => m.result?._ === 'nearestDc'), names(got).join(','))
      const poll = h.poll(0, 0, 10_000)
      e.server.push({ authKeyId: h.key!.id, sessionId: h.sessionId }, PUSH)
      assert.ok(names((await poll).messages).includes('updateShort'))
      const back = await RawClient.connect({ host: e.host, port: e.tcpPort!, key: new AuthKey(h.key!.key), salt: h.salt, sessionId: h.sessionId })
      try {
        await back.ping()
      } finally {
        back.close()
      }
      assert.equal(created.length, keys, 'no new key')
    } finally {
      tcp.close()
      h.close()
    }
  })

  it('the HTTP-only port serves the same sessions', async () => {
    const c = await session(httpOnlyPort)
    try {
      const other = new HttpMtClient(`http://${e.host}:${e.wsPort}`)
      other.useKey(c.key!.key, c.salt)
      other.sessionId = c.sessionId
      const poll = other.poll(0, 0, 10_000)
      await new Promise((r) => setTimeout(r, 100))
      e.server.push({ authKeyId: c.key!.id, sessionId: c.sessionId }, PUSH)
      assert.ok(names((await poll).messages).includes('updateShort'))
      other.close()
    } finally {
      c.close()
    }
  })

  it('one key holds at most 256 channels: a 257th session closes the oldest, whose held poll is answered', async () => {
    const c = await session()
    try {
      const t0 = Date.now()
      const poll = c.poll(0, 0, 20_000)
      await new Promise((r) => setTimeout(r, 100))
      const other = new HttpMtClient(`http://${e.host}:${e.wsPort}`)
      other.useKey(c.key!.key, c.salt)
      for (let i = 0; i < 256; i++) {
        other.sessionId = BigInt(i + 1)
        assert.equal((await other.send(encode({ _: 'ping', ping_id: BigInt(i) }), false)).status, 200)
      }
      other.close()
      const r = await poll
      assert.deepEqual(names(r.messages), [], 'an empty container')
      assert.ok(Date.now() - t0 < 15_000, 'answered when its channel closed, not at max_wait')
    } finally {
      c.close()
    }
  })

  it('an unknown auth key: HTTP 404 with the -404 code as body', async () => {
    const c = new HttpMtClient(`http://${e.host}:${e.wsPort}`)
    try {
      c.useKey(Buffer.alloc(256, 7), 0n)
      const packet = (await c.post(Buffer.alloc(0), { method: 'OPTIONS' })).status
      assert.equal(packet, 204)
      const r = await c.send(encode({ _: 'ping', ping_id: 2n }), false)
      assert.equal(r.status, 404)
    } finally {
      c.close()
    }
  })

  it('CORS on answers and preflights; wrong paths, methods and sizes are refused', async () => {
    const c = new HttpMtClient(`http://${e.host}:${e.wsPort}`)
    try {
      const pre = await c.post(Buffer.alloc(0), { method: 'OPTIONS', path: '/apiw1', headers: { Origin: 'https://web.example', 'Access-Control-Request-Method': 'POST' } })
      assert.equal(pre.status, 204)
      assert.equal(pre.headers['access-control-allow-origin'], '*')
      assert.match(String(pre.headers['access-control-allow-methods']), /POST/)
      assert.equal((await c.post(Buffer.alloc(0), { method: 'GET' })).status, 405)
      assert.equal((await c.post(Buffer.alloc(24), { path: '/nope' })).status, 404)
      assert.equal((await c.post(Buffer.alloc(4))).status, 400)
      assert.equal((await c.post(Buffer.alloc(e.server.config.limits.maxFrameBytes + 1))).status, 413)
      const plain = await c.plain.call(encode({ _: 'req_pq_multi', nonce: Buffer.alloc(16, 1) }))
      assert.equal(plain.readUInt32LE(0), 0x05162463, 'resPQ')
    } finally {
      c.close()
    }
  })
})
