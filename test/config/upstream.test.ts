import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ConfigError, parseConfig } from '../../src/config/index.js'

test('upstreams, routes and unrouted: defaults, longest prefix first, per-route deadline', () => {
  assert.deepEqual(parseConfig({}, {}).upstream, { upstreams: [], routes: [], unrouted: null })
  const c = parseConfig(
    {
      upstreams: [
        { name: 'bff', targets: ['127.0.0.1:50051', '10.0.0.2:50051'] },
        { name: 'media', targets: 'media.internal:7000', deadline_ms: 60000, max_in_flight: 64 },
      ],
      routes: { 'messages.': 'bff', 'messages.sendMedia': { upstream: 'media', deadline_ms: 90000 }, 'help.getConfig': 'bff' },
      unrouted: 'bff',
    },
    {},
  )
  assert.deepEqual(c.upstream.upstreams, [
    { name: 'bff', kind: 'mtgate', targets: ['127.0.0.1:50051', '10.0.0.2:50051'], deadlineMs: 5000, maxInFlight: 1024, resultTimeoutMs: 60000, stream: false },
    { name: 'media', kind: 'mtgate', targets: ['media.internal:7000'], deadlineMs: 60000, maxInFlight: 64, resultTimeoutMs: 60000, stream: false },
  ])
  assert.deepEqual(c.upstream.routes, [
    { prefix: 'messages.sendMedia', upstream: 'media', deadlineMs: 90000 },
    { prefix: 'help.getConfig', upstream: 'bff' },
    { prefix: 'messages.', upstream: 'bff' },
  ])
  assert.equal(c.upstream.unrouted, 'bff')
  assert.equal(parseConfig({ upstreams: [{ name: 'x', targets: ['h:1'] }], unrouted: 'invalid' }, {}).upstream.unrouted, null)
})

test('bad upstream config: a ConfigError naming the key', () => {
  const bad = (doc: Record<string, unknown>, path: string, reason: string): void =>
    assert.throws(
      () => parseConfig(doc, {}),
      (e: unknown) => e instanceof ConfigError && e.path === path && e.reason.includes(reason),
      `${path}: ${reason}`,
    )
  const one = [{ name: 'bff', targets: ['127.0.0.1:50051'] }]
  bad({ upstreams: one, routes: { 'messages.': 'nope' } }, 'routes.messages.', 'unknown upstream "nope"')
  bad({ upstreams: one, routes: { 'auth.': { upstream: 'other' } } }, 'routes.auth..upstream', 'unknown upstream')
  bad({ routes: { 'auth.': 'bff' } }, 'routes.auth.', 'unknown upstream')
  bad({ upstreams: one, unrouted: 'elsewhere' }, 'unrouted', 'unknown upstream')
  bad({ upstreams: one, routes: { 'auth.': { upstream: 'bff', deadline: 1 } } }, 'routes.auth..deadline', 'unknown key')
  bad({ upstreams: one, routes: { '*': 'bff' } }, 'routes.*', 'method name or a prefix')
  bad({ upstreams: [{ name: 'bff', targets: [] }] }, 'upstreams[0].targets', 'non-empty')
  bad({ upstreams: [{ name: 'bff', targets: ['nohost'] }] }, 'upstreams[0].targets[0]', 'host:port')
  bad({ upstreams: [...one, ...one] }, 'upstreams[1].name', 'duplicate')
  bad({ upstreams: [{ name: 'invalid', targets: ['h:1'] }] }, 'upstreams[0].name', 'reserved')
  bad({ upstreams: [{ name: 'bff', targets: ['h:1'], deadline_ms: 0 }] }, 'upstreams[0].deadline_ms', 'must be in')
  bad({ upstreams: [{ name: 'bff', targets: ['h:1'], max_inflight: 3 }] }, 'upstreams[0].max_inflight', 'unknown key')
  bad({ upstreams: { name: 'bff' } }, 'upstreams', 'must be a list')
  bad({ upstreams: [{ name: 'bff' }] }, 'upstreams[0]', 'targets or discovery')
  bad({ upstreams: [{ name: 'bff', targets: ['h:1'], discovery: { etcd: ['e:2379'], key: 'k' } }] }, 'upstreams[0]', 'targets or discovery')
  bad({ upstreams: [{ name: 'bff', discovery: { etcd: [], key: 'k' } }] }, 'upstreams[0].discovery.etcd', 'non-empty')
  bad({ upstreams: [{ name: 'bff', discovery: { etcd: ['e:2379'], key: 'k/' } }] }, 'upstreams[0].discovery.key', 'service key')
  bad({ upstreams: [{ name: 'bff', discovery: { etcd: ['e:2379'], key: 'k', interval_ms: 5 } }] }, 'upstreams[0].discovery.interval_ms', 'must be in')
  bad({ upstreams: [{ name: 'bff', targets: ['h:1'], result_timeout_ms: 0 }] }, 'upstreams[0].result_timeout_ms', 'must be in')
  bad({ backend_api: 'localhost' }, 'backend_api', 'host:port')
})

