/**
 * teleproto (npm `teleproto`, a GramJS fork at TL layer 214), unmodified apart from address and RSA
 * key, against the whole server over every transport it has on Node: TCP full, abridged,
 * obfuscated, and WebSocket (obfuscated over its PromisedWebSockets, ws://host:80/apiws). Its
 * MTProxy transport (ConnectionTCPMTProxyAbridged) needs an MTProxy secret and is not run.
 *
 * Layer 214 is not one the server vendors: the session records 214 as the client's layer and
 * encodes its answers in the default layer (222). config, dcOption and pong have the same
 * constructors in 214, so teleproto parses the config it gets.
 *
 * Per transport: a fresh handshake (the server stores the key teleproto holds), help.getConfig
 * inside invokeWithLayer(214, initConnection) as teleproto sends it, ping → pong, and a reconnect of
 * the same session (the same client, then a new client from the saved StringSession) that reuses
 * the key.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { authKeyId } from '../../src/crypto/message.js'
import { buildConfig } from '../../src/rpc/builtins.js'
import { AuthKeyType } from '../../src/store/types.js'
import { VENDORED_LAYERS, encode, servedLayer, toLayer, type TlObject } from '../../src/tl/index.js'
import { gramjs, gramjsClient, type GramClient, type GramObject, type GramTransport } from '../helpers/gramjs.js'
import { API_ID, recordNewKeys, startE2eServer, type E2eServer } from '../e2e/harness.js'
import { installHandlers, type Observed } from '../e2e/scenario.js'

const LIB = 'teleproto'
const { Api, bigInt, layer: LAYER, version: VERSION } = gramjs(LIB)
const TeleApi = Api as typeof Api & {
  Config: { CONSTRUCTOR_ID: number }
  InvokeWithLayer: new (a: Record<string, unknown>) => unknown
}

const TRANSPORTS = ['full', 'abridged', 'obfuscated', 'websocket'] as const satisfies readonly GramTransport[]
const HOSTS: Record<(typeof TRANSPORTS)[number], string> = {
  full: '127.0.214.1',
  abridged: '127.0.214.2',
  obfuscated: '127.0.214.3',
  websocket: '127.0.214.4',
}

/** teleproto's connection class of each transport (WebSocket carries the obfuscated one). */
const CONNECTION_CLASS: Record<(typeof TRANSPORTS)[number], string> = {
  full: 'ConnectionTCPFull',
  abridged: 'ConnectionTCPAbridged',
  obfuscated: 'ConnectionTCPObfuscated',
  websocket: 'ConnectionTCPObfuscated',
}


/** A teleproto client of the server at its address, port 80; `session` is a saved StringSession. */
function teleproto(e: E2eServer, transport: GramTransport, session?: string): GramClient {
  return gramjsClient({
    lib: LIB,
    host: e.host,
    key: e,
    transport,
    session,
    params: { connectionRetries: 2, retryDelay: 200, requestRetries: 2, autoReconnect: false },
  })
}

function keyOf(client: GramClient): Buffer {
  const key = client.session.getAuthKey()?.getKey()
  assert.ok(key, 'teleproto holds an auth key')
  return key
}

/** help.getNearestDc, whose handler records the server's context of the call. */
async function contextOfCall(client: GramClient, seen: Observed) {
  const n = seen.contexts.length
  const r = await client.invoke<GramObject>(new Api.help.GetNearestDc())
  assert.equal(r.className, 'NearestDc')
  assert.equal(r.thisDc, 2)
  assert.equal(seen.contexts.length, n + 1, 'the server handled exactly this call')
  return seen.contexts.at(-1)!
}

it(`teleproto ${VERSION} speaks layer 214, which the server vendors (schema/api-214.tl, converted from this package)`, () => {
  assert.equal(LAYER, 214)
  assert.ok(VENDORED_LAYERS.includes(LAYER), `${LAYER} is in ${VENDORED_LAYERS.join(', ')}`)
  assert.equal(servedLayer(LAYER), 214)
})

