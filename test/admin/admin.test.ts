/**
 * The admin port of `mtgate serve` end to end: a real server with admin on a free port, a key
 * exchange and RPCs over HTTP and TCP, a push, a refused key; /metrics moves with them, /healthz and
 * /readyz answer, /readyz is 503 while the store does not answer and during drain. The sample Grafana
 * dashboard only names metrics the server exposes.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { AuthKey } from '../../src/crypto/message.js'
import { clientHandshake } from '../../src/handshake/client.js'
import { MemoryAuthKeyStore } from '../../src/store/memory.js'
import { encode } from '../../src/tl/index.js'
import { HttpMtClient } from '../e2e/http-client.js'
import { RawClient } from '../e2e/raw-client.js'
import { startE2eServer, waitFor, type E2eServer } from '../e2e/harness.js'
import { get, metricNames, value } from './scrape.js'

const HOST = '127.0.0.1'
const PUSH = encode({ _: 'updateShort', update: { _: 'updateLoginToken' }, date: 1_700_000_000 })
/** The repository root (tests run from dist/test/admin). */
const ROOT = join(import.meta.dirname, '..', '..', '..')

describe('admin port of mtgate serve', () => {
  let e: E2eServer
  let admin: { host: string; port: number }
  before(async () => {
    e = await startE2eServer({ host: HOST, tcpPort: 0, wsPort: 0, admin: true })
    admin = e.server.adminAddress!
    assert.ok(admin !== undefined && admin.port > 0, 'admin port bound')
  })
  after(() => e.close())

  it('/healthz answers ok, /readyz 200 once listening with the store answering, others 404', async () => {
    assert.deepEqual(await get(admin, '/healthz').then((r) => [r.status, r.body]), [200, 'ok\n'])
    const ready = await get(admin, '/readyz')
    assert.equal(ready.status, 200)
    assert.deepEqual(JSON.parse(ready.body), { ready: true })
    assert.equal((await get(admin, '/nothing')).status, 404)
  })

  it('/metrics moves with a key exchange, RPCs, a push and a refused key', async () => {
    const m0 = (await get(admin, '/metrics')).body
    const http = new HttpMtClient(`http://${HOST}:${e.wsPort}`)
    const tcps: RawClient[] = []
    try {
      const r = await clientHandshake(http.plain, { publicKeys: e.server.rsaKeys.all().map((k) => k.publicKey), dcId: 2 })
      http.useKey(r.authKey, r.serverSalt)
      const first = await http.send(encode({ _: 'help.getNearestDc' }), true)
      await http.until(first.messages, (m) => m.result?._ === 'nearestDc')
      const key = new AuthKey(r.authKey)
      const tcp = await RawClient.connect({ host: HOST, port: e.tcpPort!, key, salt: r.serverSalt })
      tcps.push(tcp)
      const dc = await tcp.invoke({ _: 'help.getNearestDc' })
      assert.equal((dc as { _: string })._, 'nearestDc')
      // a constructor no schema knows: rpc_error 400 under method "other"
      await tcp.invoke(Buffer.from([0x78, 0x56, 0x34, 0x12]))
      assert.equal(e.server.push({ authKeyId: key.id }, PUSH), 2, 'both sessions of the key')
      const stranger = await RawClient.connect({ host: HOST, port: e.tcpPort!, key: new AuthKey(randomBytes(256)) })
      tcps.push(stranger)
      await stranger.ping().catch(() => undefined)

      const m1 = (await get(admin, '/metrics')).body
      const moved = (name: string, labels: Record<string, string> = {}): number => value(m1, name, labels) - value(m0, name, labels)
      assert.equal(moved('mtgate_handshakes_completed_total'), 1)
      assert.equal(moved('mtgate_rpc_calls_total', { method: 'help.getNearestDc', outcome: 'ok' }), 2, 'one over HTTP, one over TCP')
      assert.equal(moved('mtgate_rpc_calls_total', { method: 'other', outcome: 'rpc_error_400' }), 1)
      assert.equal(moved('mtgate_rpc_duration_seconds_count', { method: 'help.getNearestDc' }), 2)
      assert.equal(moved('mtgate_pushes_total'), 1)
      assert.ok(moved('mtgate_messages_received_total') >= 2, 'encrypted packets in')
      assert.ok(moved('mtgate_messages_sent_total') >= 3, 'encrypted packets out')
      assert.equal(moved('mtgate_transport_errors_sent_total', { code: '-404' }), 1)
      assert.equal(moved('mtgate_encrypted_unknown_key_total'), 1)
      assert.ok(moved('mtgate_connections_accepted_total') >= 3, 'TCP and HTTP connections admitted')
      assert.equal(value(m1, 'mtgate_connections_open', { transport: 'tcp' }), 1, 'the stranger is gone, the client stays')
      assert.equal(value(m1, 'mtgate_connections_open', { transport: 'http' }), 1)
      assert.equal(value(m1, 'mtgate_http_channels'), 1)
      assert.equal(value(m1, 'mtgate_sessions'), 2, 'one session over HTTP, one over TCP')
      assert.equal(value(m1, 'mtgate_auth_keys_loaded'), 1)
      assert.equal(moved('mtgate_store_operation_duration_seconds_count', { op: 'put' }), 1, 'the new key stored')
      assert.ok(value(m1, 'mtgate_store_operation_duration_seconds_count', { op: 'get' }) >= 1)
      assert.ok(metricNames(m1).has('nodejs_eventloop_lag_seconds'), 'default Node metrics')
    } finally {
      for (const c of tcps) c.close()
      http.close()
    }
  })

  it('the sample Grafana dashboard names only metrics /metrics exposes', async () => {
    const dashboard = JSON.parse(readFileSync(join(ROOT, 'docs', 'grafana-dashboard.json'), 'utf8')) as { panels: Array<{ targets?: Array<{ expr: string }> }> }
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr))
    assert.ok(exprs.length >= 8, 'a panel per area')
    const exposed = metricNames((await get(admin, '/metrics')).body)
    const used = new Set(exprs.flatMap((x) => [...x.matchAll(/\b((?:mtgate|nodejs|process)_[a-z0-9_]+)/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, ''))))
    for (const name of used) assert.ok(exposed.has(name), `${name} is in /metrics`)
  })
})

