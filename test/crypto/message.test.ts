import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import Long from 'long'
import {
  AuthKey,
  authKeyId,
  decryptMessage,
  encryptMessage,
  jsMessageCore,
  MessageCryptoError,
  nativeCore,
  openMessage,
  paddingFor,
  quickAckToken,
  sealMessage,
  setMessageCore,
  type DecryptedMessage,
  type Direction,
  type MessageCore,
  type MessageCryptoErrorReason,
} from '../../src/crypto/message.js'
import { igeBackend } from '../../src/crypto/ige.js'
import { igeDecryptReference, igeEncryptReference } from '../../src/crypto/ige-reference.js'

const sha256 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest()
}

// auth_key from the spec's auth key generation example (mtproto-samples-auth_key.md, step 8)
const SPEC_AUTH_KEY = Buffer.from(
  '77379866D71627E6C3635361F9681B03C9EE8A7AAB9552EF513A13315EABC18A118ED649614AE1F01DAB8F71D83341309C5999AD4889E5D9F3E911AAAD00D9DDC24273D7B97DD92151F969242F347C8F9D5DE44E8D7E87A69C2AE1757F5ECD20AAFC586EDD34C89AC8D5B8F7C9EB33A0C7F06A69632BCEB8DE03E336E5AF0332D4B1F52BA73FBE7A3A6FE8C2268C10B9357E5474A7CCEB0E39FE3B4A92900CD09AF3C307D8FA90CB9DA2AD35643FB0335BD0B7E6D30D1038741EB632E6A97B692A1F76F418AF74337D05539B59DF1D4E16B7E0C87240595DDFD26037CDB7E70DB4B6C5CAE532F49BC6974F6F46FD3CBDCD90EBB6795FD9A43421BCDF893D5C46',
  'hex',
)

const X: Record<Direction, number> = { client: 0, server: 8 }

/**
 * The spec's algorithm written out independently (reference IGE, no length checks): encrypts
 * `inner` (plaintext + padding, already a multiple of 16) exactly as the description page says.
 */
function specEncrypt(authKey: Buffer, inner: Buffer, dir: Direction): Buffer {
  const x = X[dir]
  const msgKey = sha256(authKey.subarray(88 + x, 120 + x), inner).subarray(8, 24)
  const a = sha256(msgKey, authKey.subarray(x, x + 36))
  const b = sha256(authKey.subarray(40 + x, 76 + x), msgKey)
  const key = Buffer.concat([a.subarray(0, 8), b.subarray(8, 24), a.subarray(24, 32)])
  const iv = Buffer.concat([b.subarray(0, 8), a.subarray(8, 24), b.subarray(24, 32)])
  const id = createHash('sha1').update(authKey).digest().subarray(12, 20)
  return Buffer.concat([id, msgKey, igeEncryptReference(inner, key, iv)])
}

function specDecrypt(authKey: Buffer, packet: Buffer, dir: Direction): Buffer {
  const x = X[dir]
  const msgKey = packet.subarray(8, 24)
  const a = sha256(msgKey, authKey.subarray(x, x + 36))
  const b = sha256(authKey.subarray(40 + x, 76 + x), msgKey)
  const key = Buffer.concat([a.subarray(0, 8), b.subarray(8, 24), a.subarray(24, 32)])
  const iv = Buffer.concat([b.subarray(0, 8), a.subarray(8, 24), b.subarray(24, 32)])
  return igeDecryptReference(packet.subarray(24), key, iv)
}

/** salt + session_id + msg_id + seq_no + length + data */
function makePlaintext(data: Buffer, lengthField = data.length): Buffer {
  const header = Buffer.alloc(32)
  randomBytes(28).copy(header)
  header.writeInt32LE(lengthField, 28)
  return Buffer.concat([header, data])
}

const cores: [string, MessageCore][] = [['js core', jsMessageCore]]
if (nativeCore) cores.push(['native core', nativeCore])

function withCore<T>(c: MessageCore, fn: () => T): T {
  const prev = setMessageCore(c)
  try {
    return fn()
  } finally {
    setMessageCore(prev)
  }
}

function expectReason(fn: () => unknown, reason: MessageCryptoErrorReason): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof MessageCryptoError, `expected MessageCryptoError, got ${String(e)}`)
    assert.equal(e.reason, reason)
    return true
  })
}

