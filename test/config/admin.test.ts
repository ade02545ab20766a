import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parse as parseYaml } from 'yaml'
import { ConfigError, loadClusterConfig, parseConfig } from '../../src/config/index.js'
import { ADMIN_DEFAULTS, parseAdmin } from '../../src/config/admin.js'

const base = { data_dir: '/tmp/mtgate-admin-test' }

describe('config: admin', () => {
  it('is on by default, on loopback port 9464', () => {
    assert.deepEqual(parseConfig(base, {}).admin, { host: '127.0.0.1', port: 9464 })
    assert.deepEqual(ADMIN_DEFAULTS, { host: '127.0.0.1', port: 9464 })
  })

  it('takes host and port; off and null disable it', () => {
    assert.deepEqual(parseConfig({ ...base, admin: { host: '0.0.0.0', port: 9100 } }, {}).admin, { host: '0.0.0.0', port: 9100 })
    assert.deepEqual(parseConfig({ ...base, admin: { port: 0 } }, {}).admin, { host: '127.0.0.1', port: 0 })
    assert.equal(parseConfig({ ...base, admin: null }, {}).admin, null)
    assert.equal(parseConfig(parseYaml('admin: off\ndata_dir: /tmp/x'), {}).admin, null)
  })

  it('cluster nodes read the same key', () => {
    const cluster = { node_id: 'g1', etcd: ['http://127.0.0.1:2379'], listen: '127.0.0.1:7101' }
    assert.deepEqual(loadClusterConfig({ doc: { ...base, cluster, admin: { port: 9500 } }, env: {} }).server.admin, { host: '127.0.0.1', port: 9500 })
    assert.equal(loadClusterConfig({ doc: { ...base, cluster }, env: { MTGATE_ADMIN_PORT: 'off' } }).server.admin, null)
  })

  it('MTGATE_ADMIN_PORT sets the port, or turns it off', () => {
    assert.deepEqual(parseConfig({ ...base, admin: { host: '10.0.0.1' } }, { MTGATE_ADMIN_PORT: '9999' }).admin, { host: '10.0.0.1', port: 9999 })
    assert.equal(parseConfig({ ...base, admin: { port: 9100 } }, { MTGATE_ADMIN_PORT: 'off' }).admin, null)
    assert.deepEqual(parseAdmin('off', { MTGATE_ADMIN_PORT: '9465' }), { host: '127.0.0.1', port: 9465 }, 'the env port turns a disabled admin port on')
  })

  it('rejects bad values', () => {
    const bad = (admin: unknown, env: Record<string, string> = {}, path: string): void => {
      assert.throws(() => parseConfig({ ...base, admin }, env), (e: unknown) => e instanceof ConfigError && e.path === path)
    }
    bad({ port: 70000 }, {}, 'admin.port')
    bad({ port: '9464' }, {}, 'admin.port')
    bad({ host: 'localhost' }, {}, 'admin.host')
    bad({ path: '/metrics' }, {}, 'admin.path')
    bad('on', {}, 'admin')
    bad(undefined, { MTGATE_ADMIN_PORT: 'nine' }, 'MTGATE_ADMIN_PORT')
    bad(undefined, { MTGATE_ADMIN_PORT: '65536' }, 'MTGATE_ADMIN_PORT')
  })
})
