/**
 * gotd/td (Go, github.com/gotd/td v0.161.0, TL layer 228), unmodified, against the whole server
 * over every transport gotd offers a client without an MTProxy secret: abridged, intermediate,
 * padded intermediate and full (transport.*), the three tagged ones inside Obfuscated2
 * (dcs.PlainOptions.Obfuscated), and WebSocket (dcs.Websocket: obfuscated2 over intermediate in
 * binary messages, ws://host:port/apiws). On each: a fresh exchange, help.getConfig (gotd's
 * initConnection and a second call), help.getNearestDc, ping → pong, then a second process on the
 * same session file (no exchange, no new key, RPC on the same auth_key_id).
 *
 * gotd reads padded intermediate by dropping len % 4 bytes (proto/codec readPaddedIntermediate),
 * so the server pads its frames 0–3 bytes (src/transport/intermediate.ts).
 *
 * Then a key whose first byte is 0 (1 key in 256): the server answers dh_gen_ok with
 * new_nonce_hash1 over the full 256-byte key and stores those 256 bytes, as Telegram does; gotd
 * keeps the key as 256 bytes (big.Int.FillBytes).
 *
 * Then a server push (push-clients.ts, gotd's push mode: tg.UpdateDispatcher as
 * telegram.Options.UpdateHandler): after account.updateStatus tied the key to a user, the
 * updateNewMessage pushed to that user reaches gotd's OnNewMessage, written in its layer, 228.
 *
 * test/interop/gotd (its own Go module) is built once per run into a temp dir and run once per
 * scenario with flags; it sets only public options: the address (dcs.List + dcs.Plain with a dial
 * function recording the first bytes each TCP connection writes, or dcs.Websocket with its default
 * options, http.DefaultTransport dialling through that function), our RSA key, a file session,
 * timeouts and telegram.Options.Random (crypto/rand that counts gotd's draws of its DH secret b
 * and, for the forced key, hands out our b as the first one).
 * The Go modules come from .ci/deps/gotd.sh; the build runs offline (GOPROXY=off).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { authKeyId } from '../../src/handshake/kdf.js'
import { detectTransport } from '../../src/transport/detect.js'
import { servedLayer } from '../../src/tl/index.js'
import { acceptObfuscatedInit } from '../../src/transport/obfuscated.js'
import { firstSecret, leadingZeroPair } from '../helpers/leading-zero.js'
import { API_ID, recordNewKeys, startE2eServer, type E2eServer, type E2eServerOptions } from '../e2e/harness.js'
import { installHandlers, type Observed } from '../e2e/scenario.js'
import { buildProbe, probe, type Probe } from './gotd/probe.js'
import { installPushReadiness, pushToOne, messageCtorFor, pushText, startGotdPushClient, withText } from './push-clients.js'

/** tg.Layer of gotd v0.161.0. */
const GOTD_LAYER = 228
const MAX_FRAME = 16 << 20

/** gotd's transports; `framing` is what the server must detect, `obfuscated` whether inside obfuscated2. */
const TRANSPORTS = [
  { name: 'abridged', framing: 'abridged', obfuscated: false },
  { name: 'intermediate', framing: 'intermediate', obfuscated: false },
  { name: 'padded', framing: 'padded', obfuscated: false },
  { name: 'full', framing: 'full', obfuscated: false },
  { name: 'obfuscated-abridged', framing: 'abridged', obfuscated: true },
  { name: 'obfuscated-intermediate', framing: 'intermediate', obfuscated: true },
  { name: 'obfuscated-padded', framing: 'padded', obfuscated: true },
  { name: 'websocket', framing: 'intermediate', obfuscated: true },
] as const
type Transport = (typeof TRANSPORTS)[number]

/** Asserts the probe's run succeeded, with its full result and gotd's log in the message. */
function assertOk(r: Probe): void {
  assert.ok(r.res.ok, `gotd failed at stage ${r.res.stage}: ${r.res.error}\nresult: ${JSON.stringify(r.res)}\ngotd log:\n${r.stderr}`)
}

