/**
 * The upstream bridge on a cluster session node (real etcd): an mtcute client through a gateway
 * gets answers from a gRPC backend configured on the session node, with the key's user binding.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { GatewayNode } from '../../src/cluster/gateway-node.js'
import type { SessionNode } from '../../src/cluster/session-node.js'
import { decode, encode, type TlObject } from '../../src/tl/index.js'
import { skipWithout, type EtcdInstance, startEtcd } from '../helpers/services.js'
import { startUpstream, type TestUpstream } from '../helpers/upstream.js'
import { makeDataDir, mtcuteClient, publicKeyOf, startGateway, startSession, waitFor, type MtcuteClient } from './harness.js'

describe('upstream backend behind a cluster session node (real etcd)', { skip: skipWithout('etcd') }, () => {
  let etcd: EtcdInstance
  let up: TestUpstream
  let session: SessionNode
  let gateway: GatewayNode
  let tg: MtcuteClient

  before(async () => {
    etcd = await startEtcd()
    up = await startUpstream((req) => {
      const q = decode(req.query) as TlObject
      if (q._ === 'account.updateStatus') return { result: encode({ _: 'boolTrue' }), bindUserId: 31n }
      return { result: encode({ _: 'help.appConfig', hash: Number(req.userId), config: { _: 'jsonNull' } } as unknown as TlObject) }
    })
    const base = { etcd: etcd.endpoint, prefix: '/upstream/', dataDir: makeDataDir() }
    session = await startSession({ ...base, nodeId: 's1', extra: { upstreams: [{ name: 'bff', targets: [up.address] }], routes: { 'help.getAppConfig': 'bff', 'account.': 'bff' } } })
    gateway = await startGateway({ ...base, nodeId: 'g1' })
    await waitFor(() => gateway.remote.ring.size === 1, 10_000, 'the gateway sees the session node')
    const port = gateway.addresses.find((a) => a.kind === 'tcp')!.port
    tg = await mtcuteClient('127.0.0.1', port, publicKeyOf(base.dataDir).pem)
  })
  after(async () => {
    await tg?.destroy().catch(() => undefined)
    await gateway?.stop()
    await session?.stop()
    await up?.stop()
    await etcd?.destroy()
  })

  it('answers from the backend reach the client; the binding holds on the session node', async () => {
    const first = await tg.call({ _: 'help.getAppConfig', hash: 0 })
    assert.equal(first._, 'help.appConfig')
    assert.equal(first.hash, 0)
    assert.equal(await (tg.call({ _: 'account.updateStatus', offline: false }) as Promise<unknown>), true)
    const second = await tg.call({ _: 'help.getAppConfig', hash: 0 })
    assert.equal(second.hash, 31)
    assert.equal(up.requests.at(-1)!.userId, '31')
    assert.equal((await tg.call({ _: 'help.getConfig' }))._, 'config')
  })
})