test('the native message core is in use with the native IGE backend', () => {
  assert.equal(nativeCore !== undefined, igeBackend === 'native')
})

test('AuthKey: id is the lower 64 bits of SHA-1, signed little-endian; key is copied', () => {
  const k = new AuthKey(SPEC_AUTH_KEY)
  const sha = createHash('sha1').update(SPEC_AUTH_KEY).digest()
  assert.deepEqual(k.idBytes, sha.subarray(12, 20))
  assert.equal(k.id, sha.readBigInt64LE(12))
  assert.equal(authKeyId(SPEC_AUTH_KEY), k.id)
  assert.ok(k.id >= -(2n ** 63n) && k.id < 2n ** 63n)
  const src = Buffer.from(SPEC_AUTH_KEY)
  const k2 = new AuthKey(src)
  src.fill(0)
  assert.deepEqual(k2.key, SPEC_AUTH_KEY)
  assert.throws(() => new AuthKey(Buffer.alloc(255)), RangeError)
  // the key never shows up when printed
  assert.doesNotMatch(JSON.stringify(k), /7737/i)
})

test('paddingFor gives 12..27 and a multiple of 16', () => {
  for (let n = 32; n < 400; n += 4) {
    const p = paddingFor(n)
    assert.ok(p >= 12 && p <= 27)
    assert.equal((n + p) % 16, 0)
  }
})