test('discovery, result_timeout_ms and backend_api', () => {
  const c = parseConfig(
    {
      backend_api: '127.0.0.1:7801',
      upstreams: [{ name: 'bff', discovery: { etcd: '127.0.0.1:2379', key: 'bff.bff' }, result_timeout_ms: 5000, stream: true }],
    },
    {},
  )
  assert.equal(c.backendApi, '127.0.0.1:7801')
  assert.deepEqual(c.upstream.upstreams, [
    { name: 'bff', kind: 'mtgate', targets: [], discovery: { etcd: ['127.0.0.1:2379'], key: 'bff.bff', intervalMs: 1000 }, deadlineMs: 5000, maxInFlight: 1024, resultTimeoutMs: 5000, stream: true },
  ])
  assert.equal(parseConfig({}, {}).backendApi, null)
})

test('kind teamgram-bff and teamgram.session_service (file, env wins)', () => {
  const c = parseConfig(
    {
      upstreams: [{ name: 'bff', kind: 'teamgram-bff', targets: ['127.0.0.1:20010'] }],
      routes: { 'auth.': 'bff' },
      unrouted: 'bff',
      teamgram: { session_service: '127.0.0.1:20450' },
    },
    {},
  )
  assert.equal(c.upstream.upstreams[0]!.kind, 'teamgram-bff')
  assert.deepEqual(c.teamgram, { sessionService: '127.0.0.1:20450', statusService: null, etcd: [], sessionKey: 'interface.session' })
  assert.deepEqual(parseConfig({}, {}).teamgram, { sessionService: null, statusService: null, etcd: [], sessionKey: 'interface.session' })
  assert.deepEqual(parseConfig({}, { MTGATE_TEAMGRAM_SESSION_SERVICE: '0.0.0.0:20451' }).teamgram.sessionService, '0.0.0.0:20451')
  const bad = (doc: Record<string, unknown>, env: Record<string, string>, path: string, reason: string): void =>
    assert.throws(() => parseConfig(doc, env), (e: unknown) => e instanceof ConfigError && e.path === path && e.reason.includes(reason), `${path}: ${reason}`)
  bad({ upstreams: [{ name: 'bff', kind: 'teamgram', targets: ['h:1'] }] }, {}, 'upstreams[0].kind', 'mtgate, teamgram-bff')
  bad({ teamgram: { session_service: 'nohost' } }, {}, 'teamgram.session_service', 'host:port')
  bad({ upstreams: [{ name: 'bff', kind: 'teamgram-bff', targets: ['h:1'], stream: true }] }, {}, 'upstreams[0].stream', 'unary')
  bad({ teamgram: { session: 'h:1' } }, {}, 'teamgram.session', 'unknown key')
  bad({}, { MTGATE_TEAMGRAM_SESSION_SERVICE: 'x' }, 'MTGATE_TEAMGRAM_SESSION_SERVICE', 'host:port')
})

test('teamgram.status_service (targets or discovery) and the etcd registration of session_service', () => {
  const t = (teamgram: Record<string, unknown>) => parseConfig({ teamgram }, {}).teamgram
  const byTargets = t({ session_service: '10.0.0.5:20450', status_service: { targets: ['10.0.0.9:20670'] }, etcd: ['10.0.0.2:2379'] })
  assert.deepEqual(byTargets.statusService, { name: 'teamgram.status_service', kind: 'teamgram-bff', targets: ['10.0.0.9:20670'], deadlineMs: 5000, maxInFlight: 1024, resultTimeoutMs: 60000, stream: false })
  assert.deepEqual([byTargets.etcd, byTargets.sessionKey], [['10.0.0.2:2379'], 'interface.session'])
  const byEtcd = t({ session_service: '10.0.0.5:20450', status_service: { discovery: { etcd: '10.0.0.2:2379', key: 'service.status' } }, etcd: '10.0.0.2:2379', session_key: 'interface.session2' })
  assert.deepEqual(byEtcd.statusService!.targets, [])
  assert.deepEqual(byEtcd.statusService!.discovery, { etcd: ['10.0.0.2:2379'], key: 'service.status', intervalMs: 1000 })
  assert.equal(byEtcd.sessionKey, 'interface.session2')
  const bad = (teamgram: Record<string, unknown>, path: string, reason: string): void =>
    assert.throws(() => t(teamgram), (e: unknown) => e instanceof ConfigError && e.path === path && e.reason.includes(reason), `${path}: ${reason}`)
  bad({ status_service: { targets: ['h:1'] } }, 'teamgram.session_service', 'required')
  bad({ etcd: ['h:1'] }, 'teamgram.session_service', 'required')
  bad({ session_service: '0.0.0.0:20450', etcd: ['h:1'] }, 'teamgram.session_service', 'not a wildcard')
  bad({ session_service: 'h:2', status_service: { targets: ['h:1'], discovery: { etcd: ['h:3'], key: 'k' } } }, 'teamgram.status_service', 'one of them')
  bad({ session_service: 'h:2', status_service: { targets: ['nohost'] } }, 'teamgram.status_service.targets[0]', 'host:port')
  bad({ session_service: 'h:2', etcd: [] }, 'teamgram.etcd', 'non-empty')
  bad({ session_service: 'h:2', etcd: ['h:1'], session_key: 'a/' }, 'teamgram.session_key', 'service key')
})
