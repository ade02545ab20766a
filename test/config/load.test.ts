import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, DEFAULT_TELEGRAM_CONFIG, loadConfig, parseConfig } from '../../src/config/index.js'

test('defaults: 127.0.0.1, TCP 10443+5222, WS 11443, ./data, sqlite, no cache, any api_id', () => {
  const c = parseConfig({}, {}, '/srv/x')
  assert.equal(c.host, '127.0.0.1')
  assert.deepEqual(c.tcpPorts, [10443, 5222])
  assert.equal(c.wsPort, 11443)
  assert.equal(c.wsPath, '/apiws')
  assert.equal(c.dataDir, '/srv/x/data')
  assert.equal(c.store.backend, 'sqlite')
  assert.equal(c.store.cache, 'none')
  assert.equal(c.store.sqlitePath, '/srv/x/data/mtgate.sqlite')
  assert.deepEqual(c.apiIds, [])
  assert.equal(c.dcId, 2)
  assert.deepEqual(c.dcIds, [1, 2, 3, 4, 5])
  assert.deepEqual(c.unknownMethodError, { code: 400, message: 'INPUT_METHOD_INVALID' })
  assert.deepEqual(c.telegram, DEFAULT_TELEGRAM_CONFIG)
  // dc_options default to the bind address with every TCP port, for every served DC
  assert.deepEqual(
    c.publicAddresses.map((a) => [a.ip, a.port, a.dcId, a.ipv6]),
    [1, 2, 3, 4, 5].flatMap((dc) => [
      ['127.0.0.1', 10443, dc, false],
      ['127.0.0.1', 5222, dc, false],
    ]),
  )
})

test('0.0.0.0 bind advertises loopback unless public_addresses is set', () => {
  const c = parseConfig({ host: '0.0.0.0', tcp_ports: [443], dc_ids: [2] })
  assert.deepEqual(c.publicAddresses.map((a) => `${a.ip}:${a.port}`), ['127.0.0.1:443'])
  const d = parseConfig({ host: '0.0.0.0', dc_ids: [2], public_addresses: [{ ip: '203.0.113.5', port: 443, media_only: true }, { ip: '2001:db8::1', port: 443 }] })
  assert.equal(d.publicAddresses[0]!.ip, '203.0.113.5')
  assert.equal(d.publicAddresses[0]!.mediaOnly, true)
  assert.equal(d.publicAddresses[1]!.ipv6, true)
})

test('dc_ids: the DCs served; dc_id the one of a connection that names none; per-DC addresses', () => {
  // dc_id outside the default 1–5 joins them
  assert.deepEqual(parseConfig({ dc_id: 7 }).dcIds, [1, 2, 3, 4, 5, 7])
  // without dc_id: 2 when served, else the first
  assert.equal(parseConfig({ dc_ids: [4, 2] }).dcId, 2)
  assert.equal(parseConfig({ dc_ids: [4, 5] }).dcId, 4)
  const c = parseConfig({
    dc_ids: [1, 2],
    public_addresses: [
      { ip: '203.0.113.1', port: 443, dc_id: 1 },
      { ip: '203.0.113.2', port: 443, dc_id: 2 },
      { ip: '203.0.113.9', port: 443 },
    ],
  })
  assert.deepEqual(c.publicAddresses.map((a) => `${a.dcId}@${a.ip}`), ['1@203.0.113.1', '2@203.0.113.2', '1@203.0.113.9', '2@203.0.113.9'])
  // a DC whose only address is media_only has none for its main connection
  assert.throws(
    () => parseConfig({ dc_ids: [1, 2], public_addresses: [{ ip: '203.0.113.1', port: 443, dc_id: 1 }, { ip: '203.0.113.2', port: 443, dc_id: 2, media_only: true }] }),
    (e: unknown) => e instanceof ConfigError && e.reason.includes('no address for dc 2'),
  )
})

