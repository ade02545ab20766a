import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { BindTempKeyError, deriveAesKeyIvV1, validateBindTempAuthKey, type BindRequest } from '../../src/session/bind-temp-key.js'
import { AuthKeyType, type AuthKeyRecord } from '../../src/store/types.js'
import { encode } from '../../src/tl/index.js'
import { permKeyRecord } from './harness.js'

const NOW = Math.floor(Date.now() / 1000)
const perm = permKeyRecord(11)
const temp = permKeyRecord(12, AuthKeyType.temp, NOW + 3600)
const SESSION = 0x0102030405060708n
const MSG_ID = (BigInt(NOW) << 32n) | 0x1234n * 4n

interface Parts {
  nonce: bigint
  expiresAt: number
  msgId: bigint
  seqNo: number
  tempId: bigint
  permId: bigint
  sessionId: bigint
  key: AuthKeyRecord
  corruptMsgKey: boolean
}

/** Builds encrypted_message exactly as mtcute does, with mtcute's own MTProto 1.0 AES key derivation. */
async function buildBind(over: Partial<Parts> = {}): Promise<BindRequest> {
  const p: Parts = {
    nonce: 0x55n,
    expiresAt: NOW + 3000,
    msgId: MSG_ID,
    seqNo: 0,
    tempId: temp.id,
    permId: perm.id,
    sessionId: SESSION,
    key: perm,
    corruptMsgKey: false,
    ...over,
  }
  const inner = encode({
    _: 'bind_auth_key_inner',
    nonce: p.nonce,
    temp_auth_key_id: p.tempId,
    perm_auth_key_id: p.permId,
    temp_session_id: p.sessionId,
    expires_at: p.expiresAt,
  })
  const head = Buffer.alloc(32)
  randomBytes(16).copy(head, 0)
  head.writeBigInt64LE(p.msgId, 16)
  head.writeInt32LE(p.seqNo, 24)
  head.writeInt32LE(inner.length, 28)
  const plain = Buffer.concat([head, inner])
  const msgKey = createHash('sha1').update(plain).digest().subarray(4, 20)
  if (p.corruptMsgKey) msgKey[0] ^= 1
  const padded = Buffer.concat([plain, randomBytes(8)])
  const { NodeCryptoProvider } = await import('@mtcute/node/utils.js')
  const { createAesIgeForMessageOld } = await import('@mtcute/core/utils.js')
  const provider = new NodeCryptoProvider()
  await provider.initialize()
  const ige = createAesIgeForMessageOld(provider, p.key.key, msgKey, true)
  const enc = Buffer.from(ige.encrypt(padded))
  const idBuf = Buffer.alloc(8)
  idBuf.writeBigInt64LE(p.key.id)
  return { perm_auth_key_id: perm.id, nonce: 0x55n, expires_at: NOW + 3000, encrypted_message: Buffer.concat([idBuf, msgKey, enc]) }
}

const ctx = { tempKey: temp, sessionId: SESSION, msgId: MSG_ID, permKey: perm }

function rejects(fn: () => unknown, message: string, reason: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof BindTempKeyError && e.rpcMessage === message && reason.test(e.reason))
}

test('a binding message built like mtcute builds it is accepted; the binding lasts as long as the temp key', async () => {
  const req = await buildBind()
  assert.equal(validateBindTempAuthKey(req, ctx), NOW + 3600)
  const req2 = await buildBind({ expiresAt: NOW + 7200 })
  assert.equal(validateBindTempAuthKey({ ...req2, expires_at: NOW + 7200 }, ctx), NOW + 3600)
})

test('expires_at hours in the past is bound (tgnet Handshake.cpp adds its clock offset twice: a phone ahead of the server)', async () => {
  const past = await buildBind({ expiresAt: NOW - 6 * 3600 })
  assert.equal(validateBindTempAuthKey({ ...past, expires_at: NOW - 6 * 3600 }, ctx), NOW + 3600, 'the temp key lifetime governs')
})

test('the v1 KDF matches mtcute (client → server direction)', async () => {
  const { NodeCryptoProvider } = await import('@mtcute/node/utils.js')
  const { createAesIgeForMessageOld } = await import('@mtcute/core/utils.js')
  const provider = new NodeCryptoProvider()
  await provider.initialize()
  const msgKey = randomBytes(16)
  const data = randomBytes(64)
  const { key, iv } = deriveAesKeyIvV1(perm.key, msgKey, 0)
  const theirs = Buffer.from(createAesIgeForMessageOld(provider, perm.key, msgKey, true).encrypt(data))
  const { igeEncrypt } = await import('../../src/crypto/ige.js')
  assert.deepEqual(igeEncrypt(data, key, iv), theirs)
})

test('every mismatch is rejected with ENCRYPTED_MESSAGE_INVALID and a reason', async () => {
  const bad = 'ENCRYPTED_MESSAGE_INVALID'
  const ok = await buildBind()
  rejects(() => validateBindTempAuthKey(ok, { ...ctx, permKey: undefined }), bad, /unknown permanent key/)
  rejects(() => validateBindTempAuthKey(ok, { ...ctx, permKey: { ...perm, type: AuthKeyType.temp } }), bad, /not a permanent key/)
  rejects(() => validateBindTempAuthKey({ ...ok, perm_auth_key_id: perm.id + 1n }, ctx), bad, /perm_auth_key_id/)
  rejects(() => validateBindTempAuthKey({ ...ok, encrypted_message: ok.encrypted_message.subarray(0, 60) }, ctx), bad, /bytes/)
  const b1 = await buildBind({ corruptMsgKey: true })
  rejects(() => validateBindTempAuthKey(b1, ctx), bad, /msg_key|length|padding/)
  const bk = await buildBind({ key: permKeyRecord(13) })
  rejects(() => validateBindTempAuthKey(bk, ctx), bad, /auth_key_id/)
  rejects(() => validateBindTempAuthKey(ok, { ...ctx, msgId: MSG_ID + 4n }), bad, /msg_id/)
  const b2 = await buildBind({ seqNo: 1 })
  rejects(() => validateBindTempAuthKey(b2, ctx), bad, /seqno/)
  const b3 = await buildBind({ nonce: 1n })
  rejects(() => validateBindTempAuthKey(b3, ctx), bad, /nonce/)
  const b4 = await buildBind({ tempId: 1n })
  rejects(() => validateBindTempAuthKey(b4, ctx), bad, /temp_auth_key_id/)
  const b5 = await buildBind({ permId: 1n })
  rejects(() => validateBindTempAuthKey(b5, ctx), bad, /perm_auth_key_id mismatch/)
  const b6 = await buildBind({ sessionId: 1n })
  rejects(() => validateBindTempAuthKey(b6, ctx), bad, /temp_session_id/)
  const b7 = await buildBind({ expiresAt: NOW + 1 })
  rejects(() => validateBindTempAuthKey(b7, ctx), bad, /expires_at mismatch/)
})

test('binding on a permanent key answers TEMP_AUTH_KEY_EMPTY', async () => {
  const ok = await buildBind()
  rejects(() => validateBindTempAuthKey(ok, { ...ctx, tempKey: perm }), 'TEMP_AUTH_KEY_EMPTY', /permanent/)
})
