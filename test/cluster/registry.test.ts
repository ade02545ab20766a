/**
 * Registry against a real etcd (test/helpers/services.ts): registration under a lease, following
 * the others, last known membership while etcd is down, recovery after a restart and after a wiped
 * etcd (the "gateway cannot find the session service after some time" failure).
 */
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Etcd3 } from 'etcd3'
import { Registry, type NodeInfo, type NodeRole } from '../../src/cluster/registry.js'
import { rootLogger } from '../../src/util/log.js'
import { skipWithout, type EtcdInstance, startEtcd } from '../helpers/services.js'


const log = rootLogger.child({ test: 'registry' })

async function until(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`)
    await sleep(50)
  }
}

const ids = (r: Registry, role?: NodeRole): string[] => r.members(role).map((n) => n.id).sort()

describe('Registry (real etcd)', { skip: skipWithout('etcd') }, () => {
  let etcd: EtcdInstance
  const regs: Registry[] = []
  let prefixN = 0

  function make(id: string, role: NodeRole, prefix: string): Registry {
    const self: NodeInfo = { id, role, address: `127.0.0.1:${1000 + regs.length}`, startedAt: Date.now() }
    const r = new Registry({ endpoints: [etcd.endpoint], self, log, prefix, leaseTtlSec: 2, intervalMs: 250, callTimeoutMs: 500 })
    regs.push(r)
    return r
  }

  before(async () => {
    etcd = await startEtcd()
  })
  after(async () => {
    for (const r of regs) await r.stop().catch(() => undefined)
    await etcd.destroy()
  })

  it('nodes register under a lease and see each other; stop() removes the node at once', async () => {
    const prefix = `/t${prefixN++}/`
    const s1 = make('s1', 'session', prefix)
    const g1 = make('g1', 'gateway', prefix)
    await Promise.all([s1.start(), g1.start()])
    await until('both see both', () => ids(s1).length === 2 && ids(g1).length === 2)
    assert.deepEqual(ids(g1, 'session'), ['s1'])
    assert.ok(s1.isRegistered && g1.etcdReachable)
    const s2 = make('s2', 'session', prefix)
    await s2.start()
    await until('g1 sees s2 (watch)', () => ids(g1, 'session').length === 2)
    await s2.stop()
    await until('g1 sees s2 go', () => ids(g1, 'session').length === 1, 3000)
  })

  it('a key deleted by hand is put back', async () => {
    const prefix = `/t${prefixN++}/`
    const s = make('s1', 'session', prefix)
    await s.start()
    const c = new Etcd3({ hosts: etcd.endpoint })
    try {
      await c.delete().key(`${prefix}session/s1`)
      const deadline = Date.now() + 5000
      let v: string | null = null
      while (Date.now() < deadline && v === null) {
        v = await c.get(`${prefix}session/s1`).string()
        await sleep(100)
      }
      assert.ok(v !== null, 'own key not restored')
    } finally {
      c.close()
    }
  })

  it('etcd down: last known membership stays; etcd back: membership recovers and new nodes are seen', async () => {
    const prefix = `/t${prefixN++}/`
    const s1 = make('s1', 'session', prefix)
    const g1 = make('g1', 'gateway', prefix)
    await Promise.all([s1.start(), g1.start()])
    await until('registered', () => ids(g1).length === 2)
    let changes = 0
    g1.on('change', () => changes++)
    await etcd.kill()
    await until('g1 notices etcd is gone', () => !g1.etcdReachable, 5000)
    // Several lease TTLs without etcd: nothing forgotten.
    await sleep(5000)
    assert.deepEqual(ids(g1), ['g1', 's1'])
    assert.deepEqual(ids(s1), ['g1', 's1'])
    assert.equal(changes, 0)
    await etcd.start()
    await until('g1 reachable again', () => g1.etcdReachable && s1.etcdReachable, 20_000)
    const s2 = make('s2', 'session', prefix)
    await s2.start()
    await until('g1 sees a node that joined after the outage', () => ids(g1, 'session').join() === 's1,s2', 10_000)
    assert.ok(s1.isRegistered && g1.isRegistered)
  })

  it('wiped etcd (all registrations lost): every node registers again by itself', async () => {
    const prefix = `/t${prefixN++}/`
    const s1 = make('s1', 'session', prefix)
    const g1 = make('g1', 'gateway', prefix)
    await Promise.all([s1.start(), g1.start()])
    await until('registered', () => ids(g1).length === 2)
    const grants = s1.stats.leasesGranted
    await etcd.kill()
    rmSync(join(etcd.dir, 'data'), { recursive: true, force: true })
    await sleep(1500)
    assert.deepEqual(ids(g1), ['g1', 's1'], 'membership kept while etcd is gone')
    await etcd.start()
    await until('both registered again and seen', () => ids(g1).join() === 'g1,s1' && g1.etcdReachable && s1.stats.leasesGranted > grants, 20_000)
    const c = new Etcd3({ hosts: etcd.endpoint })
    try {
      const keys = Object.keys(await c.getAll().prefix(prefix).strings()).sort()
      assert.deepEqual(keys, [`${prefix}gateway/g1`, `${prefix}session/s1`])
    } finally {
      c.close()
    }
  })

  it('rejects bad node ids', () => {
    assert.throws(() => new Registry({ endpoints: ['http://127.0.0.1:1'], self: { id: 'a/b', role: 'session', address: 'x', startedAt: 0 }, log }))
  })
})
