/**
 * Nodes as child processes (so they can be killed -9), a real etcd, a shared SQLite store, a TCP
 * balancer in front of two gateways, mtcute clients through the balancer:
 * - kill -9 the session node owning a client's key under traffic: the client recovers without a new
 *   handshake (same auth key) within a bounded time, served by the other node; start the node
 *   again: the key moves back to it.
 * - a user id a handler bound on the killed node is in the store: after the client comes back on
 *   the other node, a push to the user reaches it.
 * - kill -9 a gateway: its clients reconnect through the balancer to the other one, same key.
 *
 * Which node served a call is visible: the session children answer help.getNearestDc with their
 * node id as `country` (test/cluster/node-main.ts).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import * as grpc from '@grpc/grpc-js'
import { CHANNEL_OPTIONS, clientCredentials } from '../../src/cluster/grpc.js'
import { i64, protos } from '../../src/cluster/proto.js'
import { RendezvousRing } from '../../src/cluster/ring.js'
import { encode } from '../../src/tl/index.js'
import { authKeyId } from '../../src/crypto/message.js'
import { skipWithout, freePort, type EtcdInstance, startEtcd } from '../helpers/services.js'
import { Balancer, gramjs, gramjsClient, makeDataDir, mtcuteAuthKey, mtcuteClient, nodeDoc, publicKeyOf, spawnNode, type ChildNode, type GramClient, type MtcuteClient } from './harness.js'

/**
 * A call not answered in this time is given up and a new one made. GramJS 2.26 needs it: when its
 * connection is closed it re-sends its pending requests on the closing socket before reconnecting
 * (visible with GRAMJS_LOG=debug), so a request in flight at that moment is never answered; its
 * next request is. mtcute re-sends after reconnecting.
 */
const CALL_TIMEOUT_MS = 5_000
/** GramJS dials port 80 only: a second balancer on its own loopback address. */
const GRAM_HOST = '127.0.52.1'

/** A client of either library: one call, answered with the serving node's id. */
interface AnyClient {
  name: string
  servedBy(): Promise<string>
  keyId(): Promise<bigint>
}

function withTimeout<T>(p: Promise<T>): Promise<T> {
  return Promise.race([
    p,
    sleep(CALL_TIMEOUT_MS).then(() => {
      throw new Error('call timed out')
    }),
  ])
}

function wrapMtcute(tg: MtcuteClient, name: string): AnyClient {
  return {
    name,
    async servedBy() {
      const r = await withTimeout(tg.call({ _: 'help.getNearestDc' }))
      assert.equal(r._, 'nearestDc')
      return r.country as string
    },
    async keyId() {
      return authKeyId((await mtcuteAuthKey(tg))!)
    },
  }
}

function wrapGram(c: GramClient, name: string): AnyClient {
  const { Api } = gramjs()
  return {
    name,
    async servedBy() {
      const r = await withTimeout(c.invoke<{ className: string; country: string }>(new Api.help.GetNearestDc()))
      assert.equal(r.className, 'NearestDc')
      return r.country
    },
    async keyId() {
      return authKeyId(c.session.getAuthKey()!.getKey()!)
    },
  }
}

/** Push(user, fan_out) to a session node over gRPC; resolves the count. */
function pushToUser(address: string, userId: bigint): Promise<number> {
  const c = new (protos().SessionClient)(address, clientCredentials(undefined), CHANNEL_OPTIONS)
  const body = encode({ _: 'updateShort', update: { _: 'updateConfig' }, date: Math.floor(Date.now() / 1000) })
  return new Promise<number>((resolve, reject) => {
    c.Push({ userId: i64(userId), sessionId: '0', exceptAuthKeyId: '0', body, fanOut: true }, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, res) => {
      c.close()
      if (err) reject(err)
      else resolve(Number(res?.count ?? 0))
    })
  })
}

