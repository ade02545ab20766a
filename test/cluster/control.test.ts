/**
 * Session control over gRPC with a real etcd and session nodes in this process (no gateway needed):
 * CreateSession / CloseSession reach the node owning the key from any node, SaveState / LoadState
 * through the gateway's RemoteAuthKeyStore, pushes fanned out to every node (a permanent key's
 * sessions include those of bound temp keys placed elsewhere; a user's keys are spread), and keys
 * forgotten by a node the ring no longer assigns them to.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import { CHANNEL_OPTIONS, clientCredentials } from '../../src/cluster/grpc.js'
import { i64, protos, type PbBoolReply, type SessionClient } from '../../src/cluster/proto.js'
import { RemoteAuthKeyStore } from '../../src/cluster/remote-store.js'
import { RemoteSessions } from '../../src/cluster/remote-sessions.js'
import { SessionNode } from '../../src/cluster/session-node.js'
import { AuthKey } from '../../src/crypto/message.js'
import { msToMsgId } from '../../src/session/msg-id.js'
import { MemoryAuthKeyStore } from '../../src/store/memory.js'
import { AuthKeyType } from '../../src/store/types.js'
import { encode } from '../../src/tl/index.js'
import { rootLogger } from '../../src/util/log.js'
import { skipWithout, type EtcdInstance, startEtcd } from '../helpers/services.js'
import { clusterConfig, makeDataDir, waitFor, type NodeDoc } from './harness.js'

const push = (): Buffer => encode({ _: 'updatesTooLong' })

describe('session control, push routing and moved keys (real etcd)', { skip: skipWithout('etcd') }, () => {
  let etcd: EtcdInstance
  const store = new MemoryAuthKeyStore()
  const nodes: SessionNode[] = []
  const clients: SessionClient[] = []
  let base: Omit<NodeDoc, 'nodeId'>

  const start = async (nodeId: string): Promise<SessionNode> => {
    const n = await SessionNode.start(clusterConfig({ ...base, nodeId }), { store, registryIntervalMs: 300, movedKeyGraceMs: 400 })
    nodes.push(n)
    return n
  }
  const client = (n: SessionNode): SessionClient => {
    const c = new (protos().SessionClient)(n.address, clientCredentials(undefined), CHANNEL_OPTIONS)
    clients.push(c)
    return c
  }
  const call = (c: SessionClient, name: 'CreateSession' | 'CloseSession', authKeyId: bigint, sessionId: bigint): Promise<boolean> =>
    new Promise((resolve, reject) =>
      c[name]({ authKeyId: i64(authKeyId), sessionId: i64(sessionId), forwarded: false }, new grpc.Metadata(), { deadline: Date.now() + 3000 }, (err, res?: PbBoolReply) =>
        err ? reject(err) : resolve(res!.value),
      ),
    )
  const newKey = async (): Promise<bigint> => {
    const key = new AuthKey(randomBytes(256))
    await store.put({ id: key.id, key: key.key, type: AuthKeyType.perm, createdAt: Math.floor(Date.now() / 1000) })
    return key.id
  }
  /** A stored key the ring of `nodes` assigns to `owner`. */
  const keyOwnedBy = async (owner: SessionNode): Promise<bigint> => {
    for (;;) {
      const id = await newKey()
      if (owner.ring.owner(id) === owner.nodeId) return id
    }
  }

  before(async () => {
    etcd = await startEtcd()
    base = { etcd: etcd.endpoint, prefix: '/control/', dataDir: makeDataDir() }
    await start('s1')
    await start('s2')
    for (const n of nodes) await waitFor(() => n.ring.size === 2, 10_000, `${n.nodeId} sees both nodes`)
  })
  after(async () => {
    for (const c of clients) c.close()
    for (const n of nodes) await n.stop()
    await etcd.destroy()
  })

  it('CreateSession / CloseSession sent to the node that does not own the key reach the owner (forwarded once)', async () => {
    const [s1, s2] = nodes as [SessionNode, SessionNode]
    const id = await keyOwnedBy(s2)
    const c1 = client(s1)
    const forwardedBefore = s1.stats.forwarded
    assert.equal(await call(c1, 'CreateSession', id, 10n), true)
    assert.equal(await call(c1, 'CreateSession', id, 10n), false)
    assert.equal(s1.stats.forwarded, forwardedBefore + 2)
    assert.ok(s2.sessions.session(id, 10n), 'the session lives on the owner')
    assert.equal(s1.sessions.session(id, 10n), undefined)
    // to the owner directly: not forwarded
    assert.equal(await call(client(s2), 'CreateSession', id, 11n), true)
    assert.equal(s2.sessions.sessionCount >= 2, true)
    assert.equal(await call(c1, 'CloseSession', id, 10n), true)
    assert.equal(await call(c1, 'CloseSession', id, 10n), false)
    assert.equal(s2.sessions.session(id, 10n), undefined)
    assert.ok(s2.sessions.session(id, 11n), 'the other session stays')
    // an unknown key: NOT_FOUND, through the forwarding node too
    const unknown = new AuthKey(randomBytes(256)).id
    for (const c of [c1, client(s2)]) {
      await assert.rejects(call(c, 'CreateSession', unknown, 1n), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND)
    }
    // the SessionNode method routes the same way
    assert.equal(await s1.createSession(id, 12n), true)
    assert.ok(s2.sessions.session(id, 12n))
    assert.equal(await s1.closeSession(id, 12n), true)
  })

  it('SaveState / LoadState through the gateway-side RemoteAuthKeyStore', async () => {
    const remote = new RemoteSessions({ gatewayId: 'gtest', log: rootLogger, tls: undefined, callTimeoutMs: 2000, streamQueueMax: 1000 })
    try {
      remote.setMembers(nodes.map((n) => ({ id: n.nodeId, address: n.address })))
      await waitFor(() => remote.ring.size === 2, 10_000, 'remote ring up')
      const rs = new RemoteAuthKeyStore(remote)
      const id = await newKey()
      assert.equal(await rs.loadState(id), undefined)
      await rs.saveState(id, { userId: -5n, layer: 198, client: '{"a":1}' })
      assert.deepEqual(await rs.loadState(id), { userId: -5n, layer: 198, client: '{"a":1}' })
      await rs.saveState(id, { layer: 0 })
      assert.deepEqual(await rs.loadState(id), { layer: 0 })
      assert.deepEqual(await store.loadState(id), { layer: 0 })
      // the store's validation comes back as StoreError('invalid')
      await assert.rejects(rs.saveState(id, { client: 'x'.repeat(20_000) }), (e: Error & { code?: string }) => e.name === 'StoreError' && e.code === 'invalid')
    } finally {
      remote.close()
    }
  })

  it('a push to a permanent key reaches the sessions of a temp key bound to it on another node; a push to a user reaches every node', async () => {
    const [s1, s2] = nodes as [SessionNode, SessionNode]
    const perm = await keyOwnedBy(s1)
    const k2 = await keyOwnedBy(s2)
    // a PFS client: a temp key the ring puts on s2, bound to the permanent key owned by s1
    let temp: bigint
    for (;;) {
      const k = new AuthKey(randomBytes(256))
      if (s1.ring.owner(k.id) !== s2.nodeId) continue
      const now = Math.floor(Date.now() / 1000)
      await store.put({ id: k.id, key: k.key, type: AuthKeyType.temp, createdAt: now, expiresAt: now + 3600 })
      await store.bind({ tempId: k.id, permId: perm, type: AuthKeyType.temp, expiresAt: now + 3600 })
      temp = k.id
      break
    }
    await store.saveState(perm, { userId: 777n })
    await store.saveState(k2, { userId: 777n })
    await s2.createSession(perm, 1n) // forwarded to s1
    await s1.createSession(temp, 2n) // forwarded to s2
    await s1.createSession(k2, 1n) // forwarded to s2
    assert.equal(await s1.push({ authKeyId: perm }, push()), 2, 'the permanent key on s1 and its temp key on s2')
    assert.equal(await s2.push({ authKeyId: perm }, push()), 2)
    assert.equal(await s1.push({ authKeyId: temp }, push()), 1, 'the temp key alone')
    assert.equal(await s1.push({ authKeyId: k2 }, push()), 1)
    // the user's keys (and the temp key acting for one of them) are on both nodes
    assert.equal(await s1.push({ userId: 777n }, push()), 3)
    assert.equal(await s2.push({ userId: 777n }, push()), 3)
    assert.equal(await s1.closeSession(temp, 2n), true)
    assert.equal(await s2.push({ userId: 777n }, push()), 2)
    assert.equal(await s1.push({ userId: 778n }, push()), 0)
  })

  it('a node joins: keys it now owns are forgotten by the old owners after the grace delay (logged), the rest stay; moving back starts clean', async () => {
    const [s1, s2] = nodes as [SessionNode, SessionNode]
    const ids: bigint[] = []
    for (let i = 0; i < 24; i++) {
      const id = await newKey()
      await s1.createSession(id, 5n)
      ids.push(id)
    }
    const before = new Map(ids.map((id) => [id, s1.ring.owner(id)!]))
    const s3 = await start('s3')
    for (const n of nodes) await waitFor(() => n.ring.size === 3, 10_000, `${n.nodeId} sees s3`)
    const moved = ids.filter((id) => s3.ring.owner(id) === 's3')
    assert.ok(moved.length > 0 && moved.length < ids.length, `some keys moved (${moved.length})`)
    for (const id of ids) if (s3.ring.owner(id) !== 's3') assert.equal(s1.ring.owner(id), before.get(id), 'only keys of s3 moved')
    // still there during the grace delay, gone after it
    const holder = (id: bigint): SessionNode => nodes.find((n) => n.nodeId === before.get(id))!
    assert.ok(moved.every((id) => holder(id).sessions.session(id, 5n)))
    // one moved key still gets traffic after the change (a gateway that has not moved yet): kept
    // by the first sweep, dropped by a later one once it is quiet
    const [busy, ...quiet] = moved as [bigint, ...bigint[]]
    const h = holder(busy).sessions
    h.sendData({
      gatewayId: 'gx',
      connId: 'gx#c1',
      clientAddr: '127.0.0.1:1',
      dcId: 2,
      transport: 'tcp',
      authKeyId: busy,
      salt: h.saltOf(busy)!,
      sessionId: 6n,
      msgId: msToMsgId(Date.now()) & ~3n,
      seqNo: 1,
      body: encode({ _: 'ping', ping_id: 1n }),
      receivedAt: Date.now(),
    })
    assert.ok(h.session(busy, 6n)?.conn, 'a session with a connection')
    await waitFor(() => quiet.every((id) => holder(id).sessions.session(id, 5n) === undefined), 5000, 'moved keys forgotten')
    assert.ok(holder(busy).sessions.session(busy, 6n), 'the key active after the change is kept for now')
    await waitFor(() => holder(busy).sessions.session(busy, 6n) === undefined, 5000, 'the busy key forgotten once quiet')
    for (const id of ids) if (!moved.includes(id)) assert.ok(holder(id).sessions.session(id, 5n), 'keys that did not move stay')
    assert.ok(s1.stats.movedKeysDropped + s2.stats.movedKeysDropped >= moved.length)
    // s3 leaves again (drain): the keys come back to their old owners and start clean
    await s3.stop()
    nodes.splice(nodes.indexOf(s3), 1)
    for (const n of nodes) await waitFor(() => n.ring.size === 2, 10_000, `${n.nodeId} sees s3 gone`)
    for (const id of moved) assert.equal(await s1.createSession(id, 5n), true, 'a fresh session, not the old one')
  })

  it('the owner unreachable but still registered (dead, lease not expired): CreateSession and pushes go to the next node for the key', async () => {
    const [s1] = nodes as [SessionNode, SessionNode]
    const s4 = await start('s4')
    for (const n of nodes) await waitFor(() => n.ring.size === 3, 10_000, `${n.nodeId} sees s4`)
    const id = await keyOwnedBy(s4)
    // s4's gRPC server dies; its etcd registration stays until it stops
    ;(s4 as unknown as { grpc: { server: grpc.Server } }).grpc.server.forceShutdown()
    const next = s1.ring.preference(id)[1]!
    assert.equal(await s1.createSession(id, 3n), true)
    assert.ok(nodes.find((n) => n.nodeId === next)!.sessions.session(id, 3n), `created on ${next}`)
    // a push to the key reaches it there too
    assert.equal(await s1.push({ authKeyId: id }, push()), 1)
    await s4.stop()
    nodes.splice(nodes.indexOf(s4), 1)
  })
})
