/**
 * The Mtgate service a backend calls (config backend_api of `mtgate serve`), with real mtcute
 * clients behind a real gRPC upstream: pushes to a user (but one key), a key and one session;
 * deferred answers (PushRpcResult, and its timeout); presence (GetOnline, WatchPresence); a reply
 * closing the connection or destroying the authorization; bad requests refused.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as grpc from '@grpc/grpc-js'
import type { PbInvokeRequest } from '../../src/cluster/generated/proto.js'
import { decode, encode, type TlObject } from '../../src/tl/index.js'
import { mtcuteClient, type MtcuteClient, type TlResult } from '../helpers/mtcute.js'
import { mtgateApi, type MtgateApi } from '../helpers/mtgate-api.js'
import { startUpstream, type Reply, type TestUpstream } from '../helpers/upstream.js'
import { startE2eServer, waitFor, type E2eServer } from './harness.js'

const ALICE = 501n
const BOB = 502n
const now = (): number => Math.floor(Date.now() / 1000)

/** updateShort(updateUserStatus(user, online)): an Updates every client parses. */
function statusPush(userId: bigint): Buffer {
  return encode({ _: 'updateShort', update: { _: 'updateUserStatus', user_id: userId, status: { _: 'userStatusOnline', expires: now() + 60 } }, date: now() })
}

const appConfig = (hash: number): Buffer => encode({ _: 'help.appConfig', hash, config: { _: 'jsonObject', value: [] } } as unknown as TlObject)

/**
 * The backend: account.updateStatus binds the key to the user named by the client's device model;
 * help.getAppConfig is deferred; langpack.getLanguages closes the connection after its answer,
 * auth.logOut destroys the authorization; updates.getState answers a state.
 */
function backend(req: PbInvokeRequest): Reply {
  const q = decode(req.query) as TlObject
  switch (q._) {
    case 'account.updateStatus':
      return { result: encode({ _: 'boolTrue' }), bindUserId: req.client?.deviceModel === 'bob' ? BOB : ALICE }
    case 'updates.getState':
      return { result: encode({ _: 'updates.state', pts: 1, qts: 0, date: now(), seq: 0, unread_count: 0 }) }
    case 'help.getAppConfig':
      return { deferred: true }
    case 'langpack.getLanguages':
      // an empty Vector<LangPackLanguage>
      return { result: Buffer.from('15c4b51c00000000', 'hex'), closeConnection: true }
    case 'auth.logOut':
      return { result: encode({ _: 'auth.loggedOut' } as unknown as TlObject), destroyAuthKey: true }
    default:
      return { rpcError: { code: 400, message: 'NOT_HERE' } }
  }
}

