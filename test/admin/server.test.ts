import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { describe, it } from 'node:test'
import { MtgateMetrics } from '../../src/admin/metrics.js'
import { AdminServer, membershipKnown, storeAnswers } from '../../src/admin/server.js'
import { MemoryAuthKeyStore } from '../../src/store/memory.js'
import { StoreError } from '../../src/store/types.js'
import { rootLogger } from '../../src/util/log.js'
import { get, value } from './scrape.js'

const settings = { host: '127.0.0.1', port: 0 }

describe('AdminServer', () => {
  it('/readyz follows the readiness check: 503 with its reason, 200 when it has none, 503 when it throws', async () => {
    let reason: string | undefined = 'starting'
    let fail = false
    const admin = (await AdminServer.start(settings, new MtgateMetrics(), async () => {
      if (fail) throw new Error('boom')
      return reason
    }, rootLogger))!
    try {
      assert.deepEqual(await get(admin.address, '/readyz').then((r) => [r.status, JSON.parse(r.body) as unknown]), [503, { ready: false, reason: 'starting' }])
      reason = undefined
      assert.equal((await get(admin.address, '/readyz')).status, 200)
      fail = true
      assert.deepEqual(await get(admin.address, '/readyz').then((r) => [r.status, JSON.parse(r.body) as unknown]), [503, { ready: false, reason: 'check failed: boom' }])
      const m = await get(admin.address, '/metrics')
      assert.match(m.type, /^text\/plain/)
      assert.ok(value(m.body, 'process_cpu_user_seconds_total') > 0)
      const post = await fetch(`http://${admin.address.host}:${admin.address.port}/metrics`, { method: 'POST' })
      assert.equal(post.status, 405)
    } finally {
      await admin.close()
    }
  })

  it('a port already taken leaves the process without an admin port rather than failing it', async () => {
    const squatter = createServer()
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r))
    try {
      const port = (squatter.address() as { port: number }).port
      assert.equal(await AdminServer.start({ host: '127.0.0.1', port }, new MtgateMetrics(), async () => undefined, rootLogger), undefined)
    } finally {
      squatter.close()
    }
  })
})

describe('readiness checks', () => {
  it('storeAnswers: undefined when the store answers, its error, or a timeout', async () => {
    const store = new MemoryAuthKeyStore()
    assert.equal(await storeAnswers(store), undefined)
    store.get = () => Promise.reject(new StoreError('unavailable', 'database down'))
    assert.equal(await storeAnswers(store), 'store: database down')
    store.get = () => new Promise(() => undefined)
    assert.equal(await storeAnswers(store, 50), 'store: no answer within 50 ms')
  })

  it('membershipKnown: registered, and for a gateway a session node known', () => {
    const reg = (registered: boolean, sessions: number) => ({ isRegistered: registered, members: () => new Array<unknown>(sessions) })
    assert.equal(membershipKnown(reg(false, 1), false), 'membership: not registered in etcd yet')
    assert.equal(membershipKnown(reg(true, 0), false), undefined)
    assert.equal(membershipKnown(reg(true, 0), true), 'membership: no session node')
    assert.equal(membershipKnown(reg(true, 2), true), undefined)
  })
})

describe('MtgateMetrics.instrumentStore', () => {
  it('times every operation, counts failures, passes the rest through to the store', async () => {
    const metrics = new MtgateMetrics()
    const inner = new MemoryAuthKeyStore()
    const store = metrics.instrumentStore(inner)
    assert.ok(store instanceof MemoryAuthKeyStore)
    assert.equal(await store.get(5n), undefined)
    inner.destroy = () => Promise.reject(new Error('no'))
    await assert.rejects(store.destroy(5n), /no/)
    const text = await metrics.registry.metrics()
    assert.equal(value(text, 'mtgate_store_operation_duration_seconds_count', { op: 'get' }), 1)
    assert.equal(value(text, 'mtgate_store_operation_duration_seconds_count', { op: 'destroy' }), 1)
    assert.equal(value(text, 'mtgate_store_errors_total', { op: 'destroy' }), 1)
    assert.equal(value(text, 'mtgate_store_errors_total', { op: 'get' }), 0)
  })
})
