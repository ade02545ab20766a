/**
 * Telethon 1.25 as Debian packages it (python3-telethon 1.25.1, TL layer 144; installed by
 * .ci/deps/python-debian.sh for Debian's /usr/bin/python3), unmodified, over each of its plain TCP
 * transports against the whole server (python/telethon_debian.py drives it, one process per
 * transport, behind a wire tap naming the framing): the library's own auth-key exchange, its
 * connect() (invokeWithLayer(144, initConnection(help.getConfig)), then get_me), a bare ping and an
 * explicit help.getConfig.
 *
 * The server vendors layer 144: it records 144 and writes the answers in it (config#330b4067, the
 * only config constructor Telethon 1.25 reads), so connect() completes: its get_me gets 401 (not
 * signed in), which Telethon takes as None. The explicit help.getConfig parses too.
 *
 * Then a server push (python/push.py through push-clients.ts, default transport): Telethon's
 * events.Raw handler gets the updateNewMessage pushed to the user its account.updateStatus tied
 * the key to, the message written in layer 144 (message#38116ee0).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { authKeyId } from '../../src/handshake/kdf.js'
import type { RpcContext } from '../../src/session/api.js'
import { layerSchema, servedLayer } from '../../src/tl/index.js'
import { API_ID } from '../helpers/api.js'
import { recordNewKeys, startE2eServer, type E2eServer } from '../e2e/harness.js'
import { recordGetConfig } from '../e2e/scenario.js'
import { answerGetMeUnauthorized, DEBIAN, drive, ok, type DriverOutput } from './python/driver.js'
import { startWireTap, type WireTap, type WireTransport } from './python/wire-tap.js'
import { installPushReadiness, pushToOne, messageCtorFor, pushText, startPythonPushClient, withText } from './push-clients.js'

const HOST = '127.0.144.1'
/** The layer of Telethon 1.25 (telethon.tl.alltlobjects.LAYER). */
const CLIENT_LAYER = 144
/** The user account.updateStatus ties the push client's key to. */
const USER = 7n
/** config# in layer 144 (Telethon 1.25's telethon.tl.types.Config.CONSTRUCTOR_ID). */
const CONFIG_144 = 0x330b4067

/** Transport class → the framing its connection opens with. */
const TRANSPORTS: Record<string, WireTransport> = {
  ConnectionTcpFull: 'full',
  ConnectionTcpIntermediate: 'intermediate',
  ConnectionTcpAbridged: 'abridged',
  ConnectionTcpObfuscated: 'obfuscated/abridged',
}

interface Failure {
  type: string
  message: string
  constructor?: string
}

interface DebianResult extends DriverOutput {
  layer: number
  transport: string
  executable: string
  connected: boolean
  connect_error?: Failure
  auth_key?: string
  pong?: { type: string; ping_id: string; msg_id: string }
  config?: { type: string; this_dc: number; dc_options: { id: number; ip: string; port: number }[]; expires_after: number }
  config_error?: Failure
}

interface Run {
  e: E2eServer
  tap: WireTap
  /** Contexts of the help.getConfig calls. */
  getConfig: RpcContext[]
  /** Contexts of get_me's users.getUsers. */
  getMe: RpcContext[]
  /** Auth key ids the store created (one per completed exchange). */
  created: bigint[]
  pingId: bigint
  result: DebianResult | Error
}

/** A server (help.getConfig recording its callers) behind a wire tap, and one driver run. */
async function runTransport(transport: string): Promise<Run> {
  const e = await startE2eServer({ host: HOST, tcpPort: 0 })
  const getConfig = recordGetConfig(e)
  const getMe = answerGetMeUnauthorized(e)
  const created = recordNewKeys(e.server.store)
  const tap = await startWireTap(HOST, { host: HOST, port: e.tcpPort! })
  const pingId = randomBytes(8).readBigInt64LE()
  const result = await drive<DebianResult>('telethon_debian.py', 'telethon', { ...e, tcpPort: tap.port }, { transport, ping_id: pingId.toString() }, DEBIAN).catch(
    (err: Error) => err,
  )
  return { e, tap, getConfig, getMe, created, pingId, result }
}

function keyOf(res: DebianResult): { key: Buffer; id: bigint } {
  const key = Buffer.from(res.auth_key!, 'hex')
  return { key, id: authKeyId(key) }
}

