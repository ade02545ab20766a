/**
 * TDLib 1.8.65 (prebuilt-tdlib, driven through tdl) against the whole server with its default
 * limits. Each case runs test/interop/tdlib/driver.js in its own loopback-only network namespace
 * (TDLib dials Telegram's public addresses; there they lead nowhere but to our SOCKS5 redirector
 * and server).
 *
 * Through SOCKS5 TDLib's transport is obfuscated2 TCP; every such case checks the transport of
 * each connection and that no limit refused anything: neither the servers' counters (handshake
 * rate, source limits) nor their log (-429, "connection refused by a source limit").
 *
 * With an HTTP proxy marked http_only ("HTTP caching proxy"), TDLib speaks MTProto over HTTP: it
 * POSTs `HTTP://<dc ip>:80/api` (the absolute form a proxy gets) to the proxy address, which is the
 * server's HTTP port here, and keeps http_wait long polls held there.
 *
 * TDLib's defaults use the permanent key for traffic; with the option use_pfs it creates a
 * temp key and binds it (auth.bindTempAuthKey). A key whose first byte the server zeroes
 * (zeroFirstKeys) is what a leading-zero key looks like to a client that computed another key:
 * its dh_gen_ok fails new_nonce_hash1, and TDLib must run a new exchange by itself.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { servedLayer } from '../../src/tl/index.js'
import { drive, served, type Run } from './tdlib/drive.js'
import type { DriverResult, ServerKey } from './tdlib/driver.js'

/** The transport of every TDLib connection: obfuscated2 around intermediate (not padded), for DC 1. */
const TRANSPORT = 'obfuscated intermediate dc 1'
/** The TL layer TDLib 1.8.65 speaks (its invokeWithLayer). */
const TDLIB_LAYER = 227

/**
 * What every run shows: TDLib reached authorizationStateWaitPhoneNumber and connectionStateReady
 * and its RPCs reached our server (country XT is help.getNearestDc's answer from our config),
 * every connection went through the redirector in obfuscated2, and no limit refused anything.
 */
function assertServed(r: Run): void {
  for (const s of ['authorizationStateWaitPhoneNumber', 'connectionStateReady', 'rpc:getCountryCode', 'rpc:testNetwork']) {
    assert.ok(s in r.stages, `${s} not reached: ${JSON.stringify(r.stages)}`)
  }
  assert.equal(r.countryCode, 'XT')
  assert.equal(r.testNetwork, 'ok')
  assert.ok(r.socksRequests.length > 0, 'TDLib did not go through the SOCKS5 redirector')
  assert.ok(r.exchangesStarted >= r.keys.length)
  assert.ok(served(r, 'help.getNearestDc').length > 0, `help.getNearestDc not served: ${JSON.stringify(r.rpcs)}`)
  // a fresh database starts on DC 1, served by default (dc_ids 1–5): every call came for DC 1
  assert.deepEqual([...new Set(r.rpcs.map((c) => c.dcId))], [1])
  for (const w of r.wire) {
    assert.equal(w.transport, TRANSPORT, `a connection to ${w.dest}: ${JSON.stringify(w)}`)
    assert.equal(w.error, undefined, `a connection to ${w.dest}: ${JSON.stringify(w)}`)
  }
  assert.equal(r.refusals.handshakeRate, 0, 'handshakes refused by the per-prefix rate')
  assert.deepEqual(r.refusals.sources, { max_connections: 0, per_ip: 0, per_prefix: 0, rate_ip: 0, rate_prefix: 0 })
  assert.deepEqual(r.limitLines, [], 'the server logged a limit refusal')
}

/**
 * Connections on which TDLib pinged (req_pq_multi, answered with resPQ) before running an exchange
 * (req_pq_multi, req_DH_params, set_client_DH_params): every req_pq_multi is a handshake start for
 * the server's rate limit.
 */
function pingedThenExchanged(r: DriverResult): DriverResult['wire'] {
  return r.wire.filter((w) => {
    const dh = w.unencrypted.indexOf('req_DH_params')
    return dh >= 2 && w.unencrypted.slice(0, dh).every((m) => m === 'req_pq_multi')
  })
}

/** The key TDLib works with: stored, not zeroed, and (temp) bound to a stored, unzeroed perm key. */
function workingKey(r: DriverResult, pfs: boolean): ServerKey {
  const used = r.keys.filter((k) => k.used)
  assert.equal(used.length, 1, `keys with traffic: ${JSON.stringify(r.keys)}`)
  const k = used[0]!
  assert.equal(k.zeroed, false)
  assert.equal(k.type, pfs ? 'temp' : 'perm')
  if (pfs) {
    const perm = r.keys.find((p) => p.id === k.boundTo)
    assert.ok(perm, `temp key bound to no key of this run: ${JSON.stringify(r.keys)}`)
    assert.equal(perm.type, 'perm')
    assert.equal(perm.zeroed, false)
  }
  return k
}