/** Asserts one run's RPCs: config with this_dc 2 (initConnection and the second call), nearest DC 2, pong. */
function assertRpcs(r: Probe): void {
  assertOk(r)
  assert.equal(r.res.layer, GOTD_LAYER)
  assert.equal(r.res.config!.this_dc, 2)
  assert.ok(r.res.config!.expires > r.res.config!.date)
  assert.ok(r.res.config!.dc_options.length > 0)
  assert.equal(r.res.nearest_dc!.this_dc, 2)
  assert.ok(r.res.pong, 'ping answered by its pong')
  assert.deepEqual(r.res.dead_errors, [])
}

/**
 * The first message of a client's WebSocket connection, from its first bytes: asserts the upgrade
 * request (GET /apiws, subprotocol binary), then unmasks the first frame (FIN, binary, < 126 bytes).
 */
function wsFirstMessage(raw: Buffer): Buffer {
  const end = raw.indexOf('\r\n\r\n')
  assert.ok(end > 0, 'an HTTP request')
  const request = raw.subarray(0, end).toString('latin1')
  assert.match(request, /^GET \/apiws HTTP\/1\.1\r\n/)
  assert.match(request, /^Upgrade: websocket$/im)
  assert.match(request, /^Sec-WebSocket-Protocol: binary$/im)
  const frame = raw.subarray(end + 4)
  assert.equal(frame[0], 0x82, 'FIN, binary')
  assert.equal(frame[1]! & 0x80, 0x80, 'masked')
  const len = frame[1]! & 0x7f
  assert.ok(len < 126 && frame.length >= 6 + len)
  const mask = frame.subarray(2, 6)
  return Buffer.from(frame.subarray(6, 6 + len).map((b, i) => b ^ mask[i % 4]!))
}



/** Fixed ports, below the ephemeral range. */
const TCP_PORT = 10443
const WS_PORT = 10080

const pair = leadingZeroPair()
const zeroId = authKeyId(pair.key)

