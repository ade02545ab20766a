/**
 * Real clients through the whole server to a real gRPC upstream backend (test/helpers/upstream.ts):
 * mtcute (layer 227) and GramJS (layer 198) get the backend's newest-layer answers converted to
 * their layers; the key's user binding, the backend's rpc_error, a slow backend (-503) and a
 * backend that is down and comes back, on one session that stays healthy throughout.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { PbInvokeRequest } from '../../src/cluster/generated/proto.js'
import { decode, encode, NEWEST_LAYER, type TlObject } from '../../src/tl/index.js'
import { gramjs, gramjsClient, type GramClient, type GramObject } from '../helpers/gramjs.js'
import { mtcuteClient, type MtcuteClient, type TlResult } from '../helpers/mtcute.js'
import { startUpstream, type Reply, type TestUpstream } from '../helpers/upstream.js'
import { startE2eServer, waitFor, type E2eServer } from './harness.js'

const USER_ID = 1001n

/** The backend: users.getUsers answers a newest-layer `user` naming the caller's layer and address. */
function backend(state: { slowMs: number }): (req: PbInvokeRequest) => Promise<Reply> {
  return async (req) => {
    const q = decode(req.query) as TlObject
    switch (q._) {
      case 'users.getUsers': {
        const user = { _: 'user', id: USER_ID, access_hash: 77n, first_name: `L${req.layer}`, last_name: req.clientIp, bot_verification_icon: 9n }
        return { result: vectorOf([encode(user as unknown as TlObject)]) }
      }
      case 'account.updateStatus':
        return { result: encode({ _: 'boolTrue' }), bindUserId: USER_ID }
      case 'help.getNearestDc':
        return { result: encode({ _: 'nearestDc', country: 'BF', this_dc: 2, nearest_dc: 2 }) }
      case 'help.getAppConfig':
        await new Promise((r) => setTimeout(r, state.slowMs))
        return { result: encode({ _: 'help.appConfig', hash: 5, config: { _: 'jsonObject', value: [] } } as unknown as TlObject) }
      default:
        return { rpcError: { code: 400, message: 'USER_ID_INVALID' } }
    }
  }
}

/** A boxed Vector<T> of already boxed elements. */
function vectorOf(items: Buffer[]): Buffer {
  const head = Buffer.alloc(8)
  head.writeUInt32LE(0x1cb5c415, 0)
  head.writeUInt32LE(items.length, 4)
  return Buffer.concat([head, ...items])
}

function routes(up: TestUpstream): Record<string, unknown> {
  return {
    upstreams: [{ name: 'bff', targets: [up.address], deadline_ms: 3000 }],
    // help.getConfig has a built-in handler: it stays in-process although 'help.' is routed;
    // help.getNearestDc's built-in gives way to the route naming it exactly
    routes: { 'users.': 'bff', 'account.': 'bff', 'help.': 'bff', 'help.getAppConfig': { upstream: 'bff', deadline_ms: 400 }, 'help.getNearestDc': 'bff' },
  }
}