for (const [name, c] of cores) {
  test(`${name}: matches the spec algorithm written out independently (both directions)`, () => {
    withCore(c, () => {
      const key = new AuthKey(SPEC_AUTH_KEY)
      for (const dir of ['client', 'server'] as const) {
        for (const n of [0, 4, 12, 100, 1000, 4096]) {
          const plain = makePlaintext(randomBytes(n))
          const pad = randomBytes(paddingFor(plain.length))
          const packet = encryptMessage(key, plain, dir, (len) => {
            assert.equal(len, pad.length)
            return pad
          })
          assert.deepEqual(packet, specEncrypt(SPEC_AUTH_KEY, Buffer.concat([plain, pad]), dir))
          assert.deepEqual(specDecrypt(SPEC_AUTH_KEY, packet, dir), Buffer.concat([plain, pad]))
        }
      }
    })
  })

  test(`${name}: round trip both directions, random keys and sizes, msgKeyLarge as specified`, () => {
    withCore(c, () => {
      for (let i = 0; i < 200; i++) {
        const raw = randomBytes(256)
        const key = new AuthKey(raw)
        const dir: Direction = i % 2 ? 'client' : 'server'
        const plain = makePlaintext(randomBytes(4 * Math.floor(Math.random() * 600)))
        const packet = encryptMessage(key, plain, dir)
        assert.equal((packet.length - 24) % 16, 0)
        const copy = Buffer.from(packet)
        const { plaintext, msgKeyLarge } = decryptMessage(key, packet, dir)
        assert.deepEqual(plaintext, plain)
        assert.deepEqual(packet, copy, 'decrypt must not modify the packet')
        const inner = specDecrypt(raw, packet, dir)
        assert.deepEqual(msgKeyLarge, sha256(raw.subarray(88 + X[dir], 120 + X[dir]), inner))
        assert.deepEqual(msgKeyLarge.subarray(8, 24), packet.subarray(8, 24))
      }
    })
  })

  test(`${name}: decrypting with the wrong direction or the wrong key fails on msg_key / auth_key_id`, () => {
    withCore(c, () => {
      const key = new AuthKey(randomBytes(256))
      const packet = encryptMessage(key, makePlaintext(randomBytes(64)), 'server')
      expectReason(() => decryptMessage(key, packet, 'client'), 'msg_key')
      expectReason(() => decryptMessage(new AuthKey(randomBytes(256)), packet, 'server'), 'auth_key_id')
    })
  })

  test(`${name}: security guideline checks (length, padding, msg_key before anything else)`, () => {
    withCore(c, () => {
      const raw = randomBytes(256)
      const key = new AuthKey(raw)
      const dir: Direction = 'client'
      const good = encryptMessage(key, makePlaintext(randomBytes(64)), dir)
      // outer length: too short, unaligned
      expectReason(() => decryptMessage(key, good.subarray(0, 24 + 32), dir), 'packet_length')
      expectReason(() => decryptMessage(key, good.subarray(0, good.length - 4), dir), 'packet_length')
      expectReason(() => decryptMessage(key, Buffer.alloc(0), dir), 'packet_length')
      // any bit flipped in msg_key or in the ciphertext
      for (const pos of [8, 23, 24, 40, good.length - 1]) {
        const bad = Buffer.from(good)
        bad[pos]! ^= 0x01
        expectReason(() => decryptMessage(key, bad, dir), 'msg_key')
      }
      // a message with a valid msg_key but a bad length field (crafted with the spec algorithm)
      const craft = (data: Buffer, lengthField: number, pad: number): Buffer =>
        specEncrypt(raw, Buffer.concat([makePlaintext(data, lengthField), randomBytes(pad)]), dir)
      expectReason(() => decryptMessage(key, craft(randomBytes(64), -4, 16), dir), 'message_length')
      expectReason(() => decryptMessage(key, craft(randomBytes(64), 62, 16), dir), 'message_length')
      expectReason(() => decryptMessage(key, craft(randomBytes(64), 64 + 20, 16), dir), 'message_length')
      expectReason(() => decryptMessage(key, craft(randomBytes(64), 0x7ffffffc, 16), dir), 'message_length')
      // padding below 12 (length field claims all but 4 bytes), above 1024
      expectReason(() => decryptMessage(key, craft(randomBytes(64), 64 + 12, 16), dir), 'padding')
      expectReason(() => decryptMessage(key, craft(randomBytes(64), 64, 0), dir), 'padding')
      expectReason(() => decryptMessage(key, craft(randomBytes(2000), 0, 16), dir), 'padding')
      // boundaries that are fine: padding exactly 12 and exactly 1024
      assert.equal(decryptMessage(key, craft(randomBytes(64), 64, 12 + 4), dir).plaintext.length, 32 + 64)
      assert.equal(decryptMessage(key, craft(randomBytes(1024), 0, 0), dir).plaintext.length, 32)
      assert.equal(decryptMessage(key, craft(randomBytes(1040), 16, 0), dir).plaintext.length, 48)
      // just outside: padding 1028 and 8 (the nearest values alignment allows)
      expectReason(() => decryptMessage(key, craft(randomBytes(1040), 12, 0), dir), 'padding')
      expectReason(() => decryptMessage(key, craft(randomBytes(16), 8, 0), dir), 'padding')
      // bad length field AND a tampered msg_key: msg_key is what is reported (checked first)
      const both = craft(randomBytes(64), -4, 16)
      both[10]! ^= 0x80
      expectReason(() => decryptMessage(key, both, dir), 'msg_key')
    })
  })
}

test('native and js cores produce identical packets and results', () => {
  const nc: MessageCore | undefined = nativeCore
  if (nc === undefined) {
    // only possible when the portable IGE backend is in use (MTGATE_IGE=portable or no addon)
    assert.equal(igeBackend, 'portable')
    return
  }
  for (let i = 0; i < 100; i++) {
    const key = new AuthKey(randomBytes(256))
    const dir: Direction = i % 2 ? 'client' : 'server'
    const plain = makePlaintext(randomBytes(4 * Math.floor(Math.random() * 300)))
    const pad = randomBytes(paddingFor(plain.length))
    const a: Buffer = withCore(jsMessageCore, () => encryptMessage(key, plain, dir, () => pad))
    const b: Buffer = withCore(nc, () => encryptMessage(key, plain, dir, () => pad))
    assert.deepEqual(a, b)
    const ra: DecryptedMessage = withCore(jsMessageCore, () => decryptMessage(key, b, dir))
    const rb: DecryptedMessage = withCore(nc, () => decryptMessage(key, a, dir))
    assert.deepEqual(ra, rb)
  }
})

