/**
 * Registry in go-zero's form (option goZero, as Teamgram's services register and mtgate registers
 * its Teamgram session service) against a real etcd: `<key>/<lease id>` holding the bare host:port,
 * put back under a new lease when the lease is lost, gone on deregister.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Etcd3 } from 'etcd3'
import { Registry } from '../../src/cluster/registry.js'
import { rootLogger } from '../../src/util/log.js'
import { skipWithout, type EtcdInstance, startEtcd } from '../helpers/services.js'

const KEY = 'interface.session'
const ADDRESS = '10.0.0.5:20120'

describe('Registry, go-zero form (real etcd)', { skip: skipWithout('etcd') }, () => {
  let etcd: EtcdInstance
  let client: Etcd3
  before(async () => {
    etcd = await startEtcd()
    client = new Etcd3({ hosts: etcd.endpoint })
  })
  after(async () => {
    client?.close()
    await etcd?.destroy()
  })

  const entries = async (): Promise<{ key: string; value: string; lease: string }[]> =>
    (await client.getAll().prefix(KEY + '/').exec()).kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value.toString(), lease: kv.lease }))

  it('registers <key>/<lease id> = host:port, registers again under a new lease when it is lost, and leaves on deregister', async () => {
    const r = new Registry({
      endpoints: [etcd.endpoint],
      self: { id: 'teamgram-session', role: 'session', address: ADDRESS, startedAt: 0 },
      goZero: { key: KEY, value: ADDRESS },
      log: rootLogger.child({ test: 'registry-gozero' }),
      leaseTtlSec: 2,
      intervalMs: 200,
      callTimeoutMs: 500,
    })
    try {
      await r.start()
      const [first, ...rest] = await entries()
      assert.deepEqual(rest, [])
      assert.equal(first!.value, ADDRESS)
      assert.notEqual(first!.lease, '0')
      assert.equal(first!.key, `${KEY}/${first!.lease}`)
      assert.deepEqual(r.members(), [], 'no membership is read in this form')
      // the lease revoked behind its back (as when it expired during an outage)
      await client.leaseClient.leaseRevoke({ ID: first!.lease })
      assert.deepEqual(await entries(), [])
      const t0 = Date.now()
      let now = await entries()
      while (!(now.length === 1 && now[0]!.key !== first!.key)) {
        if (Date.now() - t0 > 10_000) throw new Error(`not registered again: ${JSON.stringify(now)}`)
        await sleep(100)
        now = await entries()
      }
      assert.equal(now[0]!.value, ADDRESS)
      assert.equal(now[0]!.key, `${KEY}/${now[0]!.lease}`)
      await r.deregister()
      assert.deepEqual(await entries(), [])
    } finally {
      await r.stop()
    }
  })
})