describe('mtcute through an upstream backend', () => {
  const state = { slowMs: 0 }
  let up: TestUpstream
  let e: E2eServer
  let tg: MtcuteClient
  const call = (req: Record<string, unknown>, params?: Record<string, unknown>): Promise<TlResult> =>
    (tg.call as (r: Record<string, unknown>, p?: Record<string, unknown>) => Promise<TlResult>)(req, params)

  before(async () => {
    up = await startUpstream(backend(state))
    e = await startE2eServer({ host: '127.0.0.1', tcpPort: 0, config: routes(up) })
    tg = await mtcuteClient({ host: e.host, port: e.tcpPort!, pem: e.publicPem })
    await tg.connect()
  })
  after(async () => {
    await tg?.destroy()
    await e?.close()
    await up?.stop()
  })

  it('gets the backend answer in its layer; help.getConfig stays with the built-in handler, help.getNearestDc routed by name goes to the backend', async () => {
    const cfg = await call({ _: 'help.getConfig' })
    assert.equal(cfg._, 'config')
    const nearest = await call({ _: 'help.getNearestDc' })
    assert.equal((nearest as unknown as { country: string }).country, 'BF')
    assert.equal(up.requests.filter((r) => r.method === 'help.getNearestDc').length, 1)
    const users = (await call({ _: 'users.getUsers', id: [{ _: 'inputUserSelf' }] })) as unknown as TlResult[]
    const req = up.requests.find((r) => r.method === 'users.getUsers')!
    assert.ok(req.layer > 200 && req.layer < NEWEST_LAYER, `mtcute's layer ${req.layer}`)
    assert.equal(users.length, 1)
    assert.equal(users[0]!._, 'user')
    assert.equal(users[0]!.firstName, `L${req.layer}`)
    assert.equal(users[0]!.lastName, '127.0.0.1')
    assert.equal(String(users[0]!.id), String(USER_ID))
    assert.ok(!up.requests.some((r) => r.method === 'help.getConfig'))
    assert.equal(req.client?.apiId, 4)
    assert.equal(req.userId, '0')
    assert.equal(req.transport, 'TRANSPORT_TCP')
    assert.equal(req.gatewayId, 'e2e')
  })

  it('bind_user_id binds the key: later calls carry the user id', async () => {
    assert.equal(await call({ _: 'account.updateStatus', offline: false }), true)
    await call({ _: 'users.getUsers', id: [{ _: 'inputUserSelf' }] })
    assert.equal(up.requests.at(-1)!.userId, String(USER_ID))
  })

  it("the backend's rpc_error reaches the client", async () => {
    await assert.rejects(call({ _: 'users.getFullUser', id: { _: 'inputUserSelf' } }), /USER_ID_INVALID/)
  })

  it('slow backend: -503 Timeout at the route deadline; then a fast answer', async () => {
    state.slowMs = 2000
    const t0 = Date.now()
    await assert.rejects(call({ _: 'help.getAppConfig', hash: 0 }, { maxRetryCount: 0, throw503: true }), (err: Error) => err.constructor.name === 'MtTimeoutError')
    const took = Date.now() - t0
    assert.ok(took >= 390 && took < 1500, `answered after ${took} ms`)
    state.slowMs = 0
    const cfg = await call({ _: 'help.getAppConfig', hash: 0 })
    assert.equal(cfg._, 'help.appConfig')
  })

  it('backend down: 500 INTERNAL within a bound; back on its address: calls succeed on the same session', async () => {
    await up.stop()
    const t0 = Date.now()
    await assert.rejects(call({ _: 'users.getUsers', id: [{ _: 'inputUserSelf' }] }, { maxRetryCount: 0 }), /INTERNAL/)
    assert.ok(Date.now() - t0 < 1500, `answered after ${Date.now() - t0} ms`)
    up = await startUpstream(backend(state), '127.0.0.1', up.port)
    const t1 = Date.now()
    for (;;) {
      const ok = await call({ _: 'users.getUsers', id: [{ _: 'inputUserSelf' }] }, { maxRetryCount: 0 }).then(
        () => true,
        () => false,
      )
      if (ok) break
      assert.ok(Date.now() - t1 < 5000, 'the backend is back within 5 s')
      await new Promise((r) => setTimeout(r, 100))
    }
    assert.equal((await call({ _: 'help.getConfig' }))._, 'config')
    assert.equal(e.server.sessions.sessionCount, 1)
  })
})

describe('GramJS (layer 198) through an upstream backend', () => {
  const Api = gramjs().Api as unknown as {
    users: { GetUsers: new (a: Record<string, unknown>) => unknown }
    InputUserSelf: new () => unknown
  }
  let up: TestUpstream
  let e: E2eServer
  let client: GramClient

  before(async () => {
    up = await startUpstream(backend({ slowMs: 0 }))
    e = await startE2eServer({ host: '127.0.79.16', config: routes(up) })
    client = gramjsClient({ host: e.host, key: e, transport: 'abridged', params: { connectionRetries: 2, retryDelay: 200, requestRetries: 1, autoReconnect: false } })
    await client.connect()
  })
  after(async () => {
    await client?.destroy()
    await e?.close()
    await up?.stop()
  })

  it("gets the backend's newest-layer `user` converted to layer 198", async () => {
    const users = await client.invoke<GramObject[]>(new Api.users.GetUsers({ id: [new Api.InputUserSelf()] }))
    const req = up.requests.find((r) => r.method === 'users.getUsers')!
    assert.equal(req.layer, 198)
    assert.equal(users.length, 1)
    assert.equal(users[0]!.className, 'User')
    assert.equal(users[0]!.firstName, 'L198')
    assert.equal(String(users[0]!.id), String(USER_ID))
  })
})

describe('a server stopping with an upstream call in flight', () => {
  it('drains: the call is answered before the connection closes', async () => {
    const state = { slowMs: 0 }
    const up = await startUpstream(backend(state))
    const e = await startE2eServer({ host: '127.0.0.1', tcpPort: 0, config: { ...routes(up), limits: { drain_timeout_ms: 5000 } } })
    const tg = await mtcuteClient({ host: e.host, port: e.tcpPort!, pem: e.publicPem })
    try {
      await tg.connect()
      // answered after 300 ms, within the route's 400 ms deadline, while the server is stopping
      state.slowMs = 300
      const pending = tg.call({ _: 'help.getAppConfig', hash: 0 })
      await waitFor(() => up.requests.some((r) => r.method === 'help.getAppConfig'), 5000, 'the call reached the backend')
      const stopping = e.close()
      assert.equal((await pending)._, 'help.appConfig')
      await stopping
      assert.equal(e.server.router.inFlight, 0)
    } finally {
      await tg.destroy().catch(() => undefined)
      await up.stop()
    }
  })
})
