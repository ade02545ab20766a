/**
 * Python clients from PyPI, unmodified, over every plain TCP transport each one offers, against the
 * whole server (test/interop/python/scenarios.py drives them; one process per library and
 * transport): the library's own auth-key exchange, help.getConfig in the library's own layer, a
 * bare ping, and a reconnect on the same auth key. A relay in front of the server
 * (python/wire-tap.ts) names the framing every connection really opened with.
 *
 * Telethon picks its transport with TelegramClient(connection=…); Kurigram (a Pyrogram fork that
 * imports as `pyrogram`) with pyrogram.Client(protocol_factory=…), the class its Auth and Session
 * build their connections with. Both libraries are at layer 229, the newest the server vendors, so
 * it answers in that layer.
 *
 * Then, per library, a server push (python/push.py through push-clients.ts): the client registers a
 * raw update handler and calls account.updateStatus, which ties its key to a user; one
 * updateShort(updateNewMessage) pushed to that user reaches the handler, written in the layer the
 * server serves the client's layer in.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { authKeyId } from '../../src/handshake/kdf.js'
import type { RpcContext } from '../../src/session/api.js'
import { NEWEST_LAYER, servedLayer } from '../../src/tl/index.js'
import { API_ID } from '../helpers/api.js'
import { startE2eServer, type E2eServer } from '../e2e/harness.js'
import { installHandlers, recordGetConfig, type Observed } from '../e2e/scenario.js'
import { answerGetMeUnauthorized, drive, ok, type DriverOutput, type Library } from './python/driver.js'
import { startWireTap, type WireTap, type WireTransport } from './python/wire-tap.js'
import { installPushReadiness, pushToOne, messageCtorFor, pushText, startPythonPushClient, withText } from './push-clients.js'

interface ScenarioResult extends DriverOutput {
  layer: number
  transport: string
  auth_key?: string
  config?: { type: string; this_dc: number; dc_options: { id: number; ip: string; port: number }[]; expires_after: number }
  config_error?: string
  pong?: { type: string; ping_id: string; msg_id: string }
  reconnect?: { auth_key: string; nearest: { type: string; this_dc: number; nearest_dc: number } }
}

/** The layer the libraries declare (telethon.tl.alltlobjects.LAYER, pyrogram.raw.all.layer). */
const CLIENT_LAYER = 229

interface Subject {
  library: Library
  name: string
  host: string
  /** Transport class → the framing its connections open with. */
  transports: Record<string, WireTransport>
  /** TCP connections one run opens: the first session's (with the exchange), then the reconnect's. */
  connections: number
  /** The session (session_id) the client continues after the reconnect: its first one, or a new one. */
  reconnectSession: 'same' | 'new'
}

const LIBRARIES: Subject[] = [
  {
    library: 'telethon',
    name: 'Telethon',
    host: '127.0.41.1',
    transports: {
      ConnectionTcpFull: 'full',
      ConnectionTcpIntermediate: 'intermediate',
      ConnectionTcpAbridged: 'abridged',
      ConnectionTcpObfuscated: 'obfuscated/abridged',
    },
    // connect() runs the exchange on the connection it then keeps
    connections: 2,
    reconnectSession: 'same',
  },
  {
    library: 'pyrogram',
    name: 'Kurigram (pyrogram)',
    host: '127.0.41.2',
    transports: {
      TCPAbridged: 'abridged',
      TCPAbridgedO: 'obfuscated/abridged',
      TCPFull: 'full',
      TCPIntermediate: 'intermediate',
      TCPIntermediateO: 'obfuscated/intermediate',
      TCPIntermediatePadded: 'padded',
    },
    // Auth.create() has a connection of its own, then Session.start() twice
    connections: 3,
    reconnectSession: 'same',
  },
]

interface Run {
  e: E2eServer
  tap: WireTap
  seen: Observed
  /** Contexts of the help.getConfig calls. */
  getConfig: RpcContext[]
  /** Contexts of Telethon's get_me (users.getUsers). */
  getMe: RpcContext[]
  /** Auth key ids the store was asked to put (one per completed exchange). */
  puts: bigint[]
  pingId: bigint
  result: ScenarioResult | Error
}

/** A server (help.getConfig recording its callers, store puts counted) behind a wire tap, and one run. */
async function runScenario(lib: Subject, transport: string): Promise<Run> {
  const e = await startE2eServer({ host: lib.host, tcpPort: 0 })
  const getConfig = recordGetConfig(e)
  const getMe = answerGetMeUnauthorized(e)
  const seen = installHandlers(e)
  const puts: bigint[] = []
  const store = e.server.store
  const put = store.put.bind(store)
  store.put = (record) => {
    puts.push(record.id)
    return put(record)
  }
  const tap = await startWireTap(lib.host, { host: lib.host, port: e.tcpPort! })
  const pingId = randomBytes(8).readBigInt64LE()
  const result = await drive<ScenarioResult>('scenarios.py', lib.library, { ...e, tcpPort: tap.port }, { transport, ping_id: pingId.toString() }).catch(
    (err: Error) => err,
  )
  return { e, tap, seen, getConfig, getMe, puts, pingId, result }
}

function keyOf(res: ScenarioResult): { key: Buffer; id: bigint } {
  const key = Buffer.from(res.auth_key!, 'hex')
  return { key, id: authKeyId(key) }
}

/** f over items, at most `width` at a time (the drivers are mostly Python start-up: CPU). */
async function inPool<T, R>(items: T[], width: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      out[i] = await f(items[i]!)
    }
  }
  await Promise.all(Array.from({ length: width }, worker))
  return out
}

