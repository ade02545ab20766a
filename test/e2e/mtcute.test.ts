/**
 * mtcute (`@mtcute/node` 0.30, layer 227), unmodified apart from address and RSA key, against the
 * whole server: handshake, invokeWithLayer(initConnection(...)), containers, ping, gzip,
 * bad_server_salt, clock skew (bad_msg_notification 16/17), a pushed update, and a reconnect of the
 * same session that receives the answer computed while it was away; over TCP intermediate,
 * obfuscated and WebSocket.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { authKeyId } from '../../src/crypto/message.js'
import { mtcuteClient, type MtcuteClient, type MtcuteTransport } from '../helpers/mtcute.js'
import { startE2eServer, waitFor, type E2eServer } from './harness.js'
import { COUNTRIES, configPush, installHandlers, type Observed } from './scenario.js'

const { Long } = (await import('@mtcute/core')) as unknown as {
  Long: { fromNumber(n: number): LongLike; ZERO: LongLike; fromString(s: string): LongLike }
}
interface LongLike {
  toString(): string
  add(n: number): LongLike
}

/** mtcute's MTProto session state (internal fields, read and nudged the way a real clock/salt problem would). */
interface MtSession {
  _sessionId: LongLike
  _timeOffset: number
  _lastMessageId: LongLike
  _authKey: { key: Uint8Array }
  _salts: { currentSalt: LongLike }
  lastPingRtt: number
}

/** An mtcute client on the server's TCP port (WebSocket port for 'websocket'). */
async function clientOf(e: E2eServer, o: { transport?: MtcuteTransport; updates?: boolean } = {}): Promise<MtcuteClient> {
  const port = o.transport === 'websocket' ? e.wsPort : e.tcpPort
  if (port === undefined) throw new Error(`server has no ${o.transport === 'websocket' ? 'WebSocket' : 'TCP'} port`)
  return mtcuteClient({ host: e.host, port, pem: e.publicPem, ...o })
}

function mtSession(tg: MtcuteClient): MtSession {
  const mt = (tg._client as unknown as { mt: { network: { _primaryDc: { main: { _connections: { _session: MtSession }[] } } } } }).mt
  return mt.network._primaryDc.main._connections[0]!._session
}

function keyIdOf(tg: MtcuteClient): bigint {
  return authKeyId(Buffer.from(mtSession(tg)._authKey.key))
}

function installGetState(e: E2eServer): void {
  // mtcute's update machinery asks for the state; answer it so it does not retry.
  e.server.handle('updates.getState', () => ({
    _: 'updates.state' as const,
    pts: 1,
    qts: 0,
    date: Math.floor(Date.now() / 1000),
    seq: 0,
    unread_count: 0,
  }))
}

describe('mtcute over TCP intermediate: the full scenario', () => {
  let e: E2eServer
  let tg: MtcuteClient
  let seen: Observed

  before(async () => {
    e = await startE2eServer({ host: '127.0.77.31', tcpPort: 10443 })
    seen = installHandlers(e, { countriesDelayMs: 0 })
    installGetState(e)
    tg = await clientOf(e, { updates: true })
  })
  after(async () => {
    await tg?.destroy()
    await e?.close()
  })

  it('first call goes out as invokeWithLayer(initConnection(...)) and gets our config', async () => {
    const cfg = await tg.call({ _: 'help.getConfig' })
    assert.equal(cfg._, 'config')
    assert.equal(cfg.thisDc, 2)
    const opts = cfg.dcOptions as { ipAddress: string; port: number; id: number }[]
    assert.deepEqual(opts.map((d) => [d.id, d.ipAddress, d.port]), [1, 2, 3, 4, 5].map((dc) => [dc, '127.0.77.31', 10443])) // every DC of dc_ids, at the server
    await tg.call({ _: 'help.getNearestDc' })
    const ctx = seen.contexts.at(-1)!
    assert.equal(ctx.layer, 227)
    assert.equal(ctx.client?.apiId, 4)
    assert.equal(ctx.authKeyId, keyIdOf(tg))
  })

  it('several parallel calls (one container) all get answers', async () => {
    const n0 = seen.contexts.length
    const rs = await Promise.all(Array.from({ length: 20 }, () => tg.call({ _: 'help.getNearestDc' })))
    for (const r of rs) assert.equal(r._, 'nearestDc')
    assert.equal(seen.contexts.length - n0, 20)
  })

  it('a large result arrives gzip_packed and intact', async () => {
    const out0 = e.server.encrypted.stats.bytesOut
    const r = await tg.call({ _: 'help.getCountriesList', langCode: 'en', hash: 0 })
    const countries = r.countries as { iso2: string }[]
    assert.equal(countries.length, COUNTRIES)
    assert.equal(countries[2999]!.iso2, 'C2999')
    const wire = e.server.encrypted.stats.bytesOut - out0
    assert.ok(wire < seen.countriesBytes / 4, `sent ${wire} bytes for a ${seen.countriesBytes}-byte result: not compressed`)
  })

  it('forced salt change: bad_server_salt, mtcute takes the new salt and its call is answered', async () => {
    const s = mtSession(tg)
    s._salts.currentSalt = Long.fromNumber(1234567)
    const r = await tg.call({ _: 'help.getNearestDc' })
    assert.equal(r._, 'nearestDc')
    assert.equal(BigInt(s._salts.currentSalt.toString()), e.server.sessions.saltOf(keyIdOf(tg)))
  })

  for (const skewMin of [10, -10]) {
    it(`client clock ${skewMin > 0 ? 'ahead' : 'behind'} by 10 min: recovers through bad_msg_notification ${skewMin > 0 ? 17 : 16}`, async () => {
      const s = mtSession(tg)
      const base = s._timeOffset
      s._timeOffset = base + skewMin * 60
      s._lastMessageId = Long.ZERO
      const r = await tg.call({ _: 'help.getNearestDc' })
      assert.equal(r._, 'nearestDc')
      assert.ok(Math.abs(s._timeOffset - base) <= 2, `mtcute's clock offset is back near ${base}: ${s._timeOffset}`)
    })
  }

  it("a pushed update reaches mtcute's server-update handler", async () => {
    const got: string[] = []
    const emitter = (tg._client as unknown as { onServerUpdate: { add(cb: (u: { _: string; update?: { _: string } }) => void): void } }).onServerUpdate
    emitter.add((u) => got.push(`${u._}/${u.update?._}`))
    const n = e.server.push({ authKeyId: keyIdOf(tg) }, configPush())
    assert.ok(n >= 1)
    await waitFor(() => got.includes('updateShort/updateConfig'), 10_000, 'updateShort in the handler')
  })
})

