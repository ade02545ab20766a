/**
 * GramJS (npm `telegram`, layer 198), unmodified apart from address and RSA key, against the whole
 * server: handshake, invokeWithLayer(initConnection(help.getConfig)), containers, ping, gzip,
 * bad_server_salt, clock skew (bad_msg_notification 16/17), pushed updates; over TCP full,
 * abridged, obfuscated and WebSocket.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { authKeyId } from '../../src/crypto/message.js'
import { gramjs, gramjsClient, type GramClient, type GramObject, type GramTransport } from '../helpers/gramjs.js'
import { startE2eServer, waitFor, type E2eServer } from './harness.js'
import { COUNTRIES, configPush, installHandlers, type Observed } from './scenario.js'

const { Api, bigInt, Raw } = gramjs()

/** A GramJS client on the server's address, port 80. */
function client80(e: E2eServer, transport: GramTransport): GramClient {
  return gramjsClient({
    host: e.host,
    key: e,
    transport,
    params: { connectionRetries: 2, retryDelay: 200, requestRetries: 2, autoReconnect: false },
  })
}

function keyIdOf(client: GramClient): bigint {
  const key = client.session.getAuthKey()?.getKey()
  assert.ok(key, 'GramJS holds an auth key')
  return authKeyId(key)
}

describe('GramJS over TCP obfuscated: the full scenario', () => {
  let e: E2eServer
  let client: GramClient
  let seen: Observed

  before(async () => {
    e = await startE2eServer({ host: '127.0.77.21' })
    seen = installHandlers(e)
    client = client80(e, 'obfuscated')
    await client.connect()
  })
  after(async () => {
    await client?.destroy()
    await e?.close()
  })

  it('connects (its connect sends invokeWithLayer(initConnection(help.getConfig))) and gets our config', async () => {
    const cfg = await client.invoke<GramObject>(new Api.help.GetConfig())
    assert.equal(cfg.className, 'Config')
    assert.equal(cfg.thisDc, 2)
    const opts = cfg.dcOptions as { ipAddress: string; port: number; id: number }[]
    assert.deepEqual(opts.map((d) => [d.id, d.ipAddress, d.port]), [1, 2, 3, 4, 5].map((dc) => [dc, '127.0.77.21', 80])) // every DC of dc_ids, at the server
    assert.ok((cfg.expires as number) > (cfg.date as number))
    // the session layer saw GramJS's layer and initConnection
    await client.invoke(new Api.help.GetNearestDc())
    const ctx = seen.contexts.at(-1)!
    assert.equal(ctx.layer, 198)
    assert.equal(ctx.client?.apiId, 4)
    assert.equal(ctx.authKeyId, keyIdOf(client))
  })

  it('several parallel invokes (GramJS packs them into one container) all get answers', async () => {
    const before = seen.contexts.length
    const rs = await Promise.all(Array.from({ length: 20 }, () => client.invoke<GramObject>(new Api.help.GetNearestDc())))
    assert.equal(rs.length, 20)
    for (const r of rs) assert.equal(r.className, 'NearestDc')
    assert.equal(seen.contexts.length - before, 20)
    const msgIds = new Set(seen.contexts.slice(before).map((c) => c.msgId))
    assert.equal(msgIds.size, 20, 'each query its own msg_id')
  })

  it('ping → pong', async () => {
    const pong = await client.invoke<GramObject>(new Api.Ping({ pingId: bigInt(424242) }))
    assert.equal(pong.className, 'Pong')
    assert.equal(String(pong.pingId), '424242')
  })

  it('a large result arrives gzip_packed and intact', async () => {
    const out0 = e.server.encrypted.stats.bytesOut
    const r = await client.invoke<GramObject>(new Api.help.GetCountriesList({ langCode: 'en', hash: 0 }))
    const countries = r.countries as { iso2: string; countryCodes: { countryCode: string }[] }[]
    assert.equal(countries.length, COUNTRIES)
    assert.equal(countries[1234]!.iso2, 'C1234')
    assert.equal(countries[1234]!.countryCodes[0]!.countryCode, '2234')
    const wire = e.server.encrypted.stats.bytesOut - out0
    assert.ok(wire < seen.countriesBytes / 4, `sent ${wire} bytes for a ${seen.countriesBytes}-byte result: not compressed`)
  })

  it('forced salt change: bad_server_salt, GramJS takes the new salt and its query is answered', async () => {
    const id = keyIdOf(client)
    client._sender!._state.salt = bigInt('1234567')
    const r = await client.invoke<GramObject>(new Api.help.GetNearestDc())
    assert.equal(r.className, 'NearestDc')
    assert.equal(String(client._sender!._state.salt), String(e.server.sessions.saltOf(id)))
  })

  for (const skewMin of [10, -10]) {
    it(`client clock ${skewMin > 0 ? 'ahead' : 'behind'} by 10 min: recovers through bad_msg_notification ${skewMin > 0 ? 17 : 16}`, async () => {
      const state = client._sender!._state
      const base = state.timeOffset
      state.timeOffset = base + skewMin * 60
      state._lastMsgId = bigInt(0) // as for a client that starts with the wrong clock
      const r = await client.invoke<GramObject>(new Api.help.GetNearestDc())
      assert.equal(r.className, 'NearestDc')
      assert.ok(Math.abs(state.timeOffset - base) <= 2, `GramJS's clock offset is back near ${base}: ${state.timeOffset}`)
    })
  }

  it("a pushed update reaches GramJS's update handler", async () => {
    const got: GramObject[] = []
    client.addEventHandler((u) => got.push(u), new Raw({}))
    const n = e.server.push({ authKeyId: keyIdOf(client) }, configPush())
    assert.ok(n >= 1, 'pushed to at least one live session')
    await waitFor(() => got.some((u) => u.className === 'UpdateConfig'), 10_000, 'UpdateConfig in the handler')
  })
})

for (const transport of ['full', 'abridged', 'websocket'] as const) {
  describe(`GramJS over ${transport === 'websocket' ? 'WebSocket (obfuscated, /apiws)' : `TCP ${transport}`}`, () => {
    let e: E2eServer
    let client: GramClient
    const host = { full: '127.0.77.22', abridged: '127.0.77.23', websocket: '127.0.77.24' }[transport]

    before(async () => {
      e = await startE2eServer(transport === 'websocket' ? { host, tcpPort: null, wsPort: 80 } : { host })
      installHandlers(e)
      client = client80(e, transport)
      await client.connect()
    })
    after(async () => {
      await client?.destroy()
      await e?.close()
    })

    it('config, parallel invokes and ping', async () => {
      const cfg = await client.invoke<GramObject>(new Api.help.GetConfig())
      assert.equal(cfg.className, 'Config')
      assert.equal(cfg.thisDc, 2)
      const rs = await Promise.all(Array.from({ length: 8 }, () => client.invoke<GramObject>(new Api.help.GetNearestDc())))
      for (const r of rs) assert.equal(r.className, 'NearestDc')
      const pong = await client.invoke<GramObject>(new Api.Ping({ pingId: bigInt(7) }))
      assert.equal(String(pong.pingId), '7')
      const kind = e.server.addresses[0]!.kind
      assert.equal(kind, transport === 'websocket' ? 'ws' : 'tcp')
    })
  })
}