test('sealMessage = encryptMessage of the framed plaintext; openMessage = decryptMessage with the padding kept', () => {
  for (let i = 0; i < 100; i++) {
    const key = new AuthKey(randomBytes(256))
    const dir: Direction = i % 2 ? 'client' : 'server'
    const body = randomBytes(4 * Math.floor(Math.random() * 300))
    const fields = { salt: -(3n << 60n) + BigInt(i), sessionId: 0x1234_5678_9abc_def0n, msgId: (1_750_000_000n << 32n) + BigInt(4 * i + 1), seqNo: 2 * i + 1, body }
    const plain = Buffer.alloc(32 + body.length)
    plain.writeBigInt64LE(fields.salt, 0)
    plain.writeBigInt64LE(fields.sessionId, 8)
    plain.writeBigInt64LE(fields.msgId, 16)
    plain.writeInt32LE(fields.seqNo, 24)
    plain.writeInt32LE(body.length, 28)
    body.copy(plain, 32)
    const pad = randomBytes(paddingFor(plain.length))
    const sealed = sealMessage(key, fields, dir, () => pad)
    assert.deepEqual(sealed, encryptMessage(key, plain, dir, () => pad))
    const mkl = Buffer.alloc(32)
    const opened = openMessage(key, sealed, dir, mkl)
    assert.deepEqual(opened, Buffer.concat([plain, pad]))
    assert.deepEqual(mkl, decryptMessage(key, sealed, dir).msgKeyLarge)
    // default padding: still opens to the same plaintext
    assert.deepEqual(openMessage(key, sealMessage(key, fields, dir), dir, mkl).subarray(0, plain.length), plain)
  }
  const key = new AuthKey(randomBytes(256))
  assert.throws(() => sealMessage(key, { salt: 0n, sessionId: 0n, msgId: 0n, seqNo: 0, body: Buffer.alloc(6) }, 'server'), RangeError)
  assert.equal(key.idHi, Number(key.id >> 32n))
  assert.equal(key.idLo, Number(BigInt.asIntN(32, key.id)))
})

test('openMessage: the same checks and reasons as decryptMessage', () => {
  const raw = randomBytes(256)
  const key = new AuthKey(raw)
  const mkl = Buffer.alloc(32)
  const good = encryptMessage(key, makePlaintext(randomBytes(64)), 'client')
  expectReason(() => openMessage(key, good.subarray(0, 24 + 32), 'client', mkl), 'packet_length')
  expectReason(() => openMessage(key, good.subarray(0, good.length - 4), 'client', mkl), 'packet_length')
  expectReason(() => openMessage(new AuthKey(randomBytes(256)), good, 'client', mkl), 'auth_key_id')
  expectReason(() => openMessage(key, good, 'server', mkl), 'msg_key')
  const craft = (data: Buffer, lengthField: number, pad: number): Buffer =>
    specEncrypt(raw, Buffer.concat([makePlaintext(data, lengthField), randomBytes(pad)]), 'client')
  expectReason(() => openMessage(key, craft(randomBytes(64), 62, 16), 'client', mkl), 'message_length')
  expectReason(() => openMessage(key, craft(randomBytes(64), 64 + 12, 16), 'client', mkl), 'padding')
  const copy = Buffer.from(good)
  openMessage(key, good, 'client', mkl)
  assert.deepEqual(good, copy, 'the packet is not modified')
})

test('encryptMessage rejects a malformed plaintext (programming error) with RangeError', () => {
  const key = new AuthKey(randomBytes(256))
  assert.throws(() => encryptMessage(key, Buffer.alloc(28), 'server'), RangeError)
  assert.throws(() => encryptMessage(key, Buffer.alloc(34), 'server'), RangeError)
  assert.throws(() => encryptMessage(key, makePlaintext(randomBytes(8), 12), 'server'), RangeError)
  assert.throws(() => encryptMessage(key, makePlaintext(randomBytes(8)), 'server', () => Buffer.alloc(1)), RangeError)
})

test('default padding is random and never repeats between messages', () => {
  const key = new AuthKey(randomBytes(256))
  const plain = makePlaintext(Buffer.alloc(16))
  const seen = new Set<string>()
  for (let i = 0; i < 600; i++) {
    // 600 × 28 bytes crosses the 4 KB padding pool several times
    const packet = encryptMessage(key, plain, 'server')
    seen.add(packet.toString('hex'))
    assert.deepEqual(decryptMessage(key, packet, 'server').plaintext, plain)
  }
  assert.equal(seen.size, 600)
})