describe('mtcute: reconnect of the same session gets the answer computed while it was away', () => {
  let e: E2eServer
  let tg: MtcuteClient
  let seen: Observed

  before(async () => {
    e = await startE2eServer({ host: '127.0.77.32', tcpPort: 10443 })
    seen = installHandlers(e, { countriesDelayMs: 400 })
    tg = await clientOf(e)
    await tg.call({ _: 'help.getConfig' })
  })
  after(async () => {
    await tg?.destroy()
    await e?.close()
  })

  it('the connection drops while the query runs; the answer is resent on the new connection, not re-executed', async () => {
    const sid = mtSession(tg)._sessionId.toString()
    const pending = tg.call({ _: 'help.getCountriesList', langCode: 'en', hash: 0 })
    await waitFor(() => seen.countriesCalls === 1, 5000, 'the query to run')
    // cut every connection of this server while the handler is still running
    const n0 = e.server.connectionCount
    assert.ok(n0 >= 1)
    e.server.closeConnections('test: network cut')
    const r = await pending
    assert.equal((r.countries as unknown[]).length, COUNTRIES)
    assert.equal(seen.countriesCalls, 1, 'answered from the session, not executed twice')
    assert.equal(mtSession(tg)._sessionId.toString(), sid, 'same MTProto session after the reconnect')
  })
})

const OTHER_TRANSPORTS: Array<[MtcuteTransport, string, string]> = [
  ['obfuscated', 'TCP obfuscated', '127.0.77.34'],
  ['padded', 'TCP padded intermediate', '127.0.77.35'],
  ['obfuscated-padded', 'TCP obfuscated padded intermediate', '127.0.77.36'],
  ['websocket', 'WebSocket (obfuscated, /apiws)', '127.0.77.33'],
]
for (const [transport, name, host] of OTHER_TRANSPORTS) {
  describe(`mtcute over ${name}`, () => {
    let e: E2eServer
    let tg: MtcuteClient

    before(async () => {
      e = await startE2eServer(transport === 'websocket' ? { host, tcpPort: null, wsPort: 11443 } : { host, tcpPort: 5222 })
      installHandlers(e)
      tg = await clientOf(e, { transport })
    })
    after(async () => {
      await tg?.destroy()
      await e?.close()
    })

    it('config, parallel calls and ping (its own bare ping, and mt_ping as a call)', async () => {
      const cfg = await tg.call({ _: 'help.getConfig' })
      assert.equal(cfg._, 'config')
      // mtcute pings with its first packet (updates off); the pong is matched to that ping
      await waitFor(() => Number.isFinite(mtSession(tg).lastPingRtt), 10_000, "mtcute's ping RTT")
      const rs = await Promise.all(Array.from({ length: 8 }, () => tg.call({ _: 'help.getNearestDc' })))
      for (const r of rs) assert.equal(r._, 'nearestDc')
      const pong = await tg.call({ _: 'mt_ping', pingId: Long.fromNumber(9) })
      assert.equal(String(pong.pingId), '9')
    })
  })
}
