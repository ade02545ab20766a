/**
 * The admin port of cluster nodes (real etcd): a gateway is ready once a session node is known and
 * answers, a session node once registered; a key exchange and an RPC through the gateway move the
 * gateway's client-side series and the session node's RPC, session and store series; a gateway whose
 * last session node left is not ready.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { GatewayNode } from '../../src/cluster/gateway-node.js'
import type { SessionNode } from '../../src/cluster/session-node.js'
import { MemoryAuthKeyStore } from '../../src/store/memory.js'
import type { StatusSnapshot } from '../../src/admin/status.js'
import { get, value } from '../admin/scrape.js'
import { skipWithout, startEtcd, type EtcdInstance } from '../helpers/services.js'
import { httpClientThrough, makeDataDir, startGateway, startSession, waitFor } from './harness.js'

const ADMIN = { admin: { host: '127.0.0.1', port: 0 } }

describe('admin port of cluster nodes (real etcd)', { skip: skipWithout('etcd') }, () => {
  let etcd: EtcdInstance
  let session: SessionNode
  let gateway: GatewayNode

  before(async () => {
    etcd = await startEtcd()
    const base = { etcd: etcd.endpoint, prefix: '/admin/', dataDir: makeDataDir() }
    session = await startSession({ ...base, nodeId: 's1', extra: ADMIN }, new MemoryAuthKeyStore())
    gateway = await startGateway({ ...base, nodeId: 'g1', extra: { ...ADMIN, ws_port: 0 } })
    await waitFor(() => gateway.remote.ring.size === 1, 10_000, 'the gateway sees the session node')
  })
  after(async () => {
    await gateway.stop()
    await session.stop()
    await etcd.destroy()
  })

  it('both nodes are ready; a key exchange and an RPC through the gateway move both nodes\' metrics', async () => {
    for (const node of [gateway, session]) {
      const r = await get(node.adminAddress!, '/readyz')
      assert.equal(r.status, 200, `${node.nodeId}: ${r.body}`)
    }
    ;(await httpClientThrough(gateway)).close()
    const g = (await get(gateway.adminAddress!, '/metrics')).body
    assert.equal(value(g, 'mtgate_handshakes_completed_total'), 1)
    assert.ok(value(g, 'mtgate_messages_received_total') >= 1)
    assert.equal(value(g, 'mtgate_store_operation_duration_seconds_count', { op: 'put' }), 1, 'the key stored through the session node')
    assert.equal(value(g, 'mtgate_rpc_calls_total'), 0, 'RPCs run on session nodes')
    const s = (await get(session.adminAddress!, '/metrics')).body
    assert.equal(value(s, 'mtgate_rpc_calls_total', { method: 'help.getNearestDc', outcome: 'ok' }), 1)
    assert.equal(value(s, 'mtgate_sessions'), 1)
    assert.equal(value(s, 'mtgate_store_operation_duration_seconds_count', { op: 'put' }), 1)
    assert.equal(value(s, 'mtgate_connections_open', { transport: 'tcp' }), 0, 'no client listeners on a session node')
  })

  it('/status.json: each node knows the membership (itself marked), a gateway its connections, a session node its sessions', async () => {
    const http = await httpClientThrough(gateway)
    try {
      const g = JSON.parse((await get(gateway.adminAddress!, '/status.json')).body) as StatusSnapshot
      const s = JSON.parse((await get(session.adminAddress!, '/status.json')).body) as StatusSnapshot
      for (const [st, self] of [[g, 'g1'], [s, 's1']] as const) {
        assert.deepEqual(st.nodes.map((n) => [n.role, n.id, n.self]), [['gateway', 'g1', self === 'g1'], ['session', 's1', self === 's1']])
        assert.equal(st.etcdReachable, true)
      }
      assert.equal(g.role, 'gateway')
      assert.equal(g.connections!.byTransport.find((r) => r.transport === 'http')!.count, 2, 'the HTTP channels of this test and the previous one (idle, not closed yet)')
      assert.equal(g.connections!.total, 2)
      assert.equal(g.sessions, null, 'sessions live on the session nodes')
      assert.equal(g.authKeys.createdSinceStart, 2)
      assert.equal(s.role, 'session')
      assert.equal(s.connections, null)
      assert.equal(s.sessions, 2, 'this one and the previous test\'s')
      assert.equal(s.authKeys.loaded, 2)
      const page = await get(session.adminAddress!, '/')
      assert.match(page.body, /<title>mtgate session s1: status<\/title>/)
    } finally {
      http.close()
    }
  })

  it('a gateway without a session node is not ready; a drained session node is not either', async () => {
    const admin = session.adminAddress!
    const stopping = session.stop()
    const r = await get(admin, '/readyz')
    assert.deepEqual([r.status, JSON.parse(r.body)], [503, { ready: false, reason: 'draining' }])
    await stopping
    await waitFor(() => gateway.remote.ring.size === 0, 10_000, 'the gateway sees the session node leave')
    const g = await get(gateway.adminAddress!, '/readyz')
    assert.deepEqual([g.status, JSON.parse(g.body)], [503, { ready: false, reason: 'membership: no session node' }])
  })
})