describe('gotd/td (Go) against our server', () => {
  let dir: string
  let bin: string

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mtgate-gotd-'))
    bin = join(dir, 'gotd-probe')
    await buildProbe(bin)
  })
  after(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  interface Served {
    e: E2eServer
    seen: Observed
    /** Ids of the keys the store created. */
    created: bigint[]
    pem: string
  }

  /** Starts a server on fixed ports with help.getNearestDc recording its callers; `served()` reads it in tests. */
  function serve(o: Omit<E2eServerOptions, 'tcpPort' | 'wsPort'>): () => Served {
    let s: Served | undefined
    before(async () => {
      const e = await startE2eServer({ ...o, tcpPort: TCP_PORT, wsPort: WS_PORT })
      const pem = join(dir, `${o.host}.pub`)
      writeFileSync(pem, e.publicPem)
      s = { e, seen: installHandlers(e), created: recordNewKeys(e.server.store), pem }
    })
    after(async () => {
      await s?.e.close()
    })
    return () => s!
  }

  /** The probe's arguments for transport `t` against `s`, on a session file of their own. */
  function args(t: Transport, s: Served): string[] {
    const target = t.name === 'websocket' ? ['-ws', `ws://${s.e.host}:${s.e.wsPort}/apiws`] : ['-addr', `${s.e.host}:${s.e.tcpPort}`]
    return ['-transport', t.name, ...target, '-pem', s.pem, '-session', join(dir, `${s.e.host}-${t.name}.session.json`)]
  }

  /**
   * Asserts each TCP connection's first bytes: the framing's tag, or an obfuscated2 init for it (no
   * secret, DC 2); for WebSocket the upgrade request and, as the first message, that init.
   */
  function assertOnTheWire(t: Transport, hexHeads: string[]): void {
    assert.ok(hexHeads.length >= 1)
    for (const hex of hexHeads) {
      const head = t.name === 'websocket' ? wsFirstMessage(Buffer.from(hex, 'hex')) : Buffer.from(hex, 'hex')
      const d = detectTransport(head, { maxFrameSize: MAX_FRAME })
      if (!t.obfuscated) {
        assert.deepEqual(d, { kind: 'plain', codec: t.framing, header: { abridged: 1, intermediate: 4, padded: 4, full: 0 }[t.framing] })
        continue
      }
      assert.equal(d.kind, 'obfuscated')
      const init = acceptObfuscatedInit(head, { codec: { maxFrameSize: MAX_FRAME } })
      assert.equal(init.codec.name, t.framing)
      assert.equal(init.dcId, 2)
      assert.equal(init.secretIndex, null)
    }
  }

  /** The full scenario for `t`: fresh key, RPCs and ping, a second process on the same session file. */
  function describeWorking(t: Transport, served: () => Served): void {
    describe(t.name, () => {
      let fresh: Probe
      let again: Probe
      let id: bigint
      before(async () => {
        fresh = await probe(bin, args(t, served()))
        again = await probe(bin, args(t, served()))
        if (fresh.res.auth_key_id !== undefined) id = BigInt(fresh.res.auth_key_id)
      })

      it('fresh exchange: one DH secret drawn, the 256-byte key gotd keeps is the one the server stored', async () => {
        const s = served()
        assertOk(fresh)
        assert.equal(fresh.res.session_existed, false)
        assert.equal(fresh.res.dh_draws, 1)
        assert.deepEqual(fresh.res.states, ['connecting', 'ready'])
        assert.equal(fresh.res.auth_key_len, 256)
        assert.ok(fresh.res.auth_key_id_matches, 'gotd stored id == SHA1-derived id of its stored key')
        const key = Buffer.from(fresh.res.auth_key_hex!, 'hex')
        assert.equal(authKeyId(key), id)
        assert.deepEqual((await s.e.server.store.get(id))?.key, key)
        assert.equal(s.created.filter((c) => c === id).length, 1, 'the server created that key once')
      })

      it(`on the wire: ${t.name === 'websocket' ? 'WebSocket /apiws, binary, ' : ''}${t.obfuscated ? `obfuscated2 over ${t.framing}` : t.framing}`, () => {
        assertOk(fresh)
        assert.equal(fresh.res.heads.length, 1, 'one TCP connection per run')
        assert.equal(again.res.heads.length, 1, 'one TCP connection per run')
        assertOnTheWire(t, [...fresh.res.heads, ...again.res.heads])
      })

      it(`help.getConfig at gotd's layer ${GOTD_LAYER} (answered in layer ${servedLayer(GOTD_LAYER)}): this_dc 2, our address for every DC; help.getNearestDc; ping → pong`, () => {
        assertRpcs(fresh)
        assert.deepEqual(fresh.res.config!.dc_options, [1, 2, 3, 4, 5].map((dc) => `${dc} ${served().e.host}:${TCP_PORT}`))
      })

      it(`the server saw layer ${GOTD_LAYER} and api_id ${API_ID} on that key`, () => {
        const ctxs = served().seen.contexts.filter((c) => c.authKeyId === id)
        assert.ok(ctxs.length >= 1, 'help.getNearestDc was served on that key')
        for (const c of ctxs) {
          assert.equal(c.layer, GOTD_LAYER)
          assert.equal(c.client?.apiId, API_ID)
        }
      })

      it('a second process on the same session file: no exchange, no new key, RPCs and ping on the same auth_key_id', () => {
        const s = served()
        assertRpcs(again)
        assert.equal(again.res.session_existed, true)
        assert.deepEqual(again.res.states, ['connecting', 'ready'])
        assert.equal(again.res.dh_draws, 0, 'no DH secret drawn: no exchange')
        assert.equal(again.res.auth_key_id, fresh.res.auth_key_id)
        assert.equal(again.res.auth_key_hex, fresh.res.auth_key_hex)
        assert.equal(s.created.filter((c) => c === id).length, 1, 'no key created again')
        const ctxs = s.seen.contexts.filter((c) => c.authKeyId === id)
        assert.equal(ctxs.length, 2, 'help.getNearestDc once per run, both on that key')
        assert.notEqual(ctxs[0]!.connection.connId, ctxs[1]!.connection.connId)
        assert.notEqual(ctxs[0]!.sessionId, ctxs[1]!.sessionId)
      })
    })
  }

  describe('every transport', () => {
    const served = serve({ host: '127.0.41.1' })
    for (const t of TRANSPORTS) describeWorking(t, served)
    it('each transport made exactly one key', () => {
      const { created } = served()
      assert.equal(created.length, TRANSPORTS.length)
      assert.equal(new Set(created).size, TRANSPORTS.length)
    })
  })

  describe('a key whose first byte is 0 (forced: server a, gotd b through Options.Random; intermediate)', () => {
    const served = serve({ host: '127.0.41.2', random: firstSecret(pair.a) })
    let r: Probe
    before(async () => {
      r = await probe(bin, args(TRANSPORTS[1], served()), pair.b)
    })

    it('the forced key really starts with a 0 byte', () => {
      assert.equal(pair.key.length, 256)
      assert.equal(pair.key[0], 0)
    })

    it('gotd drew b once, accepted dh_gen_ok in its first exchange and kept the 256-byte key with its 0 byte', () => {
      assertOk(r)
      assert.ok(r.res.b_injected && r.res.b_given, 'gotd took our b from Options.Random')
      assert.equal(r.res.dh_draws, 1, 'one exchange (one DH secret drawn)')
      assert.deepEqual(r.res.states, ['connecting', 'ready'])
      assert.equal(r.res.auth_key_len, 256)
      assert.deepEqual(Buffer.from(r.res.auth_key_hex!, 'hex'), pair.key)
      assert.equal(r.res.auth_key_id, zeroId.toString())
      assert.ok(r.res.auth_key_id_matches, 'gotd stored id == SHA1-derived id of its stored key')
    })

    it('the server created and stored the 256-byte leading-zero key (and not its 255-byte form)', async () => {
      const { e } = served()
      assert.deepEqual((await e.server.store.get(zeroId))?.key, pair.key)
      assert.equal(await e.server.store.get(authKeyId(pair.key.subarray(1))), undefined)
    })

    it("gotd's encrypted session on that key works: help.getConfig, help.getNearestDc, ping", () => {
      assertRpcs(r)
      assert.ok(served().seen.contexts.some((c) => c.authKeyId === zeroId), 'help.getNearestDc was served on the leading-zero key')
    })
  })

  describe('a server push', () => {
    const served = serve({ host: '127.0.41.3' })

    it(`reaches gotd's UpdateHandler (tg.UpdateDispatcher.OnNewMessage), message written in layer ${servedLayer(GOTD_LAYER)}`, async (t) => {
      const { e, pem } = served()
      const USER = 7n
      const readiness = installPushReadiness(e, USER)
      const text = pushText('push to gotd')
      const client = startGotdPushClient(e, bin, pem, dir, text)
      const { ctx, res, afterMs } = await pushToOne(e, readiness, client, USER, text)
      assert.equal(ctx.layer, GOTD_LAYER)
      t.diagnostic(`result ${afterMs} ms after the push; whole run ${res.elapsed_ms} ms`)
      assert.equal(res.layer, GOTD_LAYER)
      assert.equal(res.status, true)
      assert.equal(BigInt(res.auth_key_id!), ctx.authKeyId)
      assert.equal(messageCtorFor(GOTD_LAYER), '7600b9d3')
      assert.deepEqual(withText(res.received, text), [{ updates: 'dispatched', update: 'updateNewMessage', message: 'message', message_ctor: '7600b9d3', text }])
      assert.ok(res.received!.some((r) => r.updates === 'updates'), 'the Updates object reached the handler')
      assert.deepEqual(res.dead_errors, [])
    })
  })
})
