import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfigError, parseConfig } from '../../src/config/index.js'

function configError(input: unknown, env: Record<string, string> = {}): { path: string; reason: string } {
  try {
    parseConfig(input, env, '/srv/mtgate')
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e))
    return { path: e.path, reason: e.reason }
  }
  assert.fail('no ConfigError')
}

describe('config: http and tls', () => {
  it('defaults: HTTP on the WebSocket port, no port of its own, no TLS', () => {
    const c = parseConfig({})
    assert.deepEqual(c.http, { enabled: true, port: null, corsOrigin: '*', maxWaitMs: 60_000 })
    assert.equal(c.tls, null)
  })

  it('YAML: an HTTP port, CORS origin, max_wait cap; TLS files resolved against the working directory', () => {
    const c = parseConfig({ http: { port: 8080, cors_origin: 'https://web.example', max_wait_ms: 30_000 }, tls: { cert: 'tls/cert.pem', key: '/etc/k.pem' } }, {}, '/srv/mtgate')
    assert.deepEqual(c.http, { enabled: true, port: 8080, corsOrigin: 'https://web.example', maxWaitMs: 30_000 })
    assert.deepEqual(c.tls, { cert: '/srv/mtgate/tls/cert.pem', key: '/etc/k.pem' })
  })

  it('environment: MTGATE_HTTP, MTGATE_HTTP_PORT, MTGATE_TLS_CERT / MTGATE_TLS_KEY override YAML', () => {
    const env = { MTGATE_HTTP: 'off', MTGATE_HTTP_PORT: 'off', MTGATE_TLS_CERT: '/c.pem', MTGATE_TLS_KEY: '/k.pem' }
    const c = parseConfig({ http: { port: 8080 } }, env)
    assert.equal(c.http.enabled, false)
    assert.equal(c.http.port, null)
    assert.deepEqual(c.tls, { cert: '/c.pem', key: '/k.pem' })
    assert.equal(parseConfig({}, { MTGATE_HTTP_PORT: '8081' }).http.port, 8081)
  })

  it('mistakes name their key', () => {
    assert.equal(configError({ http: { port: 10443 } }).path, 'http.port') // a TCP port
    assert.equal(configError({ http: { port: 11443 } }).path, 'http.port') // the WebSocket port
    assert.equal(configError({ http: { enabled: false, port: 8080 } }).path, 'http.port')
    assert.equal(configError({ http: { prot: 8080 } }).path, 'http.prot')
    assert.equal(configError({ http: { max_wait_ms: 10 } }).path, 'http.max_wait_ms')
    assert.equal(configError({ tls: { cert: 'c.pem' } }).path, 'tls.key')
    assert.equal(configError({ tls: { key: 'k.pem' } }).path, 'tls.cert')
    assert.equal(configError({}, { MTGATE_HTTP: 'maybe' }).path, 'MTGATE_HTTP')
    assert.equal(configError({}, { MTGATE_HTTP_PORT: 'x' }).path, 'MTGATE_HTTP_PORT')
  })
})
