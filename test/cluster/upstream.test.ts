/**
 * The upstream bridge on a cluster session node (real etcd): an mtcute client through a gateway
 * gets answers from a gRPC backend the session node finds in etcd (a go-zero style key, as
 * Teamgram's services register), with the key's user binding; instances that come and go in etcd
 * are followed; the session node's Mtgate service pushes to the client and says where it is online.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { GatewayNode } from '../../src/cluster/gateway-node.js'
import type { SessionNode } from '../../src/cluster/session-node.js'
import { Etcd3 } from 'etcd3'
import { decode, encode, type TlObject } from '../../src/tl/index.js'
import { mtgateApi } from '../helpers/mtgate-api.js'
import { skipWithout, type EtcdInstance, startEtcd } from '../helpers/services.js'
import { startUpstream, type TestUpstream } from '../helpers/upstream.js'
import { makeDataDir, mtcuteClient, publicKeyOf, startGateway, startSession, waitFor, type MtcuteClient, type TlResult } from './harness.js'

describe('upstream backend behind a cluster session node (real etcd)', { skip: skipWithout('etcd') }, () => {
  let etcd: EtcdInstance
  let up: TestUpstream
  let session: SessionNode
  let gateway: GatewayNode
  let up2: TestUpstream
  let tg: MtcuteClient
  let kv: Etcd3

  /** The backend: account.updateStatus binds user 31; help.getAppConfig names the user and the instance. */
  const backend = (instance: number) =>
    startUpstream((req) => {
      const q = decode(req.query) as TlObject
      if (q._ === 'account.updateStatus') return { result: encode({ _: 'boolTrue' }), bindUserId: 31n }
      if (q._ === 'updates.getState') return { result: encode({ _: 'updates.state', pts: 1, qts: 0, date: Math.floor(Date.now() / 1000), seq: 0, unread_count: 0 }) }
      return { result: encode({ _: 'help.appConfig', hash: Number(req.userId) * 10 + instance, config: { _: 'jsonNull' } } as unknown as TlObject) }
    })

  before(async () => {
    etcd = await startEtcd()
    kv = new Etcd3({ hosts: etcd.endpoint })
    up = await backend(1)
    up2 = await backend(2)
    // go-zero's registration: <key>/<lease id> = host:port
    await kv.put('bff.bff/7587870000000001').value(up.address)
    const base = { etcd: etcd.endpoint, prefix: '/upstream/', dataDir: makeDataDir() }
    const etcdHost = etcd.endpoint.replace('http://', '')
    session = await startSession({
      ...base,
      nodeId: 's1',
      extra: {
        upstreams: [{ name: 'bff', discovery: { etcd: [etcdHost], key: 'bff.bff', interval_ms: 200 } }],
        routes: { 'help.getAppConfig': 'bff', 'account.': 'bff', 'updates.': 'bff' },
      },
    })
    gateway = await startGateway({ ...base, nodeId: 'g1' })
    await waitFor(() => gateway.remote.ring.size === 1, 10_000, 'the gateway sees the session node')
    const port = gateway.addresses.find((a) => a.kind === 'tcp')!.port
    tg = await mtcuteClient('127.0.0.1', port, publicKeyOf(base.dataDir).pem, true)
  })
  after(async () => {
    await tg?.destroy().catch(() => undefined)
    await gateway?.stop()
    await session?.stop()
    await up?.stop()
    await up2?.stop()
    kv?.close()
    await etcd?.destroy()
  })

  it('answers from the backend reach the client; the binding holds on the session node', async () => {
    const first = await tg.call({ _: 'help.getAppConfig', hash: 0 })
    assert.equal(first._, 'help.appConfig')
    assert.equal(first.hash, 1, 'no user yet, instance 1')
    assert.equal(await (tg.call({ _: 'account.updateStatus', offline: false }) as Promise<unknown>), true)
    const second = await tg.call({ _: 'help.getAppConfig', hash: 0 })
    assert.equal(second.hash, 311)
    assert.equal(up.requests.at(-1)!.userId, '31')
    assert.equal((await tg.call({ _: 'help.getConfig' }))._, 'config')
  })

  it('the instances in etcd are followed: a new one is called too, one that leaves is not', async () => {
    await kv.put('bff.bff/7587870000000002').value(up2.address)
    await waitFor(() => session.upstream!.connectedTargets('bff') === 2, 5000, 'both instances')
    const hashes = new Set<number>()
    for (let i = 0; i < 4; i++) hashes.add((await tg.call({ _: 'help.getAppConfig', hash: 0 })).hash as number)
    assert.deepEqual([...hashes].sort(), [311, 312])
    await kv.delete().key('bff.bff/7587870000000001')
    await waitFor(() => session.upstream!.connectedTargets('bff') === 1, 5000, 'one instance left')
    for (let i = 0; i < 3; i++) assert.equal((await tg.call({ _: 'help.getAppConfig', hash: 0 })).hash, 312)
  })

  it("the session node's Mtgate service: GetOnline names the node, Push reaches the client", async () => {
    const api = mtgateApi(session.address)
    try {
      const online = await api.getOnline([31n])
      assert.deepEqual(online.keys.map((k) => [k.userId, k.nodeId, k.sessions]), [['31', 's1', 1]])
      const got: TlResult[] = []
      ;(tg._client as unknown as { onServerUpdate: { add(cb: (u: TlResult) => void): void } }).onServerUpdate.add((u) => got.push(u))
      const date = Math.floor(Date.now() / 1000)
      const updates = encode({ _: 'updateShort', update: { _: 'updateUserStatus', user_id: 31n, status: { _: 'userStatusOnline', expires: date + 60 } }, date })
      assert.deepEqual(await api.push({ userId: '31', updates }), { sessions: '1', delivered: true })
      await waitFor(() => got.some((u) => (u as { update?: { _: string } }).update?._ === 'updateUserStatus'), 10_000, 'the push in mtcute')
    } finally {
      api.close()
    }
  })
})
