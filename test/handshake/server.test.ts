import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryAuthKeyStore } from '../../src/store/memory.js'
import { StoreError, AuthKeyType, type AuthKeyRecord } from '../../src/store/types.js'
import { ManualClock } from '../../src/util/clock.js'
import { RsaPrivateKey } from '../../src/handshake/rsa-key.js'
import { RsaKeySet } from '../../src/handshake/rsa-keyset.js'
import { InlineCrypto } from '../../src/handshake/crypto-backend.js'
import { CryptoPool } from '../../src/handshake/crypto-pool.js'
import { HandshakeService, type HandshakeServiceOptions } from '../../src/handshake/server.js'
import { clientHandshake, ClientHandshakeError, type ClientHandshakeOptions } from '../../src/handshake/client.js'
import { decodeWithLength, serialize } from '../../src/handshake/messages.js'
import { DH_PRIME_BIG, bytesFromBig } from '../../src/handshake/dh.js'
import { PqPool } from '../../src/handshake/pq.js'
import { authKeyId, newNonceHash } from '../../src/handshake/kdf.js'
import { Loopback, TransportErrorReply } from './harness.js'
import { firstSecret, leadingZeroPair } from '../helpers/leading-zero.js'

let key: RsaPrivateKey
let other: RsaPrivateKey
let pool: PqPool

before(async () => {
  key = RsaPrivateKey.generate()
  other = RsaPrivateKey.generate()
  pool = new PqPool(16)
  await pool.fill()
})
after(() => pool.close())

function setup(over: Partial<HandshakeServiceOptions> = {}) {
  const keys = new RsaKeySet([key])
  const store = new MemoryAuthKeyStore()
  const clock = new ManualClock()
  const service = new HandshakeService({ keys, crypto: new InlineCrypto(keys), store, dcIds: [2], pq: pool, clock, ...over })
  return { keys, store, clock, service }
}

const client = (o: Partial<ClientHandshakeOptions> = {}): ClientHandshakeOptions => ({ publicKeys: [key.publicKey], dcId: 2, ...o })

async function rejects(p: Promise<unknown>, code: number | string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    if (typeof code === 'number') return err instanceof TransportErrorReply && err.code === code
    return err instanceof ClientHandshakeError && err.reason === code
  })
}

test('full exchange: permanent key, same key on both sides, stored with its first salt', async () => {
  const { store, service } = setup()
  const lb = new Loopback(service)
  const res = await clientHandshake(lb, client())
  const rec = await store.get(res.authKeyId)
  assert.ok(rec)
  assert.deepEqual(rec.key, res.authKey)
  assert.equal(rec.type, AuthKeyType.perm)
  assert.equal(rec.expiresAt, undefined)
  assert.equal(lb.created.length, 1)
  assert.equal(lb.created[0]!.serverSalt, res.serverSalt)
  const salts = await store.loadSalts(res.authKeyId)
  assert.equal(salts[0]!.salt, res.serverSalt)
})

test('plain p_q_inner_data (GramJS form) and legacy SHA-1 RSA form are accepted', async () => {
  const { store, service } = setup()
  const a = await clientHandshake(new Loopback(service), client({ dcId: undefined }))
  const b = await clientHandshake(new Loopback(service), client({ legacyRsa: true }))
  assert.ok(await store.get(a.authKeyId))
  assert.ok(await store.get(b.authKeyId))
})

test('temp and media-temp keys carry type and expiry; expires_in is capped', async () => {
  const { store, service, clock } = setup({ maxTempSeconds: 3600 })
  const now = Math.floor(clock.now() / 1000)
  const t = await clientHandshake(new Loopback(service), client({ expiresIn: 600 }))
  const m = await clientHandshake(new Loopback(service), client({ expiresIn: 86400 * 30, media: true }))
  const tr = (await store.get(t.authKeyId)) as AuthKeyRecord
  const mr = (await store.get(m.authKeyId)) as AuthKeyRecord
  assert.equal(tr.type, AuthKeyType.temp)
  assert.equal(tr.expiresAt, now + 600)
  assert.equal(mr.type, AuthKeyType.mediaTemp)
  assert.equal(mr.expiresAt, now + 3600)
})

test('two exchanges one after the other on one connection (perm then temp)', async () => {
  const { store, service } = setup()
  const lb = new Loopback(service)
  const a = await clientHandshake(lb, client())
  const b = await clientHandshake(lb, client({ expiresIn: 100 }))
  assert.notEqual(a.authKeyId, b.authKeyId)
  assert.ok(await store.get(b.authKeyId))
})