test('YAML file with every section, then env overrides win', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtgate-cfg-'))
  try {
    const file = join(dir, 'mtgate.yaml')
    writeFileSync(
      file,
      [
        'dc_id: 4',
        'host: 127.0.0.5',
        'tcp_ports: [20443]',
        'ws_port: 21443',
        'data_dir: state',
        'store:',
        '  backend: mysql',
        '  cache: redis',
        '  mysql: { host: 127.0.0.1, port: 3306, user: root, database: mtgate }',
        '  redis: { host: 127.0.0.1, port: 6379 }',
        '  lru_size: 5000',
        'api_ids: [4, 2040]',
        'unknown_method_error: { code: 501, message: METHOD_NOT_IMPL }',
        'telegram:',
        '  expires_seconds: 60',
        '  chat_size_max: 10',
        '  test_mode: true',
        '  me_url_prefix: https://example.test/',
        'limits:',
        '  session_idle_seconds: 30',
        '  handshakes_per_second_per_ip: 3',
        '  handshakes_burst_per_ip: 5',
      ].join('\n'),
    )
    const c = loadConfig({ file, env: {}, cwd: dir })
    assert.equal(c.dcId, 4)
    assert.equal(c.host, '127.0.0.5')
    assert.deepEqual(c.tcpPorts, [20443])
    assert.equal(c.wsPort, 21443)
    assert.equal(c.dataDir, join(dir, 'state'))
    assert.equal(c.store.backend, 'mysql')
    assert.equal(c.store.cache, 'redis')
    assert.deepEqual(c.store.mysql, { host: '127.0.0.1', port: 3306, user: 'root', database: 'mtgate' })
    assert.equal(c.store.lruSize, 5000)
    assert.deepEqual(c.apiIds, [4, 2040])
    assert.deepEqual(c.unknownMethodError, { code: 501, message: 'METHOD_NOT_IMPL' })
    assert.equal(c.telegram.expiresSeconds, 60)
    assert.equal(c.telegram.chatSizeMax, 10)
    assert.equal(c.telegram.testMode, true)
    assert.equal(c.telegram.meUrlPrefix, 'https://example.test/')
    assert.equal(c.limits.sessionIdleSeconds, 30)
    assert.deepEqual([c.limits.handshakesPerSecondPerIp, c.limits.handshakesBurstPerIp], [3, 5])
    assert.deepEqual([c.limits.handshakesPerSecondPerPrefix, c.limits.handshakesBurstPerPrefix], [16, 128], 'the keys not given keep their defaults')
    assert.deepEqual(c.dcIds, [1, 2, 3, 4, 5])
    assert.deepEqual(new Set(c.publicAddresses.map((a) => a.dcId)), new Set(c.dcIds))

    const e = loadConfig({
      file,
      cwd: dir,
      env: {
        MTGATE_HOST: '127.0.0.9',
        MTGATE_TCP_PORTS: '1000, 1001',
        MTGATE_WS_PORT: 'off',
        MTGATE_STORE: 'memory',
        MTGATE_CACHE: 'none',
        MTGATE_API_IDS: '7',
        MTGATE_DC_ID: '1',
        MTGATE_DC_IDS: '1, 3',
        MTGATE_PUBLIC_ADDRESSES: '198.51.100.1:443,[2001:db8::2]:80',
        MTGATE_DATA_DIR: '/var/lib/mtgate',
      },
    })
    assert.equal(e.host, '127.0.0.9')
    assert.deepEqual(e.tcpPorts, [1000, 1001])
    assert.equal(e.wsPort, null)
    assert.equal(e.store.backend, 'memory')
    assert.equal(e.store.cache, 'none')
    assert.deepEqual(e.apiIds, [7])
    assert.equal(e.dcId, 1)
    assert.deepEqual(e.dcIds, [1, 3])
    assert.equal(e.dataDir, '/var/lib/mtgate')
    assert.deepEqual(e.publicAddresses.map((a) => [a.ip, a.port, a.ipv6, a.dcId]), [
      ['198.51.100.1', 443, false, 1],
      ['198.51.100.1', 443, false, 3],
      ['2001:db8::2', 80, true, 1],
      ['2001:db8::2', 80, true, 3],
    ])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('bad input gives a ConfigError naming the key', () => {
  const bad: [unknown, Record<string, string>, string][] = [
    [[], {}, '(root)'],
    [{ tcp_port: [1] }, {}, 'tcp_port'],
    [{ host: 'localhost' }, {}, 'host'],
    [{ tcp_ports: [70000] }, {}, 'tcp_ports[0]'],
    [{ tcp_ports: [-1] }, {}, 'tcp_ports[0]'],
    [{ public_addresses: [{ ip: '1.2.3.4', port: 0 }] }, {}, 'public_addresses[0].port'],
    [{ tcp_ports: [1, 1] }, {}, 'tcp_ports'],
    [{ tcp_ports: [5], ws_port: 5 }, {}, 'ws_port'],
    [{ tcp_ports: [], ws_port: null }, {}, 'tcp_ports'],
    [{ store: { backend: 'postgres' } }, {}, 'store.backend'],
    [{ store: { backend: 'mysql' } }, {}, 'store.mysql'],
    [{ store: { cache: 'redis' } }, {}, 'store.redis'],
    [{ api_ids: 'all' }, {}, 'api_ids'],
    [{ public_addresses: [{ ip: 'x', port: 1 }] }, {}, 'public_addresses[0].ip'],
    [{ unknown_method_error: { code: 400, message: 'bad message' } }, {}, 'unknown_method_error.message'],
    [{ telegram: { chat_size_maxx: 1 } }, {}, 'telegram.chat_size_maxx'],
    [{ telegram: { expires_seconds: 0 } }, {}, 'telegram.expires_seconds'],
    [{ limits: { max_frame_bytes: 10 } }, {}, 'limits.max_frame_bytes'],
    [{ limits: { handshakes_burst_per_ip: 0 } }, {}, 'limits.handshakes_burst_per_ip'],
    [{}, { MTGATE_WS_PORT: 'abc' }, 'MTGATE_WS_PORT'],
    [{}, { MTGATE_PUBLIC_ADDRESSES: 'nope' }, 'MTGATE_PUBLIC_ADDRESSES'],
    [{ dc_ids: [] }, {}, 'dc_ids'],
    [{ dc_ids: [1, 1] }, {}, 'dc_ids'],
    [{ dc_ids: [0] }, {}, 'dc_ids[0]'],
    [{ dc_ids: [1, 1001] }, {}, 'dc_ids[1]'],
    [{ dc_ids: [1, 2], dc_id: 3 }, {}, 'dc_id'],
    [{ dc_ids: [1, 2], public_addresses: [{ ip: '1.2.3.4', port: 1, dc_id: 3 }] }, {}, 'public_addresses[0].dc_id'],
    [{ dc_ids: [1, 2], public_addresses: [{ ip: '1.2.3.4', port: 1, dc_id: 1 }] }, {}, 'public_addresses'],
    [{}, { MTGATE_DC_IDS: '1,x' }, 'MTGATE_DC_IDS'],
  ]
  for (const [raw, env, path] of bad) {
    assert.throws(
      () => parseConfig(raw, env),
      (e: unknown) => e instanceof ConfigError && e.path === path,
      `expected ConfigError at ${path} for ${JSON.stringify(raw)} ${JSON.stringify(env)}`,
    )
  }
})

test('unreadable file and invalid YAML are ConfigErrors', () => {
  assert.throws(() => loadConfig({ file: '/nonexistent/mtgate.yaml', env: {} }), ConfigError)
  const dir = mkdtempSync(join(tmpdir(), 'mtgate-cfg-'))
  try {
    const file = join(dir, 'bad.yaml')
    writeFileSync(file, 'host: [unclosed\n')
    assert.throws(() => loadConfig({ file, env: {} }), ConfigError)
    writeFileSync(file, '') // empty file = defaults
    assert.equal(loadConfig({ file, env: {} }).host, '127.0.0.1')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('proxy_protocol: ports among tcp_ports, trusted addresses or CIDR blocks', () => {
  const ok = parseConfig({ tcp_ports: [10443, 5222], proxy_protocol: { ports: [10443], trusted: ['10.0.0.0/8', '192.0.2.1'] } }, {})
  assert.deepEqual(ok.proxyProtocol, { ports: [10443], trusted: ['10.0.0.0/8', '192.0.2.1'] })
  assert.deepEqual(parseConfig({}, {}).proxyProtocol, { ports: [], trusted: [] })
  assert.throws(() => parseConfig({ tcp_ports: [10443], proxy_protocol: { ports: [443], trusted: ['10.0.0.1'] } }, {}), /proxy_protocol.ports/)
  assert.throws(() => parseConfig({ tcp_ports: [10443], proxy_protocol: { ports: [10443], trusted: ['nope'] } }, {}), /proxy_protocol.trusted/)
  assert.throws(() => parseConfig({ tcp_ports: [10443], proxy_protocol: { ports: [10443], trusted: [] } }, {}), /proxy_protocol.trusted/)
})
