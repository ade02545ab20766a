/**
 * Telethon 1.25 as Debian packages it (python3-telethon 1.25.1, TL layer 144; installed by
 * .ci/deps/python-debian.sh for Debian's /usr/bin/python3), unmodified, over each of its plain TCP
 * transports against the whole server (python/telethon_debian.py drives it, one process per
 * transport, behind a wire tap naming the framing): the library's own auth-key exchange, its
 * connect() (invokeWithLayer(144, initConnection(help.getConfig)), then get_me), a bare ping and an
 * explicit help.getConfig.
 *
 * The server does not vendor layer 144: it records 144 and answers in its default layer, whose
 * config constructor Telethon 1.25 does not know, so both help.getConfig answers fail to parse on
 * the client (TypeNotFoundError), connect() raises it and never gets to get_me. The connection and
 * the key stay usable: the ping after it is answered.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { authKeyId } from '../../src/handshake/kdf.js'
import type { RpcContext } from '../../src/session/api.js'
import { API_ID as TL_ID, API_LAYER, VENDORED_LAYERS } from '../../src/tl/index.js'
import { API_ID } from '../helpers/api.js'
import { recordNewKeys, startE2eServer, type E2eServer } from '../e2e/harness.js'
import { recordGetConfig } from '../e2e/scenario.js'
import { answerGetMeUnauthorized, drive, ok, type DriverOutput, type Interpreter } from './python/driver.js'
import { startWireTap, type WireTap, type WireTransport } from './python/wire-tap.js'

const HOST = '127.0.144.1'
const DEBIAN: Interpreter = {
  python: '/usr/bin/python3',
  install: 'Debian\'s python3-telethon is not installed: run `bash .ci/deps/python-debian.sh` (CI runs it before npm test)',
}
/** The layer of Telethon 1.25 (telethon.tl.alltlobjects.LAYER). */
const CLIENT_LAYER = 144
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
  config?: unknown
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

/** What Telethon raises on an answer whose constructor it does not know. */
function assertUnknownConstructor(f: Failure | undefined, id: number): void {
  const hex = id.toString(16).padStart(8, '0')
  assert.ok(f !== undefined, 'an exception')
  assert.equal(f.type, 'TypeNotFoundError')
  assert.equal(f.constructor, hex)
  assert.ok(f.message.startsWith(`Could not find a matching Constructor ID for the TLObject that was supposed to be read with ID ${hex}.`), f.message)
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
        assert.deepEqual(run.created, [id])
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

      it(`layer ${CLIENT_LAYER} is not served yet: help.getConfig is answered in layer ${API_LAYER} (config#${TL_ID.config.toString(16)}), Telethon raises TypeNotFoundError on it, so connect() fails before get_me`, () => {
        const res = ok(run.result)
        assert.ok(!VENDORED_LAYERS.includes(CLIENT_LAYER), `layer ${CLIENT_LAYER} is vendored now: answers are in that layer`)
        assert.equal(TL_ID.config, 0xcc1a241e)
        assert.notEqual(TL_ID.config, CONFIG_144)
        // connect(): invokeWithLayer(initConnection(help.getConfig)) gets the unknown config
        assertUnknownConstructor(res.connect_error, TL_ID.config)
        assert.equal(run.getMe.length, 0, 'connect() raised before get_me (users.getUsers)')
        // the explicit help.getConfig fails the same way
        assert.equal(res.config, undefined)
        assertUnknownConstructor(res.config_error, TL_ID.config)
      })
    })
  }
})