describe('TDLib connects through the redirector', () => {
  it('fresh start with its defaults: one exchange, help.getNearestDc on the permanent key', async () => {
    const r = await drive({})
    assertServed(r)
    assert.equal(r.keys.length, 1)
    const k = workingKey(r, false)
    assert.deepEqual(new Set(served(r, 'help.getNearestDc').map((c) => c.authKeyId)), new Set([k.id]))
    assert.ok(r.stages.connectionStateReady! < r.stages['rpc:getCountryCode']!)
  })

  it('with use_pfs: a temp key bound to the permanent one carries the traffic', async () => {
    const r = await drive({ pfs: true })
    assertServed(r)
    assert.deepEqual(r.keys.map((k) => k.type), ['perm', 'temp'])
    const k = workingKey(r, true)
    assert.deepEqual(new Set(served(r, 'help.getNearestDc').map((c) => c.authKeyId)), new Set([k.id]))
    assert.ok(pingedThenExchanged(r).length > 0, `no ping before an exchange: ${JSON.stringify(r.wire)}`)
  })
})

describe('TDLib and a method the server has no handler for', () => {
  it('setAuthenticationPhoneNumber: auth.sendCode gets 400 INPUT_METHOD_INVALID, which TDLib reports', async () => {
    const r = await drive({ unknownMethod: true })
    assertServed(r)
    const k = workingKey(r, false)
    const sent = r.rpcs.filter((c) => c.method === 'auth.sendCode')
    assert.ok(sent.length > 0, `the server never received auth.sendCode: ${JSON.stringify(r.rpcs)}`)
    assert.deepEqual(new Set(sent.map((c) => c.outcome)), new Set(['error 400 INPUT_METHOD_INVALID']))
    assert.deepEqual(new Set(sent.map((c) => c.authKeyId)), new Set([k.id]))
    assert.deepEqual(r.unknownMethodError, { code: 400, message: 'INPUT_METHOD_INVALID' })
  })
})

describe('TDLib and a server push', () => {
  it(`updateShort(updateServiceNotification) written in its layer ${servedLayer(TDLIB_LAYER)} reaches TDLib's app as updateServiceNotification`, async () => {
    const text = `pushed to TDLib ${Date.now()}`
    const r = await drive({ pushText: text })
    assertServed(r)
    workingKey(r, false)
    assert.ok(r.pushed! >= 1, `the push reached ${r.pushed} sessions`)
    assert.deepEqual(r.serviceNotification, { type: 'mtgate', text })
    assert.deepEqual([...new Set(r.rpcs.map((c) => c.layer).filter((l) => l !== undefined))], [TDLIB_LAYER])
  })
})

describe('TDLib and a server restart', () => {
  for (const pfs of [false, true]) {
    it(`${pfs ? 'use_pfs' : 'defaults'}: TDLib reconnects by itself on the same key, no new exchange`, async () => {
      const r = await drive({ pfs, restart: true })
      assertServed(r)
      const rs = r.restart
      assert.ok(rs?.trafficMs !== undefined, `no restart result: ${JSON.stringify(rs)}`)
      assert.equal(rs.exchangesAfter, 0, 'TDLib started a handshake with the restarted server')
      assert.equal(rs.keysAfter, 0, 'the restarted server computed a key')
      assert.ok('rpc:getCountryCode after restart' in r.stages)
      assert.equal(r.countryCode, 'XT')
      const k = workingKey(r, pfs)
      const after = served(r, 'help.getNearestDc').filter((c) => c.server === 1)
      assert.ok(after.length > 0, `help.getNearestDc not served after the restart: ${JSON.stringify(r.rpcs)}`)
      assert.deepEqual(new Set(after.map((c) => c.authKeyId)), new Set([k.id]))
      assert.ok(r.rpcs.filter((c) => c.server === 0).some((c) => c.authKeyId === k.id), 'the key was not the one used before the restart')
      // on the wire: new connections, pinged (req_pq_multi) and then encrypted with the old key
      const later = r.wire.filter((w) => w.openedMs >= rs.stoppedMs)
      assert.ok(later.some((w) => w.encrypted.length > 0), `no traffic after the restart: ${JSON.stringify(r.wire)}`)
      for (const w of later) {
        assert.ok(w.unencrypted.every((m) => m === 'req_pq_multi'), `an exchange after the restart: ${JSON.stringify(w)}`)
        assert.ok(w.encrypted.every((id) => id === k.id), `another key after the restart: ${JSON.stringify(w)}`)
      }
    })
  }
})

