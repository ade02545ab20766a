import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import { ConfigError, ConfigErrors, configErrorList, parseConfig } from '../../src/config/index.js'
import { explainConfig, formatExplained } from '../../src/config/explain.js'
import { parseMysqlOptions } from '../../src/store/mysql-options.js'

const yaml = (text: string, env = {}) => parseConfig(parse(text) as unknown, env, '/srv')

/** The path of every error parsing `doc` reports. */
function errorPaths(doc: unknown, env = {}): string[] {
  try {
    parseConfig(doc, env, '/srv')
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e))
    return configErrorList(e).map((x) => x.path)
  }
  assert.fail('no ConfigError')
}

test('ws_port and http.port: off and null disable them in YAML as MTGATE_WS_PORT=off does in env', () => {
  assert.equal(yaml('ws_port: off').wsPort, null)
  assert.equal(yaml('ws_port: null').wsPort, null)
  assert.equal(yaml('ws_port: ~').wsPort, null)
  assert.equal(yaml('ws_port: 8443').wsPort, 8443)
  assert.equal(yaml('{}', { MTGATE_WS_PORT: 'off' }).wsPort, null)
  assert.equal(yaml('http: { port: off }').http.port, null)
  assert.equal(yaml('http: { port: 8080 }').http.port, 8080)
  assert.deepEqual(errorPaths({ ws_port: 'of' }), ['ws_port'])
  assert.deepEqual(errorPaths({ ws_port: 'off', tcp_ports: [] }), ['tcp_ports'])
})

test('store: a string names the backend', () => {
  assert.equal(yaml('store: memory').store.backend, 'memory')
  assert.equal(yaml('store: sqlite', { MTGATE_CACHE: 'none' }).store.backend, 'sqlite')
  assert.deepEqual(errorPaths({ store: 'postgres' }), ['store.backend'])
  assert.deepEqual(errorPaths({ store: [1], ws_port: 'x' }), ['ws_port', 'store'])
})

test('MTGATE_STORE=mysql with MTGATE_MYSQL_URL is a complete store; url: in YAML the same', () => {
  const env = { MTGATE_STORE: 'mysql', MTGATE_MYSQL_URL: 'mysql://app:p%40ss@db.internal:3307/chat' }
  const c = parseConfig({}, env, '/srv')
  assert.equal(c.store.backend, 'mysql')
  assert.deepEqual(c.store.mysql, { host: 'db.internal', port: 3307, user: 'app', password: 'p@ss', database: 'chat' })
  // a field beside url wins; other fields are kept
  const y = yaml('store: { backend: mysql, mysql: { url: "mysql://root@127.0.0.1/x", database: y, connectionLimit: 4 } }')
  assert.deepEqual(y.store.mysql, { host: '127.0.0.1', user: 'root', database: 'y', connectionLimit: 4 })
  // the env URL replaces the file's connection fields, keeps the rest
  const e = parseConfig({ store: { backend: 'mysql', mysql: { host: 'a', database: 'b', opTimeoutMs: 900 } } }, { MTGATE_MYSQL_URL: 'mysql://u@c:1/d' }, '/srv')
  assert.deepEqual(e.store.mysql, { opTimeoutMs: 900, host: 'c', port: 1, user: 'u', database: 'd' })
  assert.deepEqual(errorPaths({}, { MTGATE_STORE: 'mysql' }), ['store.mysql'])
  assert.deepEqual(errorPaths({}, { MTGATE_MYSQL_URL: 'postgres://x/y' }), ['MTGATE_MYSQL_URL'])
})

test('MTGATE_REDIS_URL and store.redis.url: password, db, rediss:// for TLS', () => {
  const c = parseConfig({}, { MTGATE_CACHE: 'redis', MTGATE_REDIS_URL: 'rediss://:s3cret@cache:6380/2' }, '/srv')
  assert.equal(c.store.cache, 'redis')
  assert.deepEqual(c.store.redis, { host: 'cache', port: 6380, password: 's3cret', db: 2, tls: true })
  const y = yaml('store: { cache: redis, redis: { url: "redis://r:6379", keyPrefix: "a:" } }')
  assert.deepEqual(y.store.redis, { host: 'r', port: 6379, keyPrefix: 'a:' })
  assert.deepEqual(errorPaths({ store: { redis: { url: 'redis://r/db1' } } }), ['store.redis.url'])
})

test("store.teamgram_cache (Teamgram's cache Redis): url or fields, MTGATE_TEAMGRAM_CACHE_URL, mysql only", () => {
  const c = parseConfig({}, { MTGATE_STORE: 'mysql', MTGATE_MYSQL_URL: 'mysql://root@db/teamgram', MTGATE_TEAMGRAM_CACHE_URL: 'redis://tg-redis:6379/1' }, '/srv')
  assert.deepEqual(c.store.teamgramCache, { host: 'tg-redis', port: 6379, db: 1 })
  const y = yaml('store: { backend: mysql, mysql: { url: "mysql://root@db/teamgram" }, teamgram_cache: { url: "redis://r:6379", commandTimeoutMs: 500 } }')
  assert.deepEqual(y.store.teamgramCache, { host: 'r', port: 6379, commandTimeoutMs: 500 })
  assert.deepEqual(errorPaths({ store: { backend: 'sqlite', teamgram_cache: { host: 'r' } } }), ['store.teamgram_cache'])
  assert.deepEqual(errorPaths({ store: { backend: 'mysql', mysql: { host: 'h' }, teamgram_cache: { prot: 1 } } }), ['store.teamgram_cache.prot'])
})