test('quickAckToken: LE uint32 of msg_key_large[0:4] with the top bit set', () => {
  assert.equal(quickAckToken(Buffer.from([0x01, 0x02, 0x03, 0x04, ...new Array<number>(28).fill(0)])), 0x84030201)
  assert.equal(quickAckToken(Buffer.from([0xff, 0xff, 0xff, 0xff, ...new Array<number>(28).fill(0)])), 0xffffffff)
  assert.equal(quickAckToken(Buffer.alloc(32)), 0x80000000)
  // from a real message: computed over auth_key[88:120] + decrypted plaintext including padding
  const raw = randomBytes(256)
  const key = new AuthKey(raw)
  const packet = encryptMessage(key, makePlaintext(randomBytes(40)), 'client')
  const { msgKeyLarge } = decryptMessage(key, packet, 'client')
  const expected = sha256(raw.subarray(88, 120), specDecrypt(raw, packet, 'client'))
  assert.equal(quickAckToken(msgKeyLarge), (expected.readUInt32LE(0) | 0x80000000) >>> 0)
  assert.throws(() => quickAckToken(Buffer.alloc(3)), RangeError)
})

// ---- interop with the clients' own MTProto 2.0 code ----

const requireCjs = createRequire(import.meta.url)

interface BigInteger {
  toString(): string
}
interface GramTLMessage {
  msgId: BigInteger
  seqNo: number
  obj: { className: string; msgId: BigInteger; pingId: BigInteger }
}
interface GramState {
  salt: BigInteger
  id: BigInteger
  encryptMessageData(data: Buffer): Promise<Buffer>
  decryptMessageData(body: Buffer): Promise<GramTLMessage>
}

test('interop: GramJS MTProtoState (client) ↔ our server side', async () => {
  const bigInt = requireCjs('big-integer') as (s: string) => BigInteger
  const { AuthKey: GramAuthKey } = requireCjs('telegram/crypto/AuthKey') as {
    AuthKey: new () => { setKey(b: Buffer): Promise<void>; keyId?: BigInteger }
  }
  const { MTProtoState } = requireCjs('telegram/network/MTProtoState') as {
    MTProtoState: new (k: unknown, log: unknown) => GramState
  }
  for (let i = 0; i < 10; i++) {
    const raw = randomBytes(256)
    const gak = new GramAuthKey()
    await gak.setKey(raw)
    const ours = new AuthKey(raw)
    // GramJS keeps auth_key_id unsigned; same 64 bits
    assert.equal(gak.keyId?.toString(), BigInt.asUintN(64, ours.id).toString(), 'auth_key_id as GramJS computes it')
    const state = new MTProtoState(gak, { debug() {} })
    const salt = randomBytes(8).readBigInt64LE(0)
    const session = randomBytes(8).readBigInt64LE(0)
    state.salt = bigInt(salt.toString())
    state.id = bigInt(session.toString())

    // client → server: GramJS encrypts msg_id + seq_no + length + body, we decrypt
    const body = randomBytes(4 * (1 + i * 37))
    const inner = Buffer.alloc(16)
    inner.writeBigInt64LE(0x65abc0fc00000000n + BigInt(4 * i), 0)
    inner.writeInt32LE(2 * i + 1, 8)
    inner.writeInt32LE(body.length, 12)
    const fromClient = await state.encryptMessageData(Buffer.concat([inner, body]))
    const { plaintext, msgKeyLarge } = decryptMessage(ours, fromClient, 'client')
    assert.equal(plaintext.readBigInt64LE(0), salt)
    assert.equal(plaintext.readBigInt64LE(8), session)
    assert.deepEqual(plaintext.subarray(16), Buffer.concat([inner, body]))
    assert.equal(msgKeyLarge.length, 32)

    // server → client: we encrypt pong#347773c5 msg_id:long ping_id:long, GramJS decrypts and parses it
    const msgId = 0x65abc0fd00000001n + BigInt(4 * i)
    const pingId = randomBytes(8).readBigInt64LE(0)
    const pong = Buffer.alloc(20)
    pong.writeUInt32LE(0x347773c5, 0)
    pong.writeBigInt64LE(msgId - 1n, 4)
    pong.writeBigInt64LE(pingId, 12)
    const header = Buffer.alloc(32)
    header.writeBigInt64LE(salt, 0)
    header.writeBigInt64LE(session, 8)
    header.writeBigInt64LE(msgId, 16)
    header.writeInt32LE(2 * i + 1, 24)
    header.writeInt32LE(pong.length, 28)
    const toClient = encryptMessage(ours, Buffer.concat([header, pong]), 'server')
    const msg = await state.decryptMessageData(toClient)
    assert.equal(msg.msgId.toString(), msgId.toString())
    assert.equal(msg.seqNo, 2 * i + 1)
    assert.equal(msg.obj.className, 'Pong')
    assert.equal(msg.obj.pingId.toString(), pingId.toString())
  }
})

