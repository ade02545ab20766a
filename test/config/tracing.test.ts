import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parse as parseYaml } from 'yaml'
import { ConfigError, configErrorList, loadClusterConfig, parseConfig } from '../../src/config/index.js'
import { explainConfig } from '../../src/config/explain.js'
import { TRACING_DEFAULTS } from '../../src/config/tracing.js'

const base = { data_dir: '/tmp/mtgate-tracing-test' }
const URL = 'http://127.0.0.1:4318/v1/traces'

/** The path of every error parsing `doc` with `env` reports. */
function errorPaths(doc: Record<string, unknown>, env: Record<string, string> = {}): string[] {
  try {
    parseConfig({ ...base, ...doc }, env)
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e))
    return configErrorList(e).map((x) => x.path)
  }
  assert.fail('no ConfigError')
}

describe('config: tracing', () => {
  it('is off by default: no endpoint, service mtgate, every RPC sampled', () => {
    assert.deepEqual(parseConfig(base, {}).tracing, { otlpEndpoint: null, serviceName: 'mtgate', sampleRatio: 1 })
    assert.deepEqual(TRACING_DEFAULTS, { otlpEndpoint: null, serviceName: 'mtgate', sampleRatio: 1 })
  })

  it('takes the endpoint, service name and sample ratio from YAML; off and null turn it off', () => {
    const doc = parseYaml(`tracing:\n  otlp_endpoint: ${URL}\n  service_name: mtgate-eu\n  sample_ratio: 0.25\n`) as Record<string, unknown>
    assert.deepEqual(parseConfig({ ...base, ...doc }, {}).tracing, { otlpEndpoint: URL, serviceName: 'mtgate-eu', sampleRatio: 0.25 })
    assert.equal(parseConfig({ ...base, tracing: { otlp_endpoint: 'https://otel.example:443/v1/traces', sample_ratio: 0 } }, {}).tracing.sampleRatio, 0)
    assert.equal(parseConfig({ ...base, tracing: 'off' }, {}).tracing.otlpEndpoint, null)
    assert.equal(parseConfig({ ...base, tracing: null }, {}).tracing.otlpEndpoint, null)
    assert.equal(parseConfig({ ...base, tracing: { otlp_endpoint: 'off', service_name: 'x' } }, {}).tracing.otlpEndpoint, null)
  })

  it('env forms override the file, and MTGATE_OTLP_ENDPOINT=off turns it off', () => {
    const env = { MTGATE_OTLP_ENDPOINT: URL, MTGATE_TRACING_SERVICE_NAME: 'edge', MTGATE_TRACING_SAMPLE_RATIO: '0.5' }
    assert.deepEqual(parseConfig({ ...base, tracing: 'off' }, env).tracing, { otlpEndpoint: URL, serviceName: 'edge', sampleRatio: 0.5 })
    assert.equal(parseConfig({ ...base, tracing: { otlp_endpoint: URL } }, { MTGATE_OTLP_ENDPOINT: 'off' }).tracing.otlpEndpoint, null)
    assert.equal(parseConfig({ ...base, tracing: { otlp_endpoint: URL } }, { MTGATE_OTLP_ENDPOINT: '' }).tracing.otlpEndpoint, null)
  })

  it('cluster nodes read the same section', () => {
    const cluster = { node_id: 's1', etcd: ['http://127.0.0.1:2379'], listen: '127.0.0.1:7101' }
    assert.equal(loadClusterConfig({ doc: { ...base, cluster, tracing: { otlp_endpoint: URL } }, env: {} }).server.tracing.otlpEndpoint, URL)
  })

  it('reports every bad value at once, each under its key or env name', () => {
    assert.deepEqual(errorPaths({ tracing: { otlp_endpoint: 'grpc://collector:4317', sample_ratio: 1.5, service_name: '', exporter: 'jaeger' } }).sort(), [
      'tracing.exporter',
      'tracing.otlp_endpoint',
      'tracing.sample_ratio',
      'tracing.service_name',
    ])
    assert.deepEqual(errorPaths({ tracing: { otlp_endpoint: 'not a url' } }), ['tracing.otlp_endpoint'])
    assert.deepEqual(errorPaths({ tracing: { otlp_endpoint: 4318 } }), ['tracing.otlp_endpoint'])
    assert.deepEqual(errorPaths({ tracing: { sample_ratio: '1' } }), ['tracing.sample_ratio'])
    assert.deepEqual(errorPaths({ tracing: { sample_ratio: -0.1 } }), ['tracing.sample_ratio'])
    assert.deepEqual(errorPaths({ tracing: 'on' }), ['tracing'])
    assert.deepEqual(errorPaths({ ws_port: 'x' }, { MTGATE_OTLP_ENDPOINT: 'ftp://x/', MTGATE_TRACING_SAMPLE_RATIO: 'half', MTGATE_TRACING_SERVICE_NAME: ' ' }).sort(), [
      'MTGATE_OTLP_ENDPOINT',
      'MTGATE_TRACING_SAMPLE_RATIO',
      'MTGATE_TRACING_SERVICE_NAME',
      'ws_port',
    ])
    assert.deepEqual(errorPaths({}, { MTGATE_TRACING_SAMPLE_RATIO: '2' }), ['MTGATE_TRACING_SAMPLE_RATIO'])
  })

  it('config --explain shows the keys with their sources', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtgate-tracing-explain-'))
    try {
      const file = join(dir, 'm.yaml')
      writeFileSync(file, `tracing: { otlp_endpoint: '${URL}' }\n`)
      const values = explainConfig({ file, env: { MTGATE_TRACING_SAMPLE_RATIO: '0.1' }, cwd: dir })
      const at = (p: string) => values.find((v) => v.path === p)
      assert.deepEqual(at('tracing.otlp_endpoint'), { path: 'tracing.otlp_endpoint', value: URL, source: 'file' })
      assert.deepEqual(at('tracing.service_name'), { path: 'tracing.service_name', value: 'mtgate', source: 'default' })
      assert.deepEqual(at('tracing.sample_ratio'), { path: 'tracing.sample_ratio', value: '0.1', source: 'env MTGATE_TRACING_SAMPLE_RATIO' })
      const off = explainConfig({ env: {}, cwd: dir }).find((v) => v.path === 'tracing.otlp_endpoint')
      assert.deepEqual(off, { path: 'tracing.otlp_endpoint', value: 'null', source: 'default' })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