test('store.mysql without database uses mtgate, as documented', () => {
  assert.equal(parseMysqlOptions({ host: 'h' }).database, 'mtgate')
  assert.equal(parseMysqlOptions({ database: 'other' }).database, 'other')
})

test('a typo under store.mysql or store.redis is a ConfigError naming its key, whatever the backend and cache', () => {
  assert.deepEqual(errorPaths({ store: { backend: 'mysql', mysql: { hots: 'db' } } }), ['store.mysql.hots'])
  assert.deepEqual(errorPaths({ store: { cache: 'none', redis: { prot: 6379 } } }), ['store.redis.prot'])
  assert.deepEqual(errorPaths({ store: { backend: 'sqlite', mysql: { port: 'x' } } }), ['store.mysql.port'])
  assert.deepEqual(errorPaths({ store: { redis: { db: -1 } } }), ['store.redis.db'])
})

test('every error of a document is reported, each with its path', () => {
  const doc = { ws_port: 70000, tcp_ports: [1, 1], hots: 1, store: { backend: 'mysql', mysql: { hots: 'x', prot: 1 } }, limits: { max_frame_bytes: 10 }, http: { port: 'x' } }
  let err: unknown
  try {
    parseConfig(doc, { MTGATE_DC_ID: 'two' }, '/srv')
  } catch (e) {
    err = e
  }
  assert.ok(err instanceof ConfigErrors)
  assert.deepEqual(err.errors.map((e) => e.path).sort(), [
    'MTGATE_DC_ID', 'hots', 'http.port', 'limits.max_frame_bytes', 'store.mysql.hots', 'store.mysql.prot', 'tcp_ports', 'ws_port',
  ])
  assert.equal(err.message.split('\n').length, 8)
  assert.ok(err.message.split('\n').every((l) => l.startsWith('config: ')))
  // one error alone is thrown as itself
  assert.throws(() => parseConfig({ ws_port: 70000 }), (e: unknown) => e instanceof ConfigError && !(e instanceof ConfigErrors) && e.path === 'ws_port')
})

test('log: level and format from the file, MTGATE_LOG_LEVEL / MTGATE_LOG_FORMAT over it', () => {
  assert.deepEqual(yaml('{}').log, { format: 'json' })
  assert.deepEqual(yaml('log: { level: debug, format: pretty }').log, { level: 'debug', format: 'pretty' })
  assert.deepEqual(yaml('log: { level: debug }', { MTGATE_LOG_LEVEL: 'warn', MTGATE_LOG_FORMAT: 'pretty' }).log, { level: 'warn', format: 'pretty' })
  assert.deepEqual(errorPaths({ log: { level: 'verbose', colour: true } }).sort(), ['log.colour', 'log.level'])
  assert.deepEqual(errorPaths({}, { MTGATE_LOG_FORMAT: 'xml' }), ['MTGATE_LOG_FORMAT'])
})

test('explain: each value with its source (default, file, env)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtgate-explain-'))
  try {
    const file = join(dir, 'm.yaml')
    writeFileSync(file, 'ws_port: off\nstore: mysql\nlimits: { idle_timeout_ms: 1000 }\n')
    const env = { MTGATE_MYSQL_URL: 'mysql://u:pw@db:3306/app', MTGATE_TCP_PORTS: '1234' }
    const values = explainConfig({ file, env, cwd: dir })
    const at = (p: string) => values.find((v) => v.path === p)
    assert.deepEqual(at('ws_port'), { path: 'ws_port', value: 'null', source: 'file' })
    assert.deepEqual(at('store.backend'), { path: 'store.backend', value: 'mysql', source: 'file' })
    assert.deepEqual(at('store.cache'), { path: 'store.cache', value: 'none', source: 'default' })
    assert.deepEqual(at('store.mysql.password'), { path: 'store.mysql.password', value: '***', source: 'env MTGATE_MYSQL_URL' })
    assert.deepEqual(at('tcp_ports'), { path: 'tcp_ports', value: '[1234]', source: 'env MTGATE_TCP_PORTS' })
    assert.deepEqual(at('limits.idle_timeout_ms'), { path: 'limits.idle_timeout_ms', value: '1000', source: 'file' })
    assert.equal(at('limits.max_frame_bytes')?.source, 'default')
    assert.equal(at('host')?.source, 'default')
    assert.deepEqual(at('public_addresses[0].ip'), { path: 'public_addresses[0].ip', value: '127.0.0.1', source: 'derived from host, tcp_ports, dc_ids' })
    assert.deepEqual(at('store.sqlite_path'), { path: 'store.sqlite_path', value: join(dir, 'data', 'mtgate.sqlite'), source: 'derived from data_dir' })
    const lines = formatExplained(values, true)
    assert.match(lines.find((l) => l.startsWith('ws_port '))!, /^ws_port +null +\(file\)$/)
    assert.ok(!lines.some((l) => l.includes('pw')))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
