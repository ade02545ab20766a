/**
 * Two gateways and two session nodes in this process, a real etcd: real clients (mtcute, GramJS)
 * through both gateways, a push reaching a client through the other gateway, all sessions of one
 * key on one node, a session node draining gracefully under traffic, etcd going away and back.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { GatewayNode } from '../../src/cluster/gateway-node.js'
import type { SessionNode } from '../../src/cluster/session-node.js'
import { AuthKey, authKeyId } from '../../src/crypto/message.js'
import { MemoryAuthKeyStore } from '../../src/store/memory.js'
import { AuthKeyType } from '../../src/store/types.js'
import { encode, type TlObject } from '../../src/tl/index.js'
import { clientHandshake } from '../../src/handshake/client.js'
import { loadKeySet } from '../../src/handshake/rsa-keyset.js'
import { HttpMtClient } from '../e2e/http-client.js'
import { RawClient } from '../e2e/raw-client.js'
import { skipWithout, type EtcdInstance, startEtcd } from '../helpers/services.js'
import {
  gramjs,
  gramjsClient,
  makeDataDir,
  mtcuteAuthKey,
  mtcuteClient,
  publicKeyOf,
  startGateway,
  startSession,
  waitFor,
  type GramClient,
  type MtcuteClient,
  type NodeDoc,
} from './harness.js'

const HOSTS = ['127.0.51.1', '127.0.51.2'] // GramJS dials port 80 only: one loopback address per gateway

/** updateShort(updateConfig): the same in every layer, every client parses it. */
function configPush(): Buffer {
  return encode({ _: 'updateShort', update: { _: 'updateConfig' }, date: Math.floor(Date.now() / 1000) })
}

async function storedRawKey(store: MemoryAuthKeyStore): Promise<AuthKey> {
  const key = new AuthKey(randomBytes(256))
  await store.put({ id: key.id, key: key.key, type: AuthKeyType.perm, createdAt: Math.floor(Date.now() / 1000) })
  return key
}

