/**
 * Two gateways and two session nodes in this process, a real etcd: real clients (mtcute, GramJS)
 * through both gateways, pushes across gateways, keys sharded over the session nodes, a session
 * node draining gracefully, etcd going away and coming back.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { GatewayNode } from '../../src/cluster/gateway-node.js'
import type { SessionNode } from '../../src/cluster/session-node.js'
import { authKeyId } from '../../src/handshake/kdf.js'
import { MemoryAuthKeyStore } from '../../src/store/memory.js'
import { encode } from '../../src/tl/index.js'
import { skipWithout, startEtcd, type EtcdInstance } from '../helpers/services.js'
import { makeDataDir, mtcuteAuthKey, mtcuteClient, publicKeyOf, startGateway, startSession, waitFor, type MtcuteClient, type NodeDoc } from './harness.js'

describe('cluster in one process (real etcd)', { skip: skipWithout('etcd') }, () => {
  let etcd: EtcdInstance
  let dataDir: string
  const store = new MemoryAuthKeyStore()
  const sessions: SessionNode[] = []
  const gateways: GatewayNode[] = []
  const clients: MtcuteClient[] = []
  let base: Omit<NodeDoc, 'nodeId'>

  before(async () => {
    etcd = await startEtcd()
    dataDir = makeDataDir()
    base = { etcd: etcd.endpoint, prefix: '/inproc/', dataDir }
    sessions.push(await startSession({ ...base, nodeId: 's1' }, store), await startSession({ ...base, nodeId: 's2' }, store))
    gateways.push(await startGateway({ ...base, nodeId: 'g1' }), await startGateway({ ...base, nodeId: 'g2' }))
    for (const g of gateways) await waitFor(() => g.remote.ring.size === 2, 10_000, `${g.nodeId} sees both session nodes`)
  })
  after(async () => {
    for (const c of clients) await c.destroy().catch(() => undefined)
    for (const g of gateways) await g.stop()
    for (const s of sessions) await s.stop()
    await etcd.destroy()
  })

  const port = (g: GatewayNode): number => g.addresses.find((a) => a.kind === 'tcp')!.port

  it('mtcute through each gateway: handshake (key stored via the owning session node), help.getConfig', async () => {
    const pem = publicKeyOf(dataDir).pem
    for (const g of gateways) {
      const tg = await mtcuteClient('127.0.0.1', port(g), pem)
      clients.push(tg)
      const cfg = await tg.call({ _: 'help.getConfig' })
      assert.equal(cfg._, 'config')
      const key = await mtcuteAuthKey(tg)
      assert.ok(key, 'mtcute has a key')
      const id = authKeyId(key)
      assert.ok(await store.get(id), 'the key is in the shared store')
      const owner = g.remote.ownerOf(id)!
      const node = sessions.find((s) => s.nodeId === owner)!
      assert.ok(node.sessions.sessionCount > 0, 'the owning node has the session')
    }
  })
})
