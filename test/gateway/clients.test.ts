/**
 * Real clients from npm complete the handshake against our server and end up with the same
 * auth key (id) as the store: GramJS over full, abridged and obfuscated TCP; mtcute over
 * intermediate and obfuscated TCP, with the legacy RSA form, and with PFS (temp key). On a key
 * whose first byte is 0 both libraries fail their own hash check and start a new exchange.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { AuthKeyType } from '../../src/store/types.js'
import { createRequire } from 'node:module'
import { authKeyId } from '../../src/handshake/kdf.js'
import { firstSecret, leadingZeroPair } from '../helpers/leading-zero.js'
import { startTestServer, type TestServer } from '../helpers/clients.js'
import { gramjsHandshake, startGramJsClient } from '../helpers/gramjs.js'
import { startMtcute, type MtcuteHandshakeOptions } from '../helpers/mtcute.js'

const require = createRequire(import.meta.url)

let server: TestServer

before(async () => {
  server = await startTestServer({ crypto: 'pool' })
})
after(async () => {
  await server.close()
})

for (const transport of ['full', 'abridged', 'obfuscated'] as const) {
  test(`GramJS handshake over ${transport} TCP: same auth key on both sides`, async () => {
    const res = await gramjsHandshake(server, transport)
    const rec = await server.store.get(res.authKeyId)
    assert.ok(rec, 'the store holds the key GramJS computed')
    assert.deepEqual(rec.key, res.authKey)
    assert.equal(rec.type, AuthKeyType.perm)
  })
}

const mtcuteCases: Array<[string, MtcuteHandshakeOptions, number]> = [
  ['intermediate', {}, AuthKeyType.perm],
  ['obfuscated', { obfuscated: true }, AuthKeyType.perm],
  ['intermediate, legacy RSA form', { legacyRsa: true }, AuthKeyType.perm],
  ['intermediate with PFS (temp key)', { pfs: true }, AuthKeyType.temp],
]

for (const [name, opts, type] of mtcuteCases) {
  test(`mtcute handshake over ${name}: it encrypts with a key the store holds`, async () => {
    const before = server.encrypted.length
    const tg = await startMtcute(server, opts)
    try {
      tg.poke()
      const id = await server.waitEncrypted((id) => server.encrypted.indexOf(id) >= before)
      const rec = await server.store.get(id)
      assert.ok(rec, 'auth_key_id used by mtcute is in the store')
      assert.equal(rec.type, type)
      if (type === AuthKeyType.temp) assert.ok(rec.expiresAt! > Date.now() / 1000)
    } finally {
      await tg.close()
    }
  })
}

test('GramJS TelegramClient (whole client, obfuscated TCP): it encrypts with the stored key it saved', async () => {
  const s80 = await startTestServer({ host: '127.0.12.1' })
  const client = await startGramJsClient(s80, 'obfuscated')
  try {
    const id = await s80.waitEncrypted()
    assert.ok(await s80.store.get(id), 'the key GramJS encrypts with is in the store')
    assert.equal(client.authKeyId(), id, 'and it is the key in its session')
  } finally {
    await client.close()
    await s80.close()
  }
})

// ---- a forced leading-zero key: the server's DH secret a and the client's b (through the client's
// own random source) are the pair of test/helpers/leading-zero.ts. The server answers dh_gen_ok
// over the 256-byte key; GramJS and mtcute drop the zero byte, fail their own new_nonce_hash1
// check and start a new exchange.

function leadingZeroServer(host: string): Promise<TestServer> {
  return startTestServer({ host, random: firstSecret(leadingZeroPair().a) })
}

/** GramJS draws its DH secret with Helpers.generateRandomBytes(256): the first such draw gets b. */
function gramjsDrawsB(): () => void {
  const helpers = require('telegram/Helpers.js') as { generateRandomBytes: (n: number) => Buffer }
  const real = helpers.generateRandomBytes
  const draw = firstSecret(leadingZeroPair().b, real)
  helpers.generateRandomBytes = draw
  return () => {
    helpers.generateRandomBytes = real
  }
}

async function assertZeroKeyAcknowledged(s: TestServer): Promise<void> {
  const { key } = leadingZeroPair()
  assert.deepEqual((await s.store.get(authKeyId(key)))?.key, key, 'the leading-zero key was stored with its 256 bytes')
  assert.ok(s.created.some((c) => c.record.key.equals(key)), 'and acknowledged with dh_gen_ok')
}

test('mtcute on a forced leading-zero key: fails its hash check, reconnects, works with its next key', async () => {
  const s = await leadingZeroServer('127.0.12.2')
  const tg = await startMtcute(s, { firstDhSecret: leadingZeroPair().b })
  try {
    tg.poke()
    const id = await s.waitEncrypted()
    await assertZeroKeyAcknowledged(s)
    assert.equal(s.created.length, 2, 'a second exchange')
    assert.notEqual(id, authKeyId(leadingZeroPair().key))
    assert.ok(await s.store.get(id), 'mtcute encrypts with the stored key')
  } finally {
    await tg.close()
    await s.close()
  }
})

test('GramJS on a forced leading-zero key: fails its hash check, new exchange on the same connection', async () => {
  const s = await leadingZeroServer('127.0.12.3')
  const restore = gramjsDrawsB()
  try {
    const res = await gramjsHandshake(s, 'obfuscated')
    await assertZeroKeyAcknowledged(s)
    assert.equal(res.failures, 1, 'GramJS saw one failed exchange')
    assert.deepEqual((await s.store.get(res.authKeyId))?.key, res.authKey)
    assert.equal(s.created.length, 2)
  } finally {
    restore()
    await s.close()
  }
})

test('GramJS TelegramClient on a forced leading-zero key: its connect loop ends on a stored key', async () => {
  const s = await leadingZeroServer('127.0.12.4')
  const restore = gramjsDrawsB()
  const client = await startGramJsClient(s, 'full')
  try {
    const id = await s.waitEncrypted()
    await assertZeroKeyAcknowledged(s)
    assert.ok(await s.store.get(id))
    assert.equal(client.authKeyId(), id)
    assert.notEqual(id, authKeyId(leadingZeroPair().key))
  } finally {
    restore()
    await client.close()
    await s.close()
  }
})