test('crypto worker pool gives the same protocol result', async () => {
  const keys = new RsaKeySet([key])
  const crypto = new CryptoPool(keys, 2)
  try {
    const { store, service } = setup({ crypto })
    const res = await Promise.all([0, 1, 2].map(() => clientHandshake(new Loopback(service), client())))
    for (const r of res) assert.deepEqual((await store.get(r.authKeyId))?.key, r.authKey)
  } finally {
    await crypto.close()
  }
})

test('crypto pool: ready(), and a key added at run time decrypts in every worker', async () => {
  const keys = new RsaKeySet([key])
  const crypto = new CryptoPool(keys, 2)
  try {
    await crypto.ready()
    keys.add(other)
    await crypto.addKey(other.toPem())
    const { store, service } = setup({ keys, crypto })
    const res = await Promise.all([0, 1].map(() => clientHandshake(new Loopback(service), client({ publicKeys: [other.publicKey] }))))
    for (const r of res) assert.ok(await store.get(r.authKeyId))
    await assert.rejects(crypto.rsaDecrypt(12345n, Buffer.alloc(256, 1)), (e: unknown) => (e as { reason?: string }).reason === 'unknown_fingerprint')
  } finally {
    await crypto.close()
  }
})

test('crypto pool: a crashed worker is replaced and handshakes keep working', async () => {
  const keys = new RsaKeySet([key])
  const crypto = new CryptoPool(keys, 1)
  try {
    await crypto.ready()
    // Kill the worker as a crash would.
    await (crypto as unknown as { slots: Array<{ worker: { terminate(): Promise<number> } }> }).slots[0]!.worker.terminate()
    await new Promise((r) => setTimeout(r, 50))
    const { store, service } = setup({ crypto })
    const res = await clientHandshake(new Loopback(service), client())
    assert.ok(await store.get(res.authKeyId))
  } finally {
    await crypto.close()
  }
})

test('rotation: retired key is not offered but still decrypts; new key offered', async () => {
  const retired = RsaPrivateKey.fromPem(key.toPem(), true)
  const keys = new RsaKeySet([retired, other])
  assert.deepEqual(keys.offered(), [other.fingerprint])
  const { store, service } = setup({ keys, crypto: new InlineCrypto(keys) })
  // Client knows both: picks the offered one.
  const a = await clientHandshake(new Loopback(service), client({ publicKeys: [key.publicKey, other.publicKey] }))
  assert.ok(await store.get(a.authKeyId))
  // A client still using the retired key (e.g. an old build) gets through with its fingerprint.
  const c = await clientHandshake(new Loopback(service), client({
    publicKeys: [other.publicKey],
    tamper: {
      reqDhParams: (r) => {
        // Re-encrypt for the retired key under its fingerprint.
        r.public_key_fingerprint = key.fingerprint
        r.encrypted_data = Buffer.from(reencrypt)
      },
      innerData: (d) => {
        reencrypt = rsaPadFor(d)
        return d
      },
    },
  }))
  assert.ok(await store.get(c.authKeyId))
})
let reencrypt: Buffer = Buffer.alloc(0)
import { rsaPadEncrypt } from '../../src/handshake/rsa-pad.js'
import { secureRandom } from '../../src/crypto/random.js'
const rsaPadFor = (d: Parameters<typeof serialize>[0]): Buffer => rsaPadEncrypt(serialize(d), key.publicKey, secureRandom)

test('dh_gen_retry on an auth_key_id collision; client retries with retry_id = aux hash', async () => {
  const base = new MemoryAuthKeyStore()
  let first = true
  const store = Object.assign(Object.create(base) as MemoryAuthKeyStore, {
    put: async (r: AuthKeyRecord) => {
      if (first) {
        first = false
        return 'exists' as const
      }
      return base.put(r)
    },
  })
  const { service } = setup({ store })
  const res = await clientHandshake(new Loopback(service), client())
  assert.equal(res.retries, 1)
  assert.ok(await base.get(res.authKeyId))
})

test('store unavailable: transport error, never dh_gen_ok', async () => {
  const base = new MemoryAuthKeyStore()
  const store = Object.assign(Object.create(base) as MemoryAuthKeyStore, {
    put: async () => {
      throw new StoreError('unavailable', 'db down')
    },
  })
  const { service } = setup({ store })
  await rejects(clientHandshake(new Loopback(service), client()), -404)
})

// ---- negative tests: one per check