for (const lib of LIBRARIES) {
  describe(`${lib.name} over each of its TCP transports`, () => {
    const runs = new Map<string, Run>()
    before(async () => {
      const names = Object.keys(lib.transports)
      const done = await inPool(names, 2, (t) => runScenario(lib, t))
      names.forEach((t, i) => runs.set(t, done[i]!))
    })
    after(async () => {
      for (const run of runs.values()) {
        await run.tap.close()
        await run.e.close()
      }
    })

    for (const [transport, framing] of Object.entries(lib.transports)) {
      describe(transport, () => {
        let run: Run
        before(() => {
          run = runs.get(transport)!
        })

        it(`every connection opens with ${framing} framing`, () => {
          const res = ok(run.result)
          assert.equal(res.transport, transport)
          assert.deepEqual(run.tap.connections, Array(lib.connections).fill(framing))
        })

        it('handshake: the library made an auth key and the server stored that key', async () => {
          const res = ok(run.result)
          const { key, id } = keyOf(res)
          assert.equal(key.length, 256)
          assert.deepEqual(run.puts, [id])
          assert.deepEqual((await run.e.server.store.get(id))?.key, key)
        })

        it(`help.getConfig in the library's layer ${CLIENT_LAYER}: the server records it, answers in layer ${servedLayer(CLIENT_LAYER)}, the client parses this_dc 2`, () => {
          const res = ok(run.result)
          assert.equal(res.layer, CLIENT_LAYER)
          assert.equal(servedLayer(res.layer), NEWEST_LAYER)
          assert.equal(res.config_error, undefined)
          assert.equal(res.config!.type, 'Config')
          assert.equal(res.config!.this_dc, 2)
          const s = run.e.server.config
          assert.deepEqual(
            res.config!.dc_options,
            s.publicAddresses.map((a) => ({ id: a.dcId, ip: a.ip, port: a.port })),
          )
          assert.equal(res.config!.expires_after, s.telegram.expiresSeconds)
          const { id } = keyOf(res)
          // initConnection(help.getConfig) when the session starts, then the explicit call
          assert.ok(run.getConfig.length >= 2, `help.getConfig calls: ${run.getConfig.length}`)
          for (const ctx of run.getConfig) {
            assert.equal(ctx.authKeyId, id)
            assert.equal(ctx.layer, CLIENT_LAYER)
            assert.equal(ctx.client?.apiId, API_ID)
          }
        })

        it('ping: a bare ping gets a pong with our ping_id and the ping message id', () => {
          const res = ok(run.result)
          assert.equal(res.pong!.type, 'Pong')
          assert.equal(BigInt(res.pong!.ping_id), run.pingId)
          const msgId = BigInt(res.pong!.msg_id)
          assert.equal(msgId % 4n, 0n, 'a client message id')
          const sent = Number(msgId >> 32n)
          assert.ok(Math.abs(sent - Date.now() / 1000) < 120, `msg_id time ${sent}`)
        })

        it('reconnect: the same auth key on a new connection, no new exchange, help.getNearestDc answered on it', () => {
          const res = ok(run.result)
          const { id } = keyOf(res)
          assert.equal(res.reconnect!.auth_key, res.auth_key)
          assert.deepEqual(res.reconnect!.nearest, { type: 'NearestDc', this_dc: 2, nearest_dc: 2 })
          assert.deepEqual(run.puts, [id], 'one exchange in the whole run')
          assert.equal(run.seen.contexts.length, 1)
          const ctx = run.seen.contexts[0]!
          assert.equal(ctx.authKeyId, id)
          assert.equal(ctx.layer, CLIENT_LAYER)
          assert.equal(ctx.client?.apiId, API_ID)
          const first = run.getConfig[0]!
          assert.notEqual(ctx.connection.connId, first.connection.connId, 'served on another connection than the first session')
          assert.equal(ctx.sessionId === first.sessionId ? 'same' : 'new', lib.reconnectSession, 'session after the reconnect')
          if (lib.library === 'telethon') {
            // connect() asks for itself each time (get_me), on the same key
            assert.equal(run.getMe.length, 2)
            assert.ok(run.getMe.every((c) => c.authKeyId === id))
          }
        })
      })
    }
  })
}

const USER = 7n

for (const lib of LIBRARIES) {
  describe(`${lib.name}: a server push`, () => {
    it(`reaches the library's raw update handler as updateNewMessage, message written in layer ${servedLayer(CLIENT_LAYER)}`, async (t) => {
      const e = await startE2eServer({ host: lib.host, tcpPort: 0 })
      try {
        answerGetMeUnauthorized(e)
        const readiness = installPushReadiness(e, USER)
        const text = pushText(`push to ${lib.library}`)
        const client = startPythonPushClient(e, lib.library, text)
        const { ctx, res, afterMs } = await pushToOne(e, readiness, client, USER, text)
        assert.equal(ctx.layer, CLIENT_LAYER)
        t.diagnostic(`ready → push → handler: result ${afterMs} ms after the push; whole run ${res.elapsed_ms} ms`)
        assert.equal(res.layer, CLIENT_LAYER)
        assert.equal(res.status, true)
        assert.equal(authKeyId(Buffer.from(res.auth_key, 'hex')), ctx.authKeyId)
        assert.deepEqual(withText(res.received, text), [{ update: 'UpdateNewMessage', message: 'Message', message_ctor: messageCtorFor(CLIENT_LAYER), text }])
      } finally {
        await e.close()
      }
    })
  })
}