describe('TDLib recovers from a dh_gen_ok it cannot verify', () => {
  const cases: Array<{ name: string; pfs: boolean; zeroKey: number; zeroedType: string }> = [
    { name: 'permanent key, defaults', pfs: false, zeroKey: 1, zeroedType: 'perm' },
    { name: 'permanent key, use_pfs', pfs: true, zeroKey: 1, zeroedType: 'perm' },
    { name: 'temp key, use_pfs', pfs: true, zeroKey: 2, zeroedType: 'temp' },
  ]
  for (const c of cases) {
    it(`${c.name}: a new exchange by itself, then a working key`, async () => {
      const r = await drive({ pfs: c.pfs, zeroKey: c.zeroKey })
      assertServed(r)
      assert.equal(r.zeroed, 1, 'the wrapper zeroed no key')
      const bad = r.keys[c.zeroKey - 1]!
      assert.ok(bad.zeroed)
      assert.equal(bad.type, c.zeroedType)
      assert.equal(bad.used, false, 'TDLib cannot have used the key it could not verify')
      const good = workingKey(r, c.pfs)
      assert.notEqual(good.id, bad.id)
      assert.notEqual(good.boundTo, bad.id)
      const again = r.keys.filter((k) => k.type === c.zeroedType && !k.zeroed && k.atMs > bad.atMs)
      assert.ok(again.length > 0, `no new ${c.zeroedType} exchange after the zeroed one: ${JSON.stringify(r.keys)}`)
      assert.ok(pingedThenExchanged(r).length > 0, `no ping before an exchange: ${JSON.stringify(r.wire)}`)
    })
  }
})

describe('TDLib over HTTP: its HTTP caching proxy (proxyTypeHttp, http_only) is the server', () => {
  it('key exchanges and RPCs as POSTs to HTTP://<dc ip>:80/api, getCountryCode on DC 1, and a push answering a held http_wait', async () => {
    const text = `pushed to TDLib over HTTP ${Date.now()}`
    const r = await drive({ http: true, pushText: text })
    for (const s of ['authorizationStateWaitPhoneNumber', 'connectionStateReady', 'rpc:getCountryCode', 'rpc:testNetwork', 'updateServiceNotification']) {
      assert.ok(s in r.stages, `${s} not reached: ${JSON.stringify(r.stages)}`)
    }
    assert.equal(r.countryCode, 'XT')
    assert.deepEqual(r.socksRequests, [], 'TDLib went through the SOCKS5 redirector')
    const http = r.http!
    assert.ok(http.requests.length > 0)
    for (const q of http.requests) assert.match(q, /^POST HTTP:\/\/\d+\.\d+\.\d+\.\d+:80\/api$/)
    // over HTTP TDLib always uses PFS: a permanent key, then a temp key bound to it carries the traffic
    assert.deepEqual(r.keys.map((k) => k.type), ['perm', 'temp'])
    const [perm, temp] = r.keys
    assert.equal(temp!.boundTo, perm!.id)
    assert.ok(r.keys.every((k) => !k.zeroed && k.used))
    assert.ok(r.rpcs.length > 0)
    assert.deepEqual([...new Set(r.rpcs.map((c) => c.transport))], ['http'])
    // the DC of each request is its key's: both keys were made for DC 1
    assert.deepEqual([...new Set(r.rpcs.map((c) => c.dcId))], [1])
    assert.ok(served(r, 'help.getNearestDc').some((c) => c.authKeyId === temp!.id), `help.getNearestDc on the temp key: ${JSON.stringify(r.rpcs)}`)
    assert.deepEqual([...new Set(r.rpcs.map((c) => c.layer).filter((l) => l !== undefined))], [TDLIB_LAYER])
    // long polls: http_wait with a max_wait, one held when the push went out
    assert.ok(http.waits.some((w) => w > 0), `max_wait of the http_waits in ${http.routed} requests: ${JSON.stringify(http.waits)}`)
    assert.ok(http.heldAtPush! >= 1)
    assert.ok(r.pushed! >= 1, `the push reached ${r.pushed} sessions`)
    assert.deepEqual(r.serviceNotification, { type: 'mtgate', text })
    assert.equal(r.refusals.handshakeRate, 0)
    assert.deepEqual(r.limitLines, [], 'the server logged a limit refusal')
  })
})