test('unknown fingerprint → -404', async () => {
  const { service } = setup()
  await rejects(clientHandshake(new Loopback(service), client({ tamper: { reqDhParams: (r) => void (r.public_key_fingerprint = other.fingerprint) } })), -404)
})

test('bad RSA padding (corrupted encrypted_data) → -404', async () => {
  const { service } = setup()
  await rejects(clientHandshake(new Loopback(service), client({ tamper: { reqDhParams: (r) => void (r.encrypted_data[100] ^= 1) } })), -404)
})

test('encrypted_data ≥ modulus → -404', async () => {
  const { service } = setup()
  await rejects(clientHandshake(new Loopback(service), client({ tamper: { reqDhParams: (r) => void (r.encrypted_data = Buffer.alloc(256, 0xff)) } })), -404)
})

test('wrong p/q in req_DH_params → -404', async () => {
  const { service } = setup()
  await rejects(clientHandshake(new Loopback(service), client({ tamper: { reqDhParams: (r) => void (r.p = Buffer.from([0, 0, 0, 7])) } })), -404)
})

test('wrong pq inside the encrypted data → server_DH_params_fail; later requests → -404', async () => {
  const { service } = setup()
  const lb = new Loopback(service)
  await rejects(clientHandshake(lb, client({ tamper: { innerData: (d) => ({ ...d, pq: Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]) }) } })), 'server_DH_params_fail')
  await rejects(clientHandshake(lb, client()), -404)
})

test('wrong dc → server_DH_params_fail; test DC id at a production DC → -444', async () => {
  const { service } = setup()
  await rejects(clientHandshake(new Loopback(service), client({ dcId: 3 })), 'server_DH_params_fail')
  await rejects(clientHandshake(new Loopback(service), client({ dcId: 10002 })), -444)
})

test('every DC of dcIds is served (main, media, temp): the created key says which; another DC is named in the log', async () => {
  const lines: Array<Record<string, unknown>> = []
  const log = { info: (o: Record<string, unknown>, msg: string) => lines.push({ ...o, msg }), child: () => log, debug: () => {}, warn: () => {}, isLevelEnabled: () => true }
  const { service } = setup({ dcIds: [1, 3, 5], log: log as unknown as HandshakeServiceOptions['log'] })
  const cases: Array<[Partial<ClientHandshakeOptions>, number | undefined]> = [
    [{ dcId: 1 }, 1],
    [{ dcId: 3, expiresIn: 600 }, 3],
    [{ dcId: 5, media: true, expiresIn: 600 }, 5],
    [{ dcId: undefined }, undefined],
  ]
  for (const [o, dc] of cases) {
    const lb = new Loopback(service)
    await clientHandshake(lb, client(o))
    assert.equal(lb.created[0]!.dcId, dc, JSON.stringify(o))
  }
  await rejects(clientHandshake(new Loopback(service), client({ dcId: 2 })), 'server_DH_params_fail')
  const line = lines.find((l) => l.reason === 'server_DH_params_fail_wrong_dc')
  assert.ok(line, JSON.stringify(lines))
  assert.equal(line.dc, 2)
  assert.match(String(line.msg), /dc 2, which is not served/)
  await rejects(clientHandshake(new Loopback(service), client({ dcId: 10003 })), -444)
})

test('wrong nonce inside the encrypted data → -404', async () => {
  const { service } = setup()
  await rejects(clientHandshake(new Loopback(service), client({ tamper: { innerData: (d) => ({ ...d, nonce: Buffer.alloc(16, 1) }) } })), -404)
})

test('req_DH_params with an unknown nonce or server_nonce → -404', async () => {
  const { service } = setup()
  const lb = new Loopback(service)
  const body = serialize({ _: 'req_DH_params', nonce: Buffer.alloc(16, 9), server_nonce: Buffer.alloc(16, 9), p: Buffer.from([1]), q: Buffer.from([2]), public_key_fingerprint: key.fingerprint, encrypted_data: Buffer.alloc(256) })
  await rejects(lb.call(body), -404)
  const lb2 = new Loopback(service)
  const nonce = Buffer.alloc(16, 3)
  await lb2.call(serialize({ _: 'req_pq_multi', nonce }))
  await rejects(lb2.call(serialize({ _: 'req_DH_params', nonce, server_nonce: Buffer.alloc(16, 9), p: Buffer.from([1]), q: Buffer.from([2]), public_key_fingerprint: key.fingerprint, encrypted_data: Buffer.alloc(256) })), -404)
})