describe('the Mtgate service of mtgate serve (backend_api)', () => {
  let up: TestUpstream
  let e: E2eServer
  let api: MtgateApi
  let alice: MtcuteClient
  let bob: MtcuteClient
  const got = new Map<MtcuteClient, TlResult[]>()

  const client = async (device: string): Promise<MtcuteClient> => {
    const tg = await mtcuteClient({ host: e.host, port: e.tcpPort!, pem: e.publicPem, updates: true, params: { initConnectionOptions: { deviceModel: device } } })
    const seen: TlResult[] = []
    got.set(tg, seen)
    ;(tg._client as unknown as { onServerUpdate: { add(cb: (u: TlResult) => void): void } }).onServerUpdate.add((u) => seen.push(u))
    await tg.connect()
    await tg.call({ _: 'account.updateStatus', offline: false })
    return tg
  }
  const keyOf = (userId: bigint): bigint => {
    const keys = e.server.sessions.presence.keys([userId])
    assert.equal(keys.length, 1, `one online key of user ${userId}`)
    return keys[0]!.authKeyId
  }

  before(async () => {
    up = await startUpstream(backend)
    e = await startE2eServer({
      host: '127.0.0.1',
      tcpPort: 0,
      config: {
        backend_api: '127.0.0.1:0',
        upstreams: [{ name: 'bff', targets: [up.address], result_timeout_ms: 1500 }],
        routes: { 'account.': 'bff', 'updates.': 'bff', 'help.getAppConfig': 'bff', 'langpack.': 'bff', 'auth.': 'bff' },
      },
    })
    api = mtgateApi(e.server.backendApiAddress!)
    alice = await client('alice')
    bob = await client('bob')
  })
  after(async () => {
    api?.close()
    await alice?.destroy()
    await bob?.destroy()
    await e?.close()
    await up?.stop()
  })

  it('GetOnline: each user with its one online key, its session count and the node', async () => {
    const r = await api.getOnline([ALICE, BOB, 999n])
    const byUser = new Map(r.keys.map((k) => [BigInt(k.userId), k]))
    assert.deepEqual([...byUser.keys()].sort(), [ALICE, BOB])
    assert.equal(byUser.get(BOB)!.sessions, 1)
    assert.equal(byUser.get(BOB)!.nodeId, 'e2e')
    assert.equal(BigInt(byUser.get(ALICE)!.authKeyId), keyOf(ALICE))
  })

  it('Push to a user reaches its client; to a user but its own key, nobody; to one session, that session', async () => {
    const before = got.get(bob)!.length
    assert.deepEqual(await api.push({ userId: String(BOB), updates: statusPush(BOB) }), { sessions: '1', delivered: true })
    await waitFor(() => got.get(bob)!.slice(before).some((u) => (u as { update?: { _: string } }).update?._ === 'updateUserStatus'), 10_000, 'the push in bob')
    const exceptOwn = await api.push({ userId: String(ALICE), exceptAuthKeyId: String(keyOf(ALICE)), updates: statusPush(ALICE) })
    assert.deepEqual(exceptOwn, { sessions: '0', delivered: false })
    const key = keyOf(ALICE)
    const sessionId = sessionOf(up, key)
    assert.deepEqual(await api.push({ session: { authKeyId: String(key), sessionId: String(sessionId) }, updates: statusPush(ALICE) }), { sessions: '1', delivered: true })
    assert.deepEqual(await api.push({ session: { authKeyId: String(key), sessionId: '12345' }, updates: statusPush(ALICE) }), { sessions: '0', delivered: false })
    assert.deepEqual(await api.push({ authKeyId: String(keyOf(BOB)), updates: statusPush(BOB) }), { sessions: '1', delivered: true })
  })

  it('Push refuses what is not a boxed Updates, and a request without a target (INVALID_ARGUMENT)', async () => {
    for (const [req, why] of [
      [{ userId: String(BOB), updates: Buffer.from('deadbeef', 'hex') }, /not TL/],
      [{ userId: String(BOB), updates: encode({ _: 'boolTrue' }) }, /boolTrue is not of type Updates/],
      [{ updates: statusPush(BOB) }, /no target/],
    ] as const) {
      await assert.rejects(api.push(req), (err: grpc.ServiceError) => err.code === grpc.status.INVALID_ARGUMENT && why.test(err.details))
    }
  })

  it('a deferred query is answered by PushRpcResult (once), and one never answered gets -503 Timeout at result_timeout_ms', async () => {
    const pending = alice.call({ _: 'help.getAppConfig', hash: 0 })
    await waitFor(() => up.requests.some((r) => r.method === 'help.getAppConfig'), 5000, 'the deferred call reached the backend')
    const req = up.requests.find((r) => r.method === 'help.getAppConfig')!
    const ref = { authKeyId: req.authKeyId, sessionId: req.sessionId, msgId: req.msgId }
    assert.deepEqual(await api.pushRpcResult({ ...ref, result: appConfig(77) }), { sessions: '1', delivered: true })
    assert.equal(((await pending) as unknown as { hash: number }).hash, 77)
    assert.deepEqual(await api.pushRpcResult({ ...ref, result: appConfig(78) }), { sessions: '0', delivered: false })

    const t0 = Date.now()
    await assert.rejects(
      (alice.call as (r: object, p: object) => Promise<unknown>)({ _: 'help.getAppConfig', hash: 1 }, { maxRetryCount: 0, throw503: true }),
      (err: Error) => err.constructor.name === 'MtTimeoutError',
    )
    assert.ok(Date.now() - t0 >= 1400, `answered after ${Date.now() - t0} ms`)
  })

  it('WatchPresence: a snapshot of the online keys, then offline / online as a client comes and goes', async () => {
    const w = api.watch([BOB])
    await waitFor(() => w.events.length >= 1, 5000, 'the snapshot')
    assert.deepEqual(w.events.map((ev) => [ev.key!.userId, ev.online, ev.snapshot]), [[String(BOB), true, true]])
    await bob.destroy()
    await waitFor(() => w.events.length >= 2, 10_000, 'bob offline')
    assert.deepEqual([w.events[1]!.key!.userId, w.events[1]!.online, w.events[1]!.snapshot, w.events[1]!.key!.sessions], [String(BOB), false, false, 0])
    bob = await client('bob')
    await waitFor(() => w.events.some((ev, i) => i >= 2 && ev.online && ev.key!.userId === String(BOB)), 10_000, 'bob online again')
    assert.ok(w.events.every((ev) => ev.key!.userId === String(BOB)), 'only the user asked for')
    w.stream.cancel()
  })

  it('close_connection: the answer arrives, then the connection closes; the client reconnects on the same key', async () => {
    const key = keyOf(ALICE)
    const conns = e.server.connectionCount
    const langs = await alice.call({ _: 'langpack.getLanguages', langPack: '' })
    assert.deepEqual(langs, [])
    await waitFor(() => e.server.connectionCount < conns, 5000, 'the connection closed')
    await alice.call({ _: 'account.updateStatus', offline: false })
    assert.equal(keyOf(ALICE), key)
  })

  it('destroy_auth_key: the answer arrives, the key leaves the store and presence, and its connection closes', async () => {
    const key = keyOf(ALICE)
    const r = await alice.call({ _: 'auth.logOut' })
    assert.equal(r._, 'auth.loggedOut')
    // the store write follows the answer
    for (let t0 = Date.now(); (await e.server.store.get(key)) !== undefined; await new Promise((r) => setTimeout(r, 20))) {
      assert.ok(Date.now() - t0 < 5000, 'the key left the store within 5 s')
    }
    await waitFor(() => e.server.sessions.presence.keys([ALICE]).length === 0, 5000, 'alice offline')
    assert.equal(e.server.sessions.session(key, sessionOf(up, key)), undefined)
  })
})

/** The session of the key's last call to the backend. */
function sessionOf(up: TestUpstream, authKeyId: bigint): bigint {
  const req = [...up.requests].reverse().find((r) => BigInt(r.authKeyId) === authKeyId)
  assert.ok(req, `a call on key ${authKeyId}`)
  return BigInt(req.sessionId)
}