describe('Telethon 1.25 (Debian python3-telethon, layer 144) over each of its TCP transports', () => {
  const runs = new Map<string, Run>()
  before(async () => {
    // one at a time: each run is mostly Python start-up (CPU)
    for (const t of Object.keys(TRANSPORTS)) runs.set(t, await runTransport(t))
  })
  after(async () => {
    for (const run of runs.values()) {
      await run.tap.close()
      await run.e.close()
    }
  })

  for (const [transport, framing] of Object.entries(TRANSPORTS)) {
    describe(transport, () => {
      let run: Run
      before(() => {
        run = runs.get(transport)!
      })

      it(`Debian's Telethon 1.25 at layer ${CLIENT_LAYER}; its one connection opens with ${framing} framing`, () => {
        const res = ok(run.result)
        assert.equal(res.executable, '/usr/bin/python3')
        assert.match(res.version!, /^1\.25\./)
        assert.equal(res.layer, CLIENT_LAYER)
        assert.equal(res.transport, transport)
        assert.deepEqual(run.tap.connections, [framing])
      })

      it('handshake: the library made an auth key and the server stored that key', async () => {
        const res = ok(run.result)
        const { key, id } = keyOf(res)
        assert.equal(key.length, 256)
        // The exchange is retried when the library's key differs from the server's: Telethon 1.x
        // drops a leading zero byte of g^ab (1 key in 256), so its new_nonce_hash1 check fails and it
        // runs a second exchange. The key it ends with is the last one the server created.
        assert.ok(run.created.length === 1 || run.created.length === 2, `keys created: ${run.created.length}`)
        assert.equal(run.created.at(-1), id)
        assert.deepEqual((await run.e.server.store.get(id))?.key, key)
      })

      it('ping: a bare ping on the same connection gets a pong with our ping_id and the ping message id', () => {
        const res = ok(run.result)
        assert.equal(res.connected, true)
        assert.equal(res.pong!.type, 'Pong')
        assert.equal(BigInt(res.pong!.ping_id), run.pingId)
        const msgId = BigInt(res.pong!.msg_id)
        assert.equal(msgId % 4n, 0n, 'a client message id')
        const sent = Number(msgId >> 32n)
        assert.ok(Math.abs(sent - Date.now() / 1000) < 120, `msg_id time ${sent}`)
      })

      it(`initConnection: the server records layer ${CLIENT_LAYER} and the api_id for connect()'s help.getConfig and the explicit one`, () => {
        const res = ok(run.result)
        const { id } = keyOf(res)
        assert.equal(run.getConfig.length, 2)
        for (const ctx of run.getConfig) {
          assert.equal(ctx.authKeyId, id)
          assert.equal(ctx.layer, CLIENT_LAYER)
          assert.equal(ctx.client?.apiId, API_ID)
        }
        assert.equal(run.getConfig[0]!.connection.connId, run.getConfig[1]!.connection.connId)
      })

      it(`layer ${CLIENT_LAYER} is served: connect() completes (get_me gets 401, None to Telethon) and both help.getConfig answers, written in config#${CONFIG_144.toString(16)}, parse`, () => {
        const res = ok(run.result)
        assert.equal(servedLayer(CLIENT_LAYER), CLIENT_LAYER)
        assert.equal(layerSchema(CLIENT_LAYER).byName.get('config')!.id, CONFIG_144)
        assert.equal(res.connect_error, undefined)
        assert.equal(run.getMe.length, 1, "connect()'s get_me (users.getUsers)")
        assert.equal(run.getMe[0]!.layer, CLIENT_LAYER)
        assert.equal(res.config_error, undefined)
        assert.equal(res.config!.type, 'Config')
        assert.equal(res.config!.this_dc, 2)
        const s = run.e.server.config
        assert.ok(res.config!.dc_options.length > 0)
        assert.deepEqual(res.config!.dc_options, s.publicAddresses.map((a) => ({ id: a.dcId, ip: a.ip, port: a.port })))
        assert.equal(res.config!.expires_after, s.telegram.expiresSeconds)
      })
    })
  }
})

describe('Telethon 1.25: a server push', () => {
  it(`reaches its events.Raw handler as UpdateNewMessage, message written in layer ${CLIENT_LAYER}`, async (t) => {
    const e = await startE2eServer({ host: HOST, tcpPort: 0 })
    try {
      answerGetMeUnauthorized(e)
      const readiness = installPushReadiness(e, USER)
      const text = pushText('push to Telethon 1.25')
      const client = startPythonPushClient(e, 'telethon', text, DEBIAN)
      const { ctx, res, afterMs } = await pushToOne(e, readiness, client, USER, text)
      assert.equal(ctx.layer, CLIENT_LAYER)
      t.diagnostic(`result ${afterMs} ms after the push; whole run ${res.elapsed_ms} ms`)
      assert.equal(res.executable, '/usr/bin/python3')
      assert.match(res.version!, /^1\.25\./)
      assert.equal(res.layer, CLIENT_LAYER)
      assert.equal(res.status, true)
      assert.equal(authKeyId(Buffer.from(res.auth_key, 'hex')), ctx.authKeyId)
      assert.equal(messageCtorFor(CLIENT_LAYER), '38116ee0')
      assert.deepEqual(withText(res.received, text), [{ update: 'UpdateNewMessage', message: 'Message', message_ctor: '38116ee0', text }])
    } finally {
      await e.close()
    }
  })
})