test('repeated req_pq_multi gets the identical resPQ', async () => {
  const { service } = setup()
  const lb = new Loopback(service)
  const body = serialize({ _: 'req_pq_multi', nonce: Buffer.alloc(16, 5) })
  const a = await lb.call(body)
  const b = await lb.call(body)
  assert.deepEqual(a, b)
})

test('g_b out of range → dh_gen_fail (g_b = 1, g_b = 2, g_b = p − 1)', async () => {
  for (const gB of [1n, 2n, DH_PRIME_BIG - 1n, DH_PRIME_BIG - 5n]) {
    const { service, store } = setup()
    const lb = new Loopback(service)
    await rejects(clientHandshake(lb, client({ tamper: { clientInner: (d) => ({ ...d, g_b: bytesFromBig(gB, 256) }) } })), 'dh_gen_fail')
    assert.equal(lb.created.length, 0)
    void store
  }
})

test('client_DH_inner_data with a bad SHA-1 → -404', async () => {
  const { service } = setup()
  await rejects(clientHandshake(new Loopback(service), client({ tamper: { clientInnerPlain: (p) => { p[3] ^= 0xff; return p } } })), -404)
})

test('wrong retry_id → dh_gen_fail', async () => {
  const { service } = setup()
  await rejects(clientHandshake(new Loopback(service), client({ tamper: { clientInner: (d) => ({ ...d, retry_id: 42n }) } })), 'dh_gen_fail')
})

test('replayed set_client_DH_params: same connection → same answer, one key; other connection → -404', async () => {
  const { service, store } = setup()
  const lb = new Loopback(service)
  const res = await clientHandshake(lb, client())
  const setBody = lb.sent[lb.sent.length - 1]!
  const again = await lb.call(setBody)
  assert.equal(again.readUInt32LE(0), 0x3bcbf734, 'dh_gen_ok again')
  assert.equal(lb.created.length, 1, 'no second key')
  assert.ok(await store.get(res.authKeyId))
  await rejects(new Loopback(service).call(setBody), -404)
})

test('deadline: a step after the exchange deadline → -404', async () => {
  const { service, clock } = setup({ deadlineMs: 10_000 })
  const lb = new Loopback(service)
  await rejects(
    clientHandshake({ call: async (b) => { const r = await lb.call(b); clock.advance(11_000); return r } }, client()),
    -404,
  )
})

/** Runs our client's exchange on `lb` up to server_DH_params_ok and leaves it there (state dh_sent). */
async function toDhSent(lb: Loopback): Promise<void> {
  let calls = 0
  const stop = new Error('stop at dh_sent')
  const rpc = { call: async (b: Buffer) => { const r = await lb.call(b); if (++calls === 2) throw stop; return r } }
  await assert.rejects(clientHandshake(rpc, client()), (e) => e === stop)
}

test('flood: handshakes in flight per connection, and started per prefix (token bucket) → -429', async () => {
  const { service, clock } = setup({ maxPerConnection: 2, rate: { perSecondPerPrefix: 1, burstPerPrefix: 3 } })
  const lb = new Loopback(service, '10.9.9.9')
  await toDhSent(lb)
  await toDhSent(lb)
  await rejects(lb.call(serialize({ _: 'req_pq_multi', nonce: Buffer.alloc(16, 3) })), -429)
  // another address of the same /24 shares the bucket: one token left, then -429
  const lb2 = new Loopback(service, '10.9.9.10')
  await lb2.call(serialize({ _: 'req_pq_multi', nonce: Buffer.alloc(16, 4) }))
  await rejects(new Loopback(service, '10.9.9.11').call(serialize({ _: 'req_pq_multi', nonce: Buffer.alloc(16, 5) })), -429)
  // another /24 has its own bucket
  await new Loopback(service, '10.9.8.1').call(serialize({ _: 'req_pq_multi', nonce: Buffer.alloc(16, 6) }))
  // the bucket refills with time; exchanges left half-done hold nothing
  clock.advance(1000)
  await new Loopback(service, '10.9.9.9').call(serialize({ _: 'req_pq_multi', nonce: Buffer.alloc(16, 7) }))
  assert.equal(service.limiter.refused, 1, 'the first -429 was the per-connection limit')
})

