import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { instanceAddress, UpstreamDiscoveryWatch } from '../../src/cluster/upstream-discovery.js'
import { freePort } from '../helpers/services.js'

test('discovery values: host:port (go-zero), JSON with an address (mtgate nodes); anything else is none', () => {
  assert.equal(instanceAddress('10.0.0.5:20450'), '10.0.0.5:20450')
  assert.equal(instanceAddress(' bff-1.internal:443\n'), 'bff-1.internal:443')
  assert.equal(instanceAddress('{"id":"s1","address":"127.0.0.1:7100"}'), '127.0.0.1:7100')
  for (const v of ['', 'localhost', 'http://h:1', '{"address":3}', '{broken', 'a b:1']) assert.equal(instanceAddress(v), undefined, v)
})

test('etcd unreachable: the read fails, is logged, and no targets are applied (the configured ones stay)', async () => {
  const logs: string[] = []
  const applied: string[][] = []
  const w = new UpstreamDiscoveryWatch('bff', { etcd: [`127.0.0.1:${await freePort()}`], key: 'bff.bff', intervalMs: 200 }, (t) => applied.push(t), pino({}, { write: (l: string) => void logs.push(l) }))
  try {
    await w.start()
    assert.equal(w.stats.failures, 1)
    assert.deepEqual(applied, [])
    assert.ok(logs.some((l) => l.includes('etcd read failed; keeping the last known instances')))
  } finally {
    w.stop()
  }
})
