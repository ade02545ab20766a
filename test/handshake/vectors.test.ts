import { test } from 'node:test'
import assert from 'node:assert/strict'
import { sha1 } from '../../src/crypto/hash.js'
import { igeDecrypt, igeEncrypt } from '../../src/crypto/ige.js'
import { tmpAesKeyIv, newNonceHash, authKeyId, authKeyAuxHash, firstServerSalt } from '../../src/handshake/kdf.js'
import { DH_PRIME, DH_G, checkDhParams, DH_PRIME_BIG, bigFromBytes } from '../../src/handshake/dh.js'
import { modPowDh } from '../../src/handshake/dh-engine.js'
import { decodeWithLength, serialize, type PQInnerData, type ServerDhInnerData } from '../../src/handshake/messages.js'
import { factorPq, bigToMinBytes } from '../../src/handshake/pq.js'
import { specVectors, hex } from './fixture.js'

const v = specVectors()

test('tmp_aes_key / tmp_aes_iv from new_nonce and server_nonce (spec sample)', () => {
  const { key, iv } = tmpAesKeyIv(hex(v.new_nonce!), hex(v.server_nonce!))
  assert.equal(key.toString('hex'), v.tmp_aes_key)
  assert.equal(iv.toString('hex'), v.tmp_aes_iv)
})

test('encrypted_answer decrypts to answer_with_hash; SHA-1 and server_DH_inner_data check out', () => {
  const plain = igeDecrypt(hex(v.encrypted_answer!), hex(v.tmp_aes_key!), hex(v.tmp_aes_iv!))
  assert.equal(plain.toString('hex'), v.answer_with_hash)
  const { obj, length } = decodeWithLength(plain.subarray(20))
  assert.equal(obj._, 'server_DH_inner_data')
  assert.equal(plain.subarray(20, 20 + length).toString('hex'), v.answer)
  assert.deepEqual(sha1(plain.subarray(20, 20 + length)), plain.subarray(0, 20))
  const inner = obj as unknown as ServerDhInnerData
  assert.equal(inner.g, 3)
  assert.deepEqual(Buffer.from(inner.dh_prime), DH_PRIME, 'our prime is the one Telegram uses')
  assert.equal(inner.server_time, v.server_time)
  // Our own encoding of the same answer is byte-identical.
  assert.equal(serialize(inner).toString('hex'), v.answer)
  // ...and re-encrypting the sample's answer_with_hash gives the sample ciphertext.
  assert.equal(igeEncrypt(plain, hex(v.tmp_aes_key!), hex(v.tmp_aes_iv!)).toString('hex'), v.encrypted_answer)
})

test('g_b = g^b and auth_key = g_a^b via the DH engine; new_nonce_hash1 and salt', () => {
  const plain = igeDecrypt(hex(v.encrypted_answer!), hex(v.tmp_aes_key!), hex(v.tmp_aes_iv!))
  const inner = decodeWithLength(plain.subarray(20)).obj as unknown as ServerDhInnerData
  const gB = modPowDh(Buffer.from([3]), hex(v.b!))
  assert.equal(gB.toString('hex'), v.g_b)
  const authKey = modPowDh(inner.g_a, hex(v.b!))
  assert.equal(authKey.toString('hex'), v.auth_key)
  assert.equal(newNonceHash(hex(v.new_nonce!), 1, authKey).toString('hex'), v.new_nonce_hash1)
  assert.equal(authKeyAuxHash(authKey).length, 8)
  assert.equal(authKeyId(authKey), sha1(authKey).readBigInt64LE(12))
  const salt = Buffer.alloc(8)
  salt.writeBigInt64LE(firstServerSalt(hex(v.new_nonce!), hex(v.server_nonce!)))
  for (let i = 0; i < 8; i++) assert.equal(salt[i], hex(v.new_nonce!)[i]! ^ hex(v.server_nonce!)[i]!)
})

test('client_DH_inner_data encrypts to the sample encrypted_data', () => {
  const data = hex(v.client_DH_inner_data!)
  const plain = Buffer.concat([sha1(data), data, hex(v.client_padding!)])
  assert.equal(igeEncrypt(plain, hex(v.tmp_aes_key!), hex(v.tmp_aes_iv!)).toString('hex'), v.client_encrypted_data)
  const { obj } = decodeWithLength(data)
  assert.equal(obj._, 'client_DH_inner_data')
})

test('p_q_inner_data_dc serialisation and pq factorisation match the sample', () => {
  const pq = BigInt(v.pq!)
  const { p, q } = factorPq(pq)
  assert.equal(p, BigInt(v.p!))
  assert.equal(q, BigInt(v.q!))
  const inner: PQInnerData = {
    _: 'p_q_inner_data_dc',
    pq: bigToMinBytes(pq),
    p: bigToMinBytes(p),
    q: bigToMinBytes(q),
    nonce: hex(v.nonce!),
    server_nonce: hex(v.server_nonce!),
    new_nonce: hex(v.new_nonce!),
    dc: 2,
  }
  assert.equal(serialize(inner).toString('hex'), v.p_q_inner_data_dc)
})

test('dh_prime and g pass the spec client-side checks; bad values are caught', () => {
  assert.equal(checkDhParams(DH_PRIME_BIG, DH_G), undefined)
  assert.equal(checkDhParams(DH_PRIME_BIG, 2), 'g_not_quadratic_residue')
  assert.equal(checkDhParams(DH_PRIME_BIG + 2n, 4), 'p_not_prime')
  assert.equal(checkDhParams(DH_PRIME_BIG >> 1n, DH_G), 'p_not_2048_bit')
  assert.equal(checkDhParams(DH_PRIME_BIG, 9), 'g_not_in_2_7')
  assert.equal(bigFromBytes(DH_PRIME), DH_PRIME_BIG)
})