test('flood from one address: -429 once its own bucket is empty; its neighbours in the /24 keep theirs', async () => {
  const { service, clock } = setup({ rate: { perSecondPerIp: 1, burstPerIp: 2 } })
  const req = (ip: string, n: number) => new Loopback(service, ip).call(serialize({ _: 'req_pq_multi', nonce: Buffer.alloc(16, n) }))
  await req('10.9.7.1', 1)
  await req('10.9.7.1', 2)
  await assert.rejects(req('10.9.7.1', 3), (e: unknown) => e instanceof TransportErrorReply && e.code === -429 && e.reason === 'rate_ip')
  await req('10.9.7.2', 4)
  clock.advance(1000)
  await req('10.9.7.1', 5)
  assert.deepEqual(service.limiter.refusedBy, { rate_ip: 1, rate_prefix: 0 })
})

test("TDLib's pings (td/mtproto/PingConnection.h): unanswered resPQs make way for the exchange on the same connection", async () => {
  const { service, store } = setup({ maxPerConnection: 2 })
  const lb = new Loopback(service, '10.9.9.8')
  await lb.call(serialize({ _: 'req_pq_multi', nonce: Buffer.alloc(16, 1) }))
  await lb.call(serialize({ _: 'req_pq_multi', nonce: Buffer.alloc(16, 2) }))
  const res = await clientHandshake(lb, client())
  assert.deepEqual((await store.get(res.authKeyId))?.key, res.authKey)
})

test('tgnet (Handshake.cpp): an exchange started beyond the rate gets -429 and the one in progress completes', async () => {
  const { service, store } = setup({ rate: { perSecondPerPrefix: 0.001, burstPerPrefix: 1 } })
  const first = new Loopback(service, '10.9.9.7')
  let second: Promise<unknown> | undefined
  const rpc = {
    call: async (b: Buffer) => {
      const r = await first.call(b)
      second ??= rejects(new Loopback(service, '10.9.9.7').call(serialize({ _: 'req_pq_multi', nonce: Buffer.alloc(16, 9) })), -429)
      await second
      return r
    },
  }
  const res = await clientHandshake(rpc, client())
  assert.deepEqual((await store.get(res.authKeyId))?.key, res.authKey)
})

test('unencrypted destroy_auth_key → destroy_auth_key_none', async () => {
  const { service } = setup()
  const ans = await new Loopback(service).call(serialize({ _: 'destroy_auth_key' }))
  assert.equal(ans.readUInt32LE(0), 0x0a9f2259)
})

// ---- auth keys whose first byte is 0 (GramJS and mtcute would hold them without that byte)

test('an auth key whose first byte is 0 → dh_gen_ok (hash1 over the 256-byte key), stored as 256 bytes', async () => {
  const { a, b, key: zeroKey } = leadingZeroPair()
  assert.equal(zeroKey[0], 0)
  assert.equal(zeroKey.length, 256)
  const { keys, store } = setup()
  const service = setup({ store, crypto: new InlineCrypto(keys, firstSecret(a)) }).service
  const lb = new Loopback(service)
  // Our client checks new_nonce_hash1 over its own 256-byte key, as the spec (and TDLib) do.
  const res = await clientHandshake(lb, client({ random: firstSecret(b) }))
  assert.deepEqual(res.authKey, zeroKey)
  assert.equal(lb.created.length, 1)
  assert.deepEqual((await store.get(authKeyId(zeroKey)))?.key, zeroKey, 'the 256-byte form is stored')
  assert.equal(await store.get(authKeyId(zeroKey.subarray(1))), undefined, "not the short form some clients compute")
})

test('a client that drops the leading zero byte fails its hash check; its next exchange on the connection succeeds', async () => {
  const { a, b, key: zeroKey } = leadingZeroPair()
  const { keys, store } = setup()
  const service = setup({ store, crypto: new InlineCrypto(keys, firstSecret(a)) }).service
  const lb = new Loopback(service)
  const draws: Buffer[] = []
  const secret = firstSecret(b)
  await clientHandshake(lb, client({ random: (n) => { const r = secret(n); draws.push(r); return r } }))
  const newNonce = draws.find((d) => d.length === 32)!
  const ok = decodeWithLength(lb.answers.at(-1)!).obj as unknown as { _: string; new_nonce_hash1: Buffer }
  assert.equal(ok._, 'dh_gen_ok')
  assert.deepEqual(ok.new_nonce_hash1, newNonceHash(newNonce, 1, zeroKey))
  // What GramJS, mtcute and Telethon compute: the key without its zero byte, so their check fails.
  assert.notDeepEqual(ok.new_nonce_hash1, newNonceHash(newNonce, 1, zeroKey.subarray(1)))
  const res = await clientHandshake(lb, client())
  assert.deepEqual((await store.get(res.authKeyId))?.key, res.authKey)
  assert.equal(lb.created.length, 2, 'both exchanges ended in dh_gen_ok')
})