describe('/readyz of mtgate serve', () => {
  it('is 503 while the store does not answer', async () => {
    const store = new MemoryAuthKeyStore()
    const real = store.get.bind(store)
    let hang = true
    store.get = (id) => (hang && id === 0n ? new Promise(() => undefined) : real(id))
    const e = await startE2eServer({ host: HOST, tcpPort: 0, admin: true, store })
    try {
      const r = await get(e.server.adminAddress!, '/readyz')
      assert.equal(r.status, 503)
      assert.match((JSON.parse(r.body) as { reason: string }).reason, /^store: no answer/)
      hang = false
      assert.equal((await get(e.server.adminAddress!, '/readyz')).status, 200)
    } finally {
      await e.close()
    }
  })

  it('is 503 "draining" while the server drains (new connections refused and counted), /healthz still 200; the admin port closes last', async () => {
    const e = await startE2eServer({ host: HOST, tcpPort: 0, admin: true })
    const address = e.server.adminAddress!
    const key = new AuthKey(randomBytes(256))
    await e.server.store.put({ id: key.id, key: key.key, type: 0, createdAt: Math.floor(Date.now() / 1000) })
    let release: () => void = () => undefined
    e.server.handle('help.getNearestDc', () => new Promise((resolve) => (release = () => resolve({ _: 'nearestDc', country: 'US', this_dc: 2, nearest_dc: 2 }))))
    const c = await RawClient.connect({ host: HOST, port: e.tcpPort!, key })
    try {
      const answer = c.invoke({ _: 'help.getNearestDc' })
      await waitFor(() => e.server.router.inFlight === 1, 5000, 'the RPC dispatched')
      const stopped = e.close()
      const r = await get(address, '/readyz')
      assert.equal(r.status, 503)
      assert.deepEqual(JSON.parse(r.body), { ready: false, reason: 'draining' })
      assert.equal((await get(address, '/healthz')).status, 200)
      // a new connection is closed on arrival, and counted
      const late = connect(e.tcpPort!, HOST, () => late.write(Buffer.from('eeeeeeee', 'hex'))) // the intermediate codec's tag
      await new Promise((resolve) => late.on('close', resolve).on('error', () => undefined))
      assert.equal(value((await get(address, '/metrics')).body, 'mtgate_connections_refused_total', { reason: 'draining' }), 1)
      release()
      await answer
      await stopped
      await assert.rejects(get(address, '/healthz'), 'closed with the server')
    } finally {
      c.close()
    }
  })
})