describe('cluster failover with nodes as child processes (real etcd, kill -9)', { skip: skipWithout('etcd') }, () => {
  let etcd: EtcdInstance
  let dir: string
  let dataDir: string
  const children = new Map<string, ChildNode>()
  const mtcute: MtcuteClient[] = []
  const gram: GramClient[] = []
  const clients: AnyClient[] = []
  const keys = new Map<AnyClient, bigint>()
  let lb: Balancer
  let lbGram: Balancer
  let docBase: (id: string, tcpPort?: number) => Record<string, unknown>

  before(async () => {
    etcd = await startEtcd()
    dir = mkdtempSync(join(tmpdir(), 'mtgate-failover-'))
    dataDir = makeDataDir()
    const sqlite = join(dir, 'keys.sqlite')
    docBase = (id, tcpPort) =>
      nodeDoc({
        nodeId: id,
        etcd: etcd.endpoint,
        prefix: '/failover/',
        dataDir,
        tcpPort,
        leaseTtl: 3,
        extra: { store: { backend: 'sqlite', sqlite_path: sqlite }, limits: { drain_timeout_ms: 2000 } },
      })
    for (const id of ['s1', 's2']) children.set(id, await spawnNode('session', docBase(id), dir))
    const backends: { host: string; port: number }[] = []
    for (const id of ['g1', 'g2']) {
      const port = await freePort()
      children.set(id, await spawnNode('gateway', docBase(id, port), dir))
      backends.push({ host: '127.0.0.1', port })
    }
    lb = new Balancer('127.0.0.1', backends)
    await lb.listen()
    lbGram = new Balancer(GRAM_HOST, backends)
    await lbGram.listen(80)
  })
  after(async () => {
    for (const c of mtcute) await c.destroy().catch(() => undefined)
    for (const c of gram) await Promise.race([c.destroy().catch(() => undefined), sleep(2000)])
    await lb?.close()
    await lbGram?.close()
    for (const c of children.values()) await c.kill('SIGTERM')
    await etcd?.destroy()
    rmSync(dir, { recursive: true, force: true })
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('clients connect through the balancer (both gateways) and are served by the owner of their key', async () => {
    const pem = publicKeyOf(dataDir).pem
    const ring = new RendezvousRing(['s1', 's2'])
    // the first calls may race the gateways' first view of the session nodes: they retry by themselves
    for (let i = 0; i < 4; i++) {
      const tg = await mtcuteClient('127.0.0.1', lb.port, pem)
      mtcute.push(tg)
      clients.push(wrapMtcute(tg, `mtcute-${i}`))
    }
    for (let i = 0; i < 2; i++) {
      const c = gramjsClient(GRAM_HOST, publicKeyOf(dataDir), true)
      await c.connect()
      gram.push(c)
      clients.push(wrapGram(c, `gramjs-${i}`))
    }
    for (const c of clients) {
      const node = await c.servedBy()
      const id = await c.keyId()
      keys.set(c, id)
      assert.equal(node, ring.owner(id), `${c.name} served by the ring owner of its key`)
    }
    assert.ok([...lb.active.values()].every((n) => n >= 1), 'both gateways carry clients')
  })

  it('kill -9 the session node of a client under traffic: same auth key, served by the other node, bounded time; restart: the key moves back', async () => {
    const ring = new RendezvousRing(['s1', 's2'])
    const victim = ring.owner(keys.get(clients[0]!)!)!
    const survivor = victim === 's1' ? 's2' : 's1'
    const affected = clients.filter((c) => ring.owner(keys.get(c)!) === victim)
    let running = true
    const failures: string[] = []
    const load = clients.map(async (c) => {
      while (running) {
        try {
          await c.servedBy()
        } catch (e) {
          failures.push((e as Error).message)
        }
        await sleep(20)
      }
    })
    await sleep(300)
    const t0 = Date.now()
    await children.get(victim)!.kill('SIGKILL')
    // every affected client: its next successful call, started after the kill
    const recovery = await Promise.all(
      affected.map(async (c) => {
        for (;;) {
          try {
            const node = await c.servedBy()
            return { name: c.name, node, ms: Date.now() - t0 }
          } catch {
            await sleep(50)
          }
        }
      }),
    )
    for (const r of recovery) {
      assert.equal(r.node, survivor, `${r.name} served by the survivor`)
      assert.ok(r.ms < 15_000, `recovered after ${r.ms} ms`)
    }
    process.stderr.write(`session node kill -9 → first successful RPC of affected clients: ${recovery.map((r) => `${r.name} ${r.ms}`).join(', ')} ms\n`)
    for (const c of clients) assert.equal(await c.keyId(), keys.get(c), `${c.name}: auth key unchanged (no new handshake)`)

    // start it again: the gateways find it and its keys go back to it
    children.set(victim, await spawnNode('session', docBase(victim), dir))
    const deadline = Date.now() + 20_000
    for (const c of affected) {
      let node = ''
      while (Date.now() < deadline && node !== victim) {
        node = await c.servedBy().catch(() => '')
        if (node !== victim) await sleep(100)
      }
      assert.equal(node, victim, 'the key moved back to the restarted node')
    }
    running = false
    await Promise.all(load)
    for (const c of clients) assert.equal(await c.keyId(), keys.get(c))
  })

  it('a user bound on session node A survives a kill -9 of A: the client comes back on B, and a push to the user reaches it', async () => {
    const { Api, Raw } = gramjs()
    const c = gram[0]!
    const client = clients.find((x) => x.name === 'gramjs-0')!
    const ring = new RendezvousRing(['s1', 's2'])
    const a = ring.owner(keys.get(client)!)!
    const b = a === 's1' ? 's2' : 's1'
    assert.equal(await client.servedBy(), a)
    const { updates } = Api as unknown as { updates: Record<string, new () => unknown> }
    await withTimeout(c.invoke(new updates.GetState!()))
    // the state is saved in the background (SQLite writer); B forgets its copy of the key from the
    // previous test (when it served the key while A was down) once the gateways moved it back
    await sleep(1500)
    await children.get(a)!.kill('SIGKILL')
    const deadline = Date.now() + 20_000
    let node = ''
    while (Date.now() < deadline && node !== b) node = await client.servedBy().catch(() => '')
    assert.equal(node, b, 'served by the survivor')
    const got: { className: string }[] = []
    c.addEventHandler((u) => got.push(u), new Raw({}))
    const pushed = await pushToUser(children.get(b)!.info.grpc, 4242n)
    assert.ok(pushed >= 1, `the survivor pushed to ${pushed} sessions`)
    const t0 = Date.now()
    while (!got.some((u) => u.className === 'UpdateConfig') && Date.now() - t0 < 10_000) await sleep(50)
    assert.ok(got.some((u) => u.className === 'UpdateConfig'), 'UpdateConfig reached the GramJS client')
    assert.equal(await client.keyId(), keys.get(client), 'same auth key')
    children.set(a, await spawnNode('session', docBase(a), dir))
  })

  it('kill -9 a gateway: its clients reconnect through the balancer to the other one and go on', async () => {
    const active = new Map<number, number>()
    for (const b of [lb, lbGram]) for (const [p, k] of b.active) active.set(p, (active.get(p) ?? 0) + k)
    const [gPort, n] = [...active.entries()].sort((a, b) => b[1] - a[1])[0]!
    assert.ok(n >= 1)
    const victim = [...children.entries()].find(([id, c]) => id.startsWith('g') && c.info.tcp === gPort)!
    const t0 = Date.now()
    await victim[1].kill('SIGKILL')
    const times = await Promise.all(
      clients.map(async (c) => {
        for (;;) {
          try {
            await c.servedBy()
            return Date.now() - t0
          } catch {
            await sleep(50)
          }
        }
      }),
    )
    process.stderr.write(`gateway kill -9 → next successful RPC per client: ${clients.map((c, i) => `${c.name} ${times[i]}`).join(', ')} ms\n`)
    for (const t of times) assert.ok(t < 15_000)
    assert.equal((lb.active.get(gPort) ?? 0) + (lbGram.active.get(gPort) ?? 0), 0, 'nothing left on the dead gateway')
    for (const c of clients) assert.equal(await c.keyId(), keys.get(c), `${c.name}: auth key unchanged`)
  })
})