for (const transport of TRANSPORTS) {
  const host = HOSTS[transport]
  const name = transport === 'websocket' ? 'WebSocket (obfuscated, /apiws)' : `TCP ${transport}`

  describe(`teleproto over ${name}`, () => {
    let e: E2eServer
    let seen: Observed
    let created: bigint[]
    const clients: GramClient[] = []
    let client: GramClient

    before(async () => {
      e = await startE2eServer(
        transport === 'websocket'
          ? { host, tcpPort: null, wsPort: 80, config: { public_addresses: [{ ip: host, port: 80 }] } }
          : { host },
      )
      seen = installHandlers(e)
      created = recordNewKeys(e.server.store)
      client = teleproto(e, transport)
      clients.push(client)
      await client.connect()
    })
    after(async () => {
      for (const c of clients) await c.destroy().catch(() => undefined)
      await e?.close()
    })

    it('fresh handshake: the server stored one new key, the one teleproto holds', async () => {
      const key = keyOf(client)
      assert.equal(created.at(-1), authKeyId(key), 'the last key stored is the one teleproto holds')
      // a key starting with a 0 byte (1 in 256) GramJS's code computes without that byte: its
      // new_nonce_hash check fails and it starts another exchange; the server stored that key too
      for (const id of created.slice(0, -1)) {
        assert.equal((await e.server.store.get(id))?.key[0], 0, `an earlier key (${id}) is one with a leading 0 byte`)
      }
      const stored = await e.server.store.get(authKeyId(key))
      assert.ok(stored, 'the key is in the store')
      assert.deepEqual(stored.key, key)
      assert.equal(stored.type, AuthKeyType.perm)
      assert.equal(e.server.addresses[0]!.kind, transport === 'websocket' ? 'ws' : 'tcp')
      // the client dialled with the transport's connection and socket classes
      const conn = (client._sender as unknown as { _connection: { constructor: { name: string }; socket: object } })._connection
      assert.equal(conn.constructor.name, CONNECTION_CLASS[transport])
      assert.equal(conn.socket.constructor.name, transport === 'websocket' ? 'PromisedWebSockets' : 'PromisedNetSockets')
    })

    it('help.getConfig inside invokeWithLayer(214, initConnection) as teleproto sends it: the config as served, parsed', async () => {
      const init = (client as unknown as { _initRequest: { query: unknown } })._initRequest
      init.query = new Api.help.GetConfig()
      const cfg = await client.invoke<GramObject>(new TeleApi.InvokeWithLayer({ layer: LAYER, query: init }))
      assert.equal(cfg.className, 'Config')
      assert.equal(cfg.thisDc, 2)
      const opts = cfg.dcOptions as { ipAddress: string; port: number; id: number }[]
      assert.deepEqual(opts.map((d) => [d.id, d.ipAddress, d.port]), [1, 2, 3, 4, 5].map((dc) => [dc, host, 80])) // every DC of dc_ids, at the server
      assert.deepEqual(
        opts.map((d) => [d.id, d.ipAddress, d.port]),
        e.server.config.publicAddresses.map((a) => [a.dcId, a.ip, a.port]),
      )
      assert.ok((cfg.expires as number) > (cfg.date as number))
      // served in its layer: its config constructor is the one teleproto's layer 214 has
      const served = encode(toLayer(buildConfig(e.server.config, Date.now(), 2), 214) as TlObject, 214)
      assert.equal(served.readUInt32LE(0), TeleApi.Config.CONSTRUCTOR_ID >>> 0)
      const ctx = await contextOfCall(client, seen)
      assert.equal(ctx.layer, 214)
      assert.equal(ctx.client?.apiId, API_ID)
      assert.equal(ctx.authKeyId, authKeyId(keyOf(client)))
    })

    it('ping: Api.Ping → Pong with its ping_id', async () => {
      const pong = await client.invoke<GramObject>(new Api.Ping({ pingId: bigInt('7214000000000000001') }))
      assert.equal(pong.className, 'Pong')
      assert.equal(String(pong.pingId), '7214000000000000001')
      const sentAt = Number(BigInt(String(pong.msgId)) >> 32n)
      assert.ok(Math.abs(sentAt - Date.now() / 1000) < 60, `the pong names a msg_id of now: ${String(pong.msgId)}`)
    })

    it('reconnect with the same session: no new key on the server, the RPCs go on with the same auth key id', async () => {
      const id = authKeyId(keyOf(client))
      const stored = [...created]
      const saved = client.session.save()
      const conns = [(await contextOfCall(client, seen)).connection.connId]
      await client.disconnect()
      await client.connect()
      const same = await contextOfCall(client, seen)
      assert.equal(same.authKeyId, id)
      conns.push(same.connection.connId)
      // a new client from the saved StringSession (a restarted program)
      await client.disconnect()
      const again = teleproto(e, transport, saved)
      clients.push(again)
      await again.connect()
      assert.equal(authKeyId(keyOf(again)), id)
      const ctx = await contextOfCall(again, seen)
      assert.equal(ctx.authKeyId, id)
      assert.equal(ctx.layer, 214)
      conns.push(ctx.connection.connId)
      assert.equal(new Set(conns).size, 3, `each connect a new connection: ${conns.join(', ')}`)
      const pong = await again.invoke<GramObject>(new Api.Ping({ pingId: bigInt(214) }))
      assert.equal(String(pong.pingId), '214')
      assert.deepEqual(created, stored, 'no key stored after the first handshake')
    })
  })
}