interface MtcuteReader {
  uint(): number
  long(): Long
}
interface MtcuteAuthKey {
  id: Uint8Array
  setup(key: Uint8Array): void
  encryptMessage(message: Uint8Array, serverSalt: Long, sessionId: Long): Uint8Array
  decryptMessage(data: Uint8Array, sessionId: Long, cb: (msgId: Long, seqNo: number, r: MtcuteReader) => void): void
}

test('interop: mtcute AuthKey (client) ↔ our server side', async () => {
  const coreDir = dirname(requireCjs.resolve('@mtcute/core'))
  const mod = (await import(pathToFileURL(join(coreDir, 'network', 'auth-key.js')).href)) as {
    AuthKey: new (crypto: unknown, log: unknown, readerMap: unknown) => MtcuteAuthKey
  }
  const { NodeCryptoProvider } = await import('@mtcute/node/utils.js')
  const provider = new NodeCryptoProvider()
  await provider.initialize()
  const warnings: string[] = []
  const log = { verbose() {}, warn: (fmt: string) => warnings.push(fmt) }
  for (let i = 0; i < 10; i++) {
    const raw = randomBytes(256)
    const theirs = new mod.AuthKey(provider, log, {})
    theirs.setup(raw)
    const ours = new AuthKey(raw)
    assert.deepEqual(Buffer.from(theirs.id), ours.idBytes)
    const salt = Long.fromBits(randomBytes(4).readInt32LE(0), randomBytes(4).readInt32LE(0))
    const session = Long.fromBits(randomBytes(4).readInt32LE(0), randomBytes(4).readInt32LE(0))

    // client → server: mtcute's message = msg_id + seq_no + length + body
    const body = randomBytes(4 * (1 + i * 53))
    const inner = Buffer.alloc(16)
    inner.writeBigInt64LE(0x65abc0fc00000000n + BigInt(4 * i), 0)
    inner.writeInt32LE(2 * i + 1, 8)
    inner.writeInt32LE(body.length, 12)
    const fromClient = Buffer.from(theirs.encryptMessage(Buffer.concat([inner, body]), salt, session))
    const { plaintext } = decryptMessage(ours, fromClient, 'client')
    assert.equal(plaintext.readBigInt64LE(0), BigInt(salt.toString()))
    assert.equal(plaintext.readBigInt64LE(8), BigInt(session.toString()))
    assert.deepEqual(plaintext.subarray(16), Buffer.concat([inner, body]))

    // server → client
    const msgId = 0x65abc0fd00000001n + BigInt(4 * i)
    const data = randomBytes(4 * (1 + i * 29))
    const header = Buffer.alloc(32)
    header.writeBigInt64LE(BigInt(salt.toString()), 0)
    header.writeBigInt64LE(BigInt(session.toString()), 8)
    header.writeBigInt64LE(msgId, 16)
    header.writeInt32LE(2 * i, 24)
    header.writeInt32LE(data.length, 28)
    const toClient = encryptMessage(ours, Buffer.concat([header, data]), 'server')
    let got: { msgId: string; seqNo: number; first: number } | undefined
    theirs.decryptMessage(toClient, session, (id, seqNo, r) => {
      got = { msgId: id.toString(), seqNo, first: r.uint() }
    })
    assert.deepEqual(warnings, [])
    assert.deepEqual(got, { msgId: msgId.toString(), seqNo: 2 * i, first: data.readUInt32LE(0) })
  }
})
