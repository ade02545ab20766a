/**
 * StatusBoard over stand-in sources (a gateway node, a session node) and the page rendered from
 * its snapshots: which figures each role has, the membership, the error ring newest first, the
 * escaping of everything from the snapshot.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { escapeHtml, formatUptime, renderStatusPage } from '../../src/admin/status-page.js'
import { StatusBoard, transportRow, TRANSPORT_ROWS } from '../../src/admin/status.js'
import type { ConnectionInfo } from '../../src/transport/connection.js'
import { RecentProblems } from '../../src/util/log.js'

type Kind = Pick<ConnectionInfo, 'transport' | 'codec' | 'obfuscated' | 'fakeTls'>
const conn = (k: Partial<Kind>): ConnectionInfo => ({ transport: 'tcp', codec: 'intermediate', obfuscated: false, fakeTls: false, ...k }) as ConnectionInfo

const membership = (etcd: boolean) => ({
  etcdReachable: etcd,
  members: () => [
    { id: 's2', role: 'session', address: '10.0.0.2:7101', startedAt: 0 },
    { id: 'g1', role: 'gateway', address: '10.0.0.9:7201', startedAt: 0 },
    { id: 's1', role: 'session', address: '10.0.0.1:7101', startedAt: 0 },
  ],
})

function line(level: number, msg: string, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({ level, time: Date.UTC(2026, 0, 1, 12, 0, level), pid: 1, hostname: 'h', name: 'mtgate', ...fields, msg }) + '\n'
}

describe('StatusBoard', () => {
  it('transportRow: websocket, fake-TLS, obfuscated, else the plain TCP codec', () => {
    assert.equal(transportRow(conn({ transport: 'ws', obfuscated: true })), 'websocket')
    assert.equal(transportRow(conn({ obfuscated: true, fakeTls: true })), 'tcp fake-tls')
    assert.equal(transportRow(conn({ obfuscated: true, codec: 'padded' })), 'tcp obfuscated')
    for (const codec of ['abridged', 'intermediate', 'padded', 'full'] as const) assert.ok(TRANSPORT_ROWS.includes(transportRow(conn({ codec }))))
  })

  it('a gateway node: connections by transport and keys created, no sessions, the etcd membership sorted with itself marked', () => {
    const problems = new RecentProblems(3)
    const board = new StatusBoard({ role: 'gateway', node: 'g1' }, problems)
    const infos = [conn({ codec: 'abridged' }), conn({ codec: 'abridged' }), conn({ transport: 'ws', obfuscated: true }), conn({ obfuscated: true, fakeTls: true })]
    board.observeGateway({ connectionInfos: () => infos, connectionsByTransport: () => ({ http: 2, httpHeld: 1 }), handshakeStats: { keysCreated: 7 } })
    board.observeMembership(membership(true))
    const s = board.snapshot()
    assert.deepEqual(Object.fromEntries(s.connections!.byTransport.map((r) => [r.transport, r.count])), {
      'tcp abridged': 2, 'tcp intermediate': 0, 'tcp padded': 0, 'tcp full': 0, 'tcp obfuscated': 0, 'tcp fake-tls': 1, websocket: 1, http: 2,
    })
    assert.equal(s.connections!.total, 6)
    assert.equal(s.connections!.httpRequestsHeld, 1)
    assert.equal(s.sessions, null)
    assert.deepEqual(s.authKeys, { loaded: null, createdSinceStart: 7 })
    assert.deepEqual(s.nodes.map((n) => `${n.role}/${n.id}${n.self ? '*' : ''}`), ['gateway/g1*', 'session/s1', 'session/s2'])
    assert.equal(s.etcdReachable, true)
    const html = renderStatusPage(s)
    assert.match(html, /id="sessions"><div class="label">Sessions<\/div><div class="value">—<\/div><div class="note">on the session nodes/)
    assert.match(html, /id="keys"><div class="label">Auth keys<\/div><div class="value">7<\/div><div class="note">created since start/)
    assert.match(html, /etcd: reachable/)
  })

  it('a session node: sessions and keys, no connections; etcd unreachable shown; errors newest first, at most the ring', () => {
    const problems = new RecentProblems(2)
    const board = new StatusBoard({ role: 'session', node: 's1' }, problems)
    board.observeSessions({ sessions: { sessionCount: 12, keyCount: 5 } })
    board.observeMembership(membership(false))
    for (const [i, msg] of ['one', 'two', 'three'].entries()) problems.write(line(40 + 10 * (i % 2), msg))
    const s = board.snapshot()
    assert.equal(s.connections, null)
    assert.equal(s.sessions, 12)
    assert.deepEqual(s.authKeys, { loaded: 5, createdSinceStart: null })
    assert.deepEqual(s.recentErrors.map((e) => [e.msg, e.level]), [['three', 'warn'], ['two', 'error']])
    assert.equal(s.recentErrors[0]!.time, '2026-01-01T12:00:40.000Z')
    const html = renderStatusPage(s)
    assert.match(html, /id="connections"><div class="label">Connections<\/div><div class="value">—/)
    assert.match(html, /etcd: UNREACHABLE/)
    assert.match(html, /<li class="warn"><span class="time">12:00:40<\/span> <span class="level">WARN<\/span> <span class="msg">three<\/span>/)
  })

  it('serve: itself as the only node; the page says when nothing was logged', () => {
    const board = new StatusBoard({ role: 'serve', node: 'gw-1' }, new RecentProblems(4))
    const s = board.snapshot()
    assert.deepEqual(s.nodes.map((n) => [n.id, n.role, n.self]), [['gw-1', 'serve', true]])
    assert.equal(s.etcdReachable, null)
    assert.ok(s.uptimeSeconds >= 0 && s.uptimeSeconds < 5)
    assert.match(renderStatusPage(s), /No warnings or errors logged\./)
  })
})

describe('status page HTML', () => {
  it('escapes every value from the snapshot', () => {
    assert.equal(escapeHtml(`<a href="x" title='y'>&</a>`), '&#60;a href=&#34;x&#34; title=&#39;y&#39;&#62;&#38;&#60;/a&#62;')
    const problems = new RecentProblems(4)
    problems.write(line(50, '<script>alert(1)</script>', { reason: '"><img src=x>' }))
    const board = new StatusBoard({ role: 'gateway', node: '<g1>' }, problems)
    board.observeMembership({ etcdReachable: true, members: () => [{ id: '<g1>', role: 'gateway', address: '<b>x</b>', startedAt: 0 }] })
    const html = renderStatusPage(board.snapshot())
    // the page's own script is the only one; no markup from the snapshot survives
    assert.equal(html.match(/<script>/g)!.length, 1)
    assert.doesNotMatch(html, /<img|<b>x|<g1>/)
    assert.match(html, /&#60;script&#62;alert\(1\)&#60;\/script&#62;/)
    assert.match(html, /<title>mtgate gateway &#60;g1&#62;: status<\/title>/)
  })

  it('formatUptime: the two largest units', () => {
    assert.equal(formatUptime(5), '5s')
    assert.equal(formatUptime(65), '1m 5s')
    assert.equal(formatUptime(3 * 3600 + 120), '3h 2m')
    assert.equal(formatUptime(2 * 86400 + 3 * 3600 + 59), '2d 3h')
  })
})