describe('cluster in one process (real etcd)', { skip: skipWithout('etcd') }, () => {
  let etcd: EtcdInstance
  let dataDir: string
  const store = new MemoryAuthKeyStore()
  const sessions: SessionNode[] = []
  const gateways: GatewayNode[] = []
  const mtcute: MtcuteClient[] = []
  const gram: GramClient[] = []
  const raws: RawClient[] = []
  let base: Omit<NodeDoc, 'nodeId'>

  before(async () => {
    etcd = await startEtcd()
    dataDir = makeDataDir()
    base = { etcd: etcd.endpoint, prefix: '/inproc/', dataDir }
    sessions.push(await startSession({ ...base, nodeId: 's1' }, store), await startSession({ ...base, nodeId: 's2' }, store))
    for (const [i, host] of HOSTS.entries()) gateways.push(await startGateway({ ...base, nodeId: `g${i + 1}`, host, tcpPort: 80, extra: { ws_port: 0 } }))
    for (const g of gateways) await waitFor(() => g.remote.ring.size === 2, 10_000, `${g.nodeId} sees both session nodes`)
  })
  after(async () => {
    for (const r of raws) r.close()
    for (const c of mtcute) await c.destroy().catch(() => undefined)
    for (const c of gram) await Promise.race([c.destroy().catch(() => undefined), sleep(2000)])
    for (const g of gateways) await g.stop()
    for (const s of sessions) await s.stop()
    await etcd.destroy()
  })

  const nodeOf = (id: string): SessionNode => sessions.find((s) => s.nodeId === id)!

  it('mtcute through each gateway: handshake (the key is stored through the owning session node), help.getConfig', async () => {
    const pem = publicKeyOf(dataDir).pem
    for (const [i, g] of gateways.entries()) {
      const tg = await mtcuteClient(HOSTS[i]!, 80, pem)
      mtcute.push(tg)
      const cfg = await tg.call({ _: 'help.getConfig' })
      assert.equal(cfg._, 'config')
      assert.equal(cfg.thisDc, 2)
      const key = await mtcuteAuthKey(tg)
      assert.ok(key, 'mtcute holds a key')
      const id = authKeyId(key)
      assert.ok(await store.get(id), 'the key is in the store')
      const owner = g.remote.ownerOf(id)!
      assert.equal(gateways[1 - i]!.remote.ownerOf(id), owner, 'both gateways agree on the owner')
      assert.ok(nodeOf(owner).sessions.sessionCount > 0, 'the owning node holds the session')
      const nearest = await tg.call({ _: 'help.getNearestDc' })
      assert.equal(nearest._, 'nearestDc')
    }
  })

  it('GramJS through each gateway: connect (invokeWithLayer + initConnection), parallel invokes', async () => {
    const { Api } = gramjs()
    const key = publicKeyOf(dataDir)
    for (const host of HOSTS) {
      const c = gramjsClient(host, key)
      gram.push(c)
      await c.connect()
      const cfg = await c.invoke<{ className: string; thisDc: number }>(new Api.help.GetConfig())
      assert.equal(cfg.className, 'Config')
      const rs = await Promise.all(Array.from({ length: 10 }, () => c.invoke<{ className: string }>(new Api.help.GetNearestDc())))
      for (const r of rs) assert.equal(r.className, 'NearestDc')
    }
  })

  it('a push from any session node reaches a GramJS client connected through the other gateway', async () => {
    const { Raw } = gramjs()
    const client = gram[1]! // through g2
    const key = client.session.getAuthKey()?.getKey()
    assert.ok(key)
    const id = authKeyId(key)
    const owner = gateways[0]!.remote.ownerOf(id)!
    const other = sessions.find((s) => s.nodeId !== owner)!
    const got: { className: string }[] = []
    client.addEventHandler((u) => got.push(u), new Raw({}))
    // pushed from the node that does NOT own the key: it is routed to the owner (the ring)
    const n = await other.push({ authKeyId: id }, configPush())
    assert.ok(n >= 1, `reached ${n} sessions`)
    await waitFor(() => got.some((u) => u.className === 'UpdateConfig'), 10_000, 'UpdateConfig at the GramJS client')
  })

  it('MTProto over HTTP through a gateway: key exchange, a query, a push from the other session node through the long poll', async () => {
    const g = gateways[0]!
    const port = g.addresses.find((a) => a.kind === 'ws')!.port
    const c = new HttpMtClient(`http://${HOSTS[0]}:${port}`)
    try {
      const r = await clientHandshake(c.plain, { publicKeys: loadKeySet(dataDir).all().map((k) => k.publicKey), dcId: 2 })
      c.useKey(r.authKey, r.serverSalt)
      const got = await c.until((await c.send(encode({ _: 'help.getNearestDc' }), true)).messages, (m) => m.result?._ === 'nearestDc')
      assert.ok(got.some((m) => m.result?._ === 'nearestDc'))
      const owner = g.remote.ownerOf(r.authKeyId)!
      const other = sessions.find((s) => s.nodeId !== owner)!
      const poll = c.poll(0, 0, 10_000)
      await sleep(100)
      assert.equal(await other.push({ authKeyId: r.authKeyId, sessionId: c.sessionId }, configPush()), 1)
      const pushed = await c.until((await poll).messages, (m) => m.obj?._ === 'updateShort')
      assert.ok(pushed.some((m) => m.obj?._ === 'updateShort'))
    } finally {
      c.close()
    }
  })

  it('all sessions of one auth key meet on one node, whichever gateway they come through', async () => {
    const key = await storedRawKey(store)
    const a = await RawClient.connect({ host: HOSTS[0]!, port: 80, key })
    const b = await RawClient.connect({ host: HOSTS[1]!, port: 80, key })
    raws.push(a, b)
    assert.equal(((await a.invoke({ _: 'help.getNearestDc' })) as TlObject)._, 'nearestDc')
    assert.equal(((await b.invoke({ _: 'help.getNearestDc' })) as TlObject)._, 'nearestDc')
    const owner = nodeOf(gateways[0]!.remote.ownerOf(key.id)!)
    assert.ok(owner.sessions.session(key.id, a.sessionId))
    assert.ok(owner.sessions.session(key.id, b.sessionId))
    for (const s of sessions) if (s !== owner) assert.equal(s.sessions.session(key.id, a.sessionId), undefined)
    // a push to the key reaches both sessions (two gateways)
    const n = await owner.push({ authKeyId: key.id }, configPush())
    assert.equal(n, 2)
    await waitFor(() => a.log.pushes.length > 0 && b.log.pushes.length > 0, 5000, 'both raw clients got the push')
  })

  it('a session node draining (SIGTERM path) under traffic: every request is answered, no connection closes', async () => {
    const s3 = await startSession({ ...base, nodeId: 's3' }, store)
    sessions.push(s3)
    for (const g of gateways) await waitFor(() => g.remote.ring.size === 3, 10_000, 'ring of 3')
    // keys owned by s3
    const keys: AuthKey[] = []
    while (keys.length < 3) {
      const k = await storedRawKey(store)
      if (gateways[0]!.remote.ownerOf(k.id) === 's3') keys.push(k)
    }
    const clients = await Promise.all(keys.map((key, i) => RawClient.connect({ host: HOSTS[i % 2]!, port: 80, key })))
    raws.push(...clients)
    for (const c of clients) await c.invoke({ _: 'help.getNearestDc' })
    assert.ok(s3.sessions.sessionCount >= 3)
    let answered = 0
    let running = true
    const errors: string[] = []
    const load = clients.map(async (c) => {
      while (running) {
        try {
          const r = (await c.invoke({ _: 'help.getNearestDc' })) as TlObject
          if (r._ !== 'nearestDc') errors.push(`answer ${r._}`)
          answered++
        } catch (e) {
          errors.push((e as Error).message)
          return
        }
      }
    })
    await sleep(200)
    const stopped = s3.stop()
    await stopped
    sessions.splice(sessions.indexOf(s3), 1)
    const at = answered
    await waitFor(() => answered > at + 30, 10_000, 'traffic continues on the other nodes')
    running = false
    await Promise.all(load)
    assert.deepEqual(errors, [])
    for (const c of clients) assert.equal(c.isClosed, false, 'the client connection stayed open')
    for (const g of gateways) assert.deepEqual(g.remote.ring.members, ['s1', 's2'])
  })

  it('etcd stopped: traffic continues and membership is kept; restarted: a node joining afterwards is found', async () => {
    const key = await storedRawKey(store)
    const c = await RawClient.connect({ host: HOSTS[0]!, port: 80, key })
    raws.push(c)
    await etcd.kill()
    await waitFor(() => gateways.every((g) => !g.registry.etcdReachable), 10_000, 'gateways notice etcd is gone')
    // longer than the lease TTL (3 s): nothing is forgotten, nothing stops
    const t0 = Date.now()
    let n = 0
    while (Date.now() - t0 < 4500) {
      assert.equal(((await c.invoke({ _: 'help.getNearestDc' })) as TlObject)._, 'nearestDc')
      n++
      await sleep(50)
    }
    assert.ok(n > 20)
    for (const g of gateways) assert.deepEqual(g.remote.ring.members, ['s1', 's2'])
    await etcd.start()
    await waitFor(() => gateways.every((g) => g.registry.etcdReachable && g.registry.isRegistered), 20_000, 'gateways back in etcd')
    const s4 = await startSession({ ...base, nodeId: 's4' }, store)
    sessions.push(s4)
    for (const g of gateways) await waitFor(() => g.remote.ring.members.join() === 's1,s2,s4', 15_000, `${g.nodeId} finds s4`)
    // the key may have moved to s4: the client goes on (new_session_created at most)
    assert.equal(((await c.invoke({ _: 'help.getNearestDc' })) as TlObject)._, 'nearestDc')
  })
  it('a gateway draining (SIGTERM path): answers still reach its clients, then their connections close; it leaves etcd', async () => {
    const key = await storedRawKey(store)
    const c = await RawClient.connect({ host: HOSTS[1]!, port: 80, key })
    raws.push(c)
    const g2 = gateways[1]!
    assert.equal(((await c.invoke({ _: 'help.getNearestDc' })) as TlObject)._, 'nearestDc')
    const answer = c.invoke({ _: 'help.getNearestDc' })
    const stopped = g2.stop()
    assert.equal(((await answer) as TlObject)._, 'nearestDc', 'the request in flight was answered')
    await stopped
    await waitFor(() => c.isClosed, 5000, 'the client connection closed')
    const g1 = gateways[0]!
    await waitFor(() => !g1.registry.members('gateway').some((m) => m.id === 'g2'), 5000, 'g2 gone from etcd')
    // the other gateway still serves the same key
    const again = await RawClient.connect({ host: HOSTS[0]!, port: 80, key })
    raws.push(again)
    assert.equal(((await again.invoke({ _: 'help.getNearestDc' })) as TlObject)._, 'nearestDc')
  })
})
