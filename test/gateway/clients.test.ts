/**
 * Real clients from npm complete the handshake against our server and end up with the same
 * auth key (id) as the store: GramJS over full, abridged and obfuscated TCP; mtcute over
 * intermediate and obfuscated TCP, with the legacy RSA form, and with PFS (temp key). A key the
 * server refuses (first byte 0: dh_gen_fail) is followed by a new exchange in both libraries.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { AuthKeyType } from '../../src/store/types.js'
import type { HandshakeCrypto } from '../../src/handshake/crypto-backend.js'
import {
  startTestServer,
  gramjsHandshake,
  startMtcute,
  startGramJsClient,
  zeroFirstKeys,
  type TestServer,
  type GramTransport,
  type MtcuteOptions,
} from '../helpers/clients.js'

let server: TestServer

before(async () => {
  server = await startTestServer({ crypto: 'pool' })
})
after(async () => {
  await server.close()
})

for (const transport of ['full', 'abridged', 'obfuscated'] as GramTransport[]) {
  test(`GramJS handshake over ${transport} TCP: same auth key on both sides`, async () => {
    const res = await gramjsHandshake(server, transport)
    const rec = await server.store.get(res.authKeyId)
    assert.ok(rec, 'the store holds the key GramJS computed')
    assert.deepEqual(rec.key, res.authKey)
    assert.equal(rec.type, AuthKeyType.perm)
  })
}

const mtcuteCases: Array<[string, MtcuteOptions, number]> = [
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

/** A server whose first auth key comes out with a leading zero byte (refused with dh_gen_fail). */
async function refusingServer(host: string): Promise<{ s: TestServer; zeroed: () => number }> {
  let wrapped: (HandshakeCrypto & { zeroed: number }) | undefined
  const s = await startTestServer({ host, wrapCrypto: (c) => (wrapped = zeroFirstKeys(c)) })
  return { s, zeroed: () => wrapped!.zeroed }
}

test('mtcute after a refused leading-zero key (dh_gen_fail): reconnects, new exchange, stored key', async () => {
  const { s, zeroed } = await refusingServer('127.0.12.2')
  const tg = await startMtcute(s)
  try {
    tg.poke()
    const id = await s.waitEncrypted()
    assert.equal(zeroed(), 1, 'the first key was refused')
    assert.equal(s.created.length, 1, 'only the second exchange ended in dh_gen_ok')
    assert.ok(await s.store.get(id), 'mtcute encrypts with the stored key')
  } finally {
    await tg.close()
    await s.close()
  }
})

test('GramJS after a refused leading-zero key (dh_gen_fail): new exchange on the same connection', async () => {
  const { s, zeroed } = await refusingServer('127.0.12.3')
  try {
    const res = await gramjsHandshake(s, 'obfuscated')
    assert.equal(zeroed(), 1)
    assert.equal(res.failures, 1, 'GramJS saw one failed exchange')
    assert.deepEqual((await s.store.get(res.authKeyId))?.key, res.authKey)
    assert.equal(s.created.length, 1)
  } finally {
    await s.close()
  }
})

test('GramJS TelegramClient after a refused leading-zero key: its connect loop gets a stored key', async () => {
  const { s, zeroed } = await refusingServer('127.0.12.4')
  const client = await startGramJsClient(s, 'full')
  try {
    const id = await s.waitEncrypted()
    assert.equal(zeroed(), 1)
    assert.equal(s.created.length, 1, 'the refused key was never acknowledged')
    assert.ok(await s.store.get(id))
    assert.equal(client.authKeyId(), id)
  } finally {
    await client.close()
    await s.close()
  }
})
