/**
 * Python clients from PyPI (Telethon 1.x, and Kurigram, a Pyrogram fork that imports as
 * `pyrogram`) against the whole server on an auth key whose first byte is 0 (1 key in 256): the
 * server answers dh_gen_ok with new_nonce_hash1 over the 256-byte key and stores those 256 bytes.
 * test/interop/python/leading_zero.py runs each library's own exchange and session; we inject only
 * our address, our RSA key and the client's DH secret b (its first os.urandom(256)).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { authKeyId } from '../../src/handshake/kdf.js'
import { firstSecret, leadingZeroPair } from '../helpers/leading-zero.js'
import { startE2eServer, type E2eServer } from '../e2e/harness.js'
import { installHandlers, type Observed } from '../e2e/scenario.js'
import { answerGetMeUnauthorized, drive as runDriver, ok, type DriverOutput, type Library } from './python/driver.js'

interface DriverResult extends DriverOutput {
  /** The key the client ended on (hex). */
  auth_key?: string
  rpc?: { type: string; this_dc: number; nearest_dc: number }
  /** How many os.urandom(256) draws the client made (the first one was our b). */
  draws256?: number
}

function drive(library: Library, e: E2eServer, b: Buffer): Promise<DriverResult> {
  return runDriver<DriverResult>('leading_zero.py', library, e, { b: b.toString('hex') })
}

const pair = leadingZeroPair()
const zeroId = authKeyId(pair.key)

/** A server whose first DH secret is `pair.a`, with help.getNearestDc recording its callers. */
async function zeroKeyServer(host: string): Promise<{ e: E2eServer; seen: Observed }> {
  const e = await startE2eServer({ host, tcpPort: 0, random: firstSecret(pair.a) })
  answerGetMeUnauthorized(e)
  return { e, seen: installHandlers(e) }
}

describe('Python clients from PyPI get a working auth key when its first byte is 0', () => {
  it('the forced key really starts with a 0 byte', () => {
    assert.equal(pair.key.length, 256)
    assert.equal(pair.key[0], 0)
  })

  describe('Telethon', () => {
    let e: E2eServer
    let seen: Observed
    let run: DriverResult | Error
    before(async () => {
      ;({ e, seen } = await zeroKeyServer('127.0.40.1'))
      run = await drive('telethon', e, pair.b).catch((err: Error) => err)
    })
    after(async () => {
      await e?.close()
    })

    it('computes the key without its 0 byte, so its new_nonce_hash1 check fails: it starts a second exchange by itself', () => {
      const res = ok(run)
      assert.ok(res.log!.some((l) => l.includes('Step 3 invalid new nonce hash')), `Telethon's log:\n${res.log!.join('\n')}`)
      assert.ok(res.draws256! >= 2, `a second DH secret was drawn (draws: ${res.draws256})`)
    })

    it('the server had stored the 256-byte leading-zero key (and not its 255-byte form)', async () => {
      ok(run)
      assert.deepEqual((await e.server.store.get(zeroId))?.key, pair.key)
      assert.equal(await e.server.store.get(authKeyId(pair.key.subarray(1))), undefined)
    })

    it('ends on the key of its second exchange, which the store holds, and help.getNearestDc is answered on it', async () => {
      const res = ok(run)
      const key = Buffer.from(res.auth_key!, 'hex')
      assert.equal(key.length, 256)
      assert.notDeepEqual(key, pair.key)
      assert.deepEqual((await e.server.store.get(authKeyId(key)))?.key, key)
      assert.equal(res.rpc!.type, 'NearestDc')
      assert.equal(res.rpc!.this_dc, 2)
      assert.ok(seen.contexts.some((c) => c.authKeyId === authKeyId(key)), 'the server served the query on that key')
    })
  })

  describe('Kurigram (pyrogram)', () => {
    let e: E2eServer
    let seen: Observed
    let run: DriverResult | Error
    before(async () => {
      ;({ e, seen } = await zeroKeyServer('127.0.40.2'))
      run = await drive('pyrogram', e, pair.b).catch((err: Error) => err)
    })
    after(async () => {
      await e?.close()
    })

    it('takes dh_gen_ok in its first exchange and keeps the 256-byte key with its 0 byte', async () => {
      const res = ok(run)
      assert.equal(res.draws256, 1, 'one exchange')
      assert.ok(res.log!.some((l) => l.includes('Done auth key exchange: DhGenOk')), `Pyrogram's log:\n${res.log!.join('\n')}`)
      assert.deepEqual(Buffer.from(res.auth_key!, 'hex'), pair.key)
      assert.deepEqual((await e.server.store.get(zeroId))?.key, pair.key)
    })

    it('its session on that key works: ping + initConnection(help.getConfig), then help.getNearestDc is answered', () => {
      const res = ok(run)
      assert.equal(res.rpc!.type, 'NearestDc')
      assert.equal(res.rpc!.this_dc, 2)
      assert.ok(seen.contexts.some((c) => c.authKeyId === zeroId), 'the server served the query on the leading-zero key')
    })
  })
})
