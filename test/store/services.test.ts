/** The private-instance helpers (test/helpers/services.ts) the store, cluster and bench tests rely on. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { Etcd3 } from 'etcd3'
import { skipWithout, startEtcd, startRedis } from '../helpers/services.js'

describe('private service instances', () => {
  it('etcd: starts on a free port, serves the etcd3 client, survives a restart with its data, cleans up', { skip: skipWithout('etcd') }, async () => {
    const e = await startEtcd()
    const client = new Etcd3({ hosts: e.endpoint })
    try {
      await client.put('mtgate/test').value('1')
      assert.equal(await client.get('mtgate/test').string(), '1')
      await e.restart()
      assert.equal(await client.get('mtgate/test').string(), '1')
    } finally {
      client.close()
      await e.destroy()
    }
    assert.equal(existsSync(e.dir), false)
    assert.equal(e.running, false)
  })

  it('redis: kill and start again on the same port', { skip: skipWithout('redis') }, async () => {
    const r = await startRedis()
    try {
      const port = r.port
      const pid = r.pid
      await r.kill()
      assert.equal(r.running, false)
      await r.start()
      assert.equal(r.port, port)
      assert.notEqual(r.pid, pid)
    } finally {
      await r.destroy()
    }
  })
})
