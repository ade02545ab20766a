import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { loadClusterConfig, parseClusterSection } from '../../src/config/cluster.js'
import { ConfigError, ConfigErrors, loadConfig, loadClusterConfig as fromIndex } from '../../src/config/index.js'

const minimal = { node_id: 'session-1', etcd: ['http://127.0.0.1:2379'], listen: '127.0.0.1:7101' }

describe('cluster config section', () => {
  it('defaults', () => {
    const c = parseClusterSection(minimal)
    assert.deepEqual(c, {
      nodeId: 'session-1',
      etcd: ['http://127.0.0.1:2379'],
      etcdPrefix: '/mtgate/nodes/',
      leaseTtlSec: 10,
      listen: '127.0.0.1:7101',
      advertise: '127.0.0.1:7101',
      callTimeoutMs: 3000,
      streamQueueMax: 20000,
      streamPauseTimeoutMs: 10000,
      tls: undefined,
    })
  })

  it('errors of the server part and of the cluster section are reported together', () => {
    assert.throws(
      () => loadClusterConfig({ doc: { ws_port: 'of', cluster: { ...minimal, etcd: [] } }, env: {} }),
      (e: unknown) => e instanceof ConfigErrors && e.errors.map((x) => x.path).join(' ') === 'ws_port cluster.etcd',
    )
  })

  it('env overrides', () => {
    const c = parseClusterSection(minimal, { MTGATE_NODE_ID: 'gw-2', MTGATE_ETCD: 'http://10.0.0.1:2379, http://10.0.0.2:2379', MTGATE_CLUSTER_ADVERTISE: '10.0.0.9:7101' })
    assert.equal(c.nodeId, 'gw-2')
    assert.deepEqual(c.etcd, ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'])
    assert.equal(c.advertise, '10.0.0.9:7101')
  })

  it('rejects bad values with the key path', () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ ...minimal, node_id: 'a/b' }, 'cluster.node_id'],
      [{ ...minimal, etcd: [] }, 'cluster.etcd'],
      [{ ...minimal, etcd: ['127.0.0.1:2379'] }, 'cluster.etcd[0]'],
      [{ ...minimal, listen: 'localhost:1' }, 'cluster.listen'],
      [{ ...minimal, advertise: '127.0.0.1:0' }, 'cluster.advertise'],
      [{ ...minimal, lease_ttl: 1 }, 'cluster.lease_ttl'],
      [{ ...minimal, etcd_prefix: 'x' }, 'cluster.etcd_prefix'],
      [{ ...minimal, tls: { ca: '/nonexistent', cert: 'x', key: 'y' } }, 'cluster.tls.ca'],
      [{ ...minimal, colour: 'red' }, 'cluster.colour'],
      [{ ...minimal, stream_pause_timeout_ms: 5 }, 'cluster.stream_pause_timeout_ms'],
    ]
    for (const [doc, path] of bad) {
      assert.throws(() => parseClusterSection(doc), (e: unknown) => e instanceof ConfigError && e.message.includes(path), path)
    }
  })

  it('loads a YAML file: the cluster section here, the rest through src/config', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtgate-cluster-cfg-'))
    writeFileSync(join(dir, 'ca.pem'), 'CA')
    writeFileSync(join(dir, 'node.pem'), 'CERT')
    writeFileSync(join(dir, 'node.key'), 'KEY')
    const file = join(dir, 'mtgate.yaml')
    writeFileSync(
      file,
      ['host: 127.0.0.1', 'tcp_ports: [8443]', 'data_dir: ./data', 'cluster:', '  node_id: gw-1', '  etcd: http://127.0.0.1:2379', '  listen: 127.0.0.1:7201', '  tls: { ca: ca.pem, cert: node.pem, key: node.key }', ''].join('\n'),
    )
    const c = loadClusterConfig({ file, env: {}, cwd: dir })
    assert.deepEqual(c.server.tcpPorts, [8443])
    assert.equal(c.server.dataDir, join(dir, 'data'))
    assert.equal(c.cluster.nodeId, 'gw-1')
    assert.deepEqual(c.cluster.etcd, ['http://127.0.0.1:2379'])
    assert.equal(c.cluster.tls?.cert.toString(), 'CERT')
    assert.throws(() => loadClusterConfig({ doc: { cluster: minimal, bogus: 1 }, env: {} }), ConfigError)
    assert.throws(() => loadClusterConfig({ doc: { tcp_ports: [1] }, env: {} }), /cluster.node_id/)
    // one file for every process: `mtgate serve` reads the same file and leaves the section alone
    const serve = loadConfig({ file, env: {}, cwd: dir })
    assert.deepEqual(serve.tcpPorts, [8443])
    assert.equal(fromIndex, loadClusterConfig, 'exported by src/config')
  })
})
