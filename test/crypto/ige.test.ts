import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createCipheriv, createHash, randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import {
  igeBackend,
  igeBackendReason,
  igeDecrypt,
  igeDecryptInPlace,
  igeEncrypt,
  igeEncryptInPlace,
  loadIge,
  type IgeImpl,
} from '../../src/crypto/ige.js'
import {
  aesDecryptBlockReference,
  aesEncryptBlockReference,
  expandKeyReference,
  igeDecryptReference,
  igeEncryptReference,
} from '../../src/crypto/ige-reference.js'
import { igeDecryptPortable, igeEncryptPortable } from '../../src/crypto/ige-portable.js'

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

// ---- vectors copied from the spec's "Auth key generation example" (mtproto-samples-auth_key.md) ----

const TMP_AES_KEY = hex('D32E4A7F18252AE2B0406B84633E1117833ED75BDA40011D1E1700E3E08A8AE7')
const TMP_AES_IV = hex('4FFC40D969D49934ED3740FF66D9179947A5E1D85C4C7F15555920C1845FAD32')

// step 6: server_DH_params_ok.encrypted_answer decrypts to answer_with_hash
const ENCRYPTED_ANSWER = hex(
  'FEF627AC3A88027BC6583F95D82E610066A87B839614EE343CD8D37F2B2C81FC964561BA164F44E4B3C39A6CC74C6E2F2687C2E5872658E4301734B3814D420C684D94C0B93C4B335DBB346266CDAD20B3EEC91AE49B59E130EAB877FD03C07BA786DA8EFF7BDDCB773E0C4C1C7C66FE5C5A39D32A76400D71FBD2A09D5BFDF3B3976F17C1DA7FD77349CBD97EBC5217181541F43D8DEDB3027DC3989623DCF849FF391832F409903E7620EBBF7675CEFA13CEC90570BB0EE196C5BB67DB169DB902C1192F67D9A74B1B9782FF02FD4DB78C76117D6639A6ED87F5DEB37ED49296F2C94EA835D0988A270749C3E6D1D0B0BE88F3985D683E48F2E2AC7648175EE72BEA1B52641C23EC8EEFBD6025516E91CCE20C25CB5159B5C9D9CA19A15DD4A44F422946B758EC4C968BDE0832E2389D5B9F3C3AC520AC58753747717F7276A7DF3FF841A7ABD18524A3150F537471F73A9818097E82D9645A9CE38F858D510FFC79CE11D96173C22DDE2B0AE490B8CC7B10BCC7BB8879027872E724DCC648DDF7AE6F14C3229E7D611463E513D38BE913D0D50E9D439337C0FD8D71C9EF70C602A47173D699308216C7C44C40615BF8E9806A5DFA56F4529AD70E784C1904A9488A019A6C7AB7D822A9A6926A1916891302C1827CE54E9D8829EE079D19730DFEBA218D317EB4F22A2418EF9343DA75131FC6F37A80D5EEB93309711244AE3A1D4CA1906F10B4F06C8F9BF547A6FEA9A8D0CC910B15E7DA9A0ACF0C2E7934F7A7DBA8EFFE4D135DBD207C609BFC3BAC89BA949DDF754879712F6B97C50A54F560D0A75DA8A078A039F21BCA129FCB',
)
const ANSWER_WITH_HASH = hex(
  'ADDDF2FEB5E14F93EE8D3A5181F9D89A39E4439CBA0D89B515A084B3B9CA2A17F03925F44B78FE68D6701FCD212CEB87C966E5318F5564A803000000FE000100C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F48198A0AA7C14058229493D22530F4DBFA336F6E0AC925139543AED44CCE7C3720FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F642477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4A4A695811051907E162753B56B0F6B410DBA74D8A84B2A14B3144E0EF1284754FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F0D8115F635B105EE2E4E15D04B2454BF6F4FADF034B10403119CD8E3B92FCC5BFE0001009828B2E4CAEC188BB94216F5E2DB632A17630A21FD00C67465E741D26137C8E2B757F349D8DD1B62B601642ACB9E3B390ABF153D3A11615A128ED1D79379D763C14D2DF5CEF99C96945C51290C1FD82C4B482078863B2BC7022C7886C21C0F1D24814C768321C05934303E50AE22CBC83F2A3994BBC3C72E77BF10CDB695CBD86655D1BC0A083551E59D0FBFCFA13825A182105A78DA35AF5A15C064275B6E6729049C84209B898675C9110ADCD1CBB2AAB333C05D3E9F70D05FEE7C54EFCE927E1B40A719D04D15C7E950EB885E60AAAE990231719DBDDD84C65B2F3A606FE1F78DEA7C8FAD25C1CD7876EB6F5A46270B82D549E31EDD3C2DC2F82970A4999CFDC0AB657607B7374780E1C0',
)
// step 7.1: SHA1(client_DH_inner_data) + data + padding encrypts to encrypted_data
const CLIENT_DH_INNER_DATA = hex(
  '54B6436615A084B3B9CA2A17F03925F44B78FE68D6701FCD212CEB87C966E5318F5564A80000000000000000FE000100A0BB357C5A5FBC4EC9D8B2171C030CB68A693A8024CD9E3630BAE4CE000A14A5DBF8A40DFB322678A797ED3D591032D0A1C529BE4E76B7EBD5436E7BF7539A9AB5A5FE9DD62F37CAE704EFE0C10DD608E5D9554F7B2F7198E99CE29A9A86CCE0FBB1491EBA269DEB6AA20C5CB2134E75E5C70A7C0E7D47EE16F87189D135EDAE37EAD992063C11AEA4AC660CF3EBE61B6C21ADAAC2A9317120A6F4D1DA65978FA74BF94CC65A0CA2479D064906E78575049E7654D346CA576C6778F478CDB48FCA2FD9202E6E5F95FEF623A206207AFB41619C419357B49F4F8825B37EF7E74811FBA22BDF45730F423793C5049514363232F3358BC5F60A416BDCE7D7BBFB49',
)
const CLIENT_DH_PADDING = hex('C320374A97C7BB863CFF9F97')
const CLIENT_DH_ENCRYPTED = hex(
  '79CA5B557095AD847C53D6308A38B62FC9A6F2356C07F298D21C9B0DB4002D90C4C0FB9C72626F9F146B4E3A81F59ED5CC6A0B4F59BC7411CDCA6BDA8C27B6C3B6DB548F076BB6CCB6791DB116E6368C7328BA21212121446CE754EC118CF380ED0CB0D798418CE54D7F68FCAE7AF146F4F8DF31F98794FF6EE06C35DE10A86518434A9F83CDC05FD5B151A50F63AD87D8529D7AA032498AF9C17C6F02E7EE1E8733F5752186880FA475F2977C7F00E1D8384E20613971F98EFD81A3C6BFB3B8F97969FB39D172527961341BBFDC9D2895306365A52F2CB9087C122E53990800BD596E05AA25A5642996AFB43061178A580F21E3C47080418B4CF0B6B10FC0C78595D486B3A3DD401D1BF37257C2584BFD5D71A708B138A6E22F853E522696AA6D1A8532461ABAEA7935A975E3C978A7A00C792CB3ADF688D0B1480C6C016B04CD1BC36546CD9ACABAA0C84DB571749B',
)
const CLIENT_DH_PLAIN = Buffer.concat([
  createHash('sha1').update(CLIENT_DH_INNER_DATA).digest(),
  CLIENT_DH_INNER_DATA,
  CLIENT_DH_PADDING,
])

type Impl = { name: string; enc: (d: Uint8Array, k: Uint8Array, iv: Uint8Array) => Buffer; dec: typeof igeDecryptReference }

const outOfPlace = (f: IgeImpl['encrypt']) => (d: Uint8Array, k: Uint8Array, iv: Uint8Array): Buffer => {
  const out = Buffer.alloc(d.length)
  f(d, out, k, iv)
  return out
}
const nativeImpl = loadIge()

const impls: Impl[] = [
  { name: 'default (' + igeBackend + ')', enc: igeEncrypt, dec: igeDecrypt },
  { name: 'portable', enc: outOfPlace(igeEncryptPortable), dec: outOfPlace(igeDecryptPortable) },
  { name: 'reference', enc: igeEncryptReference, dec: igeDecryptReference },
]
if (nativeImpl.backend === 'native') {
  impls.push({ name: 'native', enc: outOfPlace(nativeImpl.encrypt), dec: outOfPlace(nativeImpl.decrypt) })
}

test('the native addon is built and in use (unless MTGATE_IGE=portable outside CI)', () => {
  // In CI the portable fallback never passes: it is about 10x slower and would hide a broken build.
  if (process.env.MTGATE_IGE === 'portable' && !process.env.CI) {
    assert.equal(igeBackend, 'portable')
    return
  }
  assert.equal(igeBackend, 'native', `portable fallback in use: ${igeBackendReason}`)
  assert.equal(igeBackendReason, undefined)
  assert.equal(nativeImpl.backend, 'native')
})

test('loadIge falls back to portable with a reason when the addon is missing or invalid', () => {
  const missing = loadIge({ paths: ['/nonexistent/mtgate_ige.node'] })
  assert.equal(missing.backend, 'portable')
  assert.match(missing.reason ?? '', /nonexistent.*not built/)
  // a loadable module that is not the addon
  const wrong = loadIge({ paths: [createRequire(import.meta.url).resolve('ws')] })
  assert.equal(wrong.backend, 'portable')
  assert.match(wrong.reason ?? '', /not an mtgate IGE addon/)
  const forced = loadIge({ forcePortable: true })
  assert.equal(forced.backend, 'portable')
  assert.equal(forced.encrypt, igeEncryptPortable)
})

test('FIPS-197 C.3 AES-256 block vector (reference AES)', () => {
  const key = hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f')
  const w = expandKeyReference(key)
  const pt = hex('00112233445566778899aabbccddeeff')
  const ct = aesEncryptBlockReference(pt, w)
  assert.equal(Buffer.from(ct).toString('hex'), '8ea2b7ca516745bfeafc49904b496089')
  assert.deepEqual(Buffer.from(aesDecryptBlockReference(ct, w)), pt)
})

test('reference AES agrees with OpenSSL ECB on random keys and blocks', () => {
  for (let i = 0; i < 50; i++) {
    const key = randomBytes(32)
    const block = randomBytes(16)
    const c = createCipheriv('aes-256-ecb', key, null).setAutoPadding(false)
    const expected = Buffer.concat([c.update(block), c.final()])
    assert.deepEqual(Buffer.from(aesEncryptBlockReference(block, expandKeyReference(key))), expected)
  }
})

for (const impl of impls) {
  test(`${impl.name}: spec vector, decrypt encrypted_answer (step 6)`, () => {
    const out = impl.dec(ENCRYPTED_ANSWER, TMP_AES_KEY, TMP_AES_IV)
    assert.deepEqual(out, ANSWER_WITH_HASH)
    // and the hash inside checks out: answer_with_hash = SHA1(answer) + answer + padding
    const answer = ANSWER_WITH_HASH.subarray(20, 20 + 564)
    assert.deepEqual(createHash('sha1').update(answer).digest(), ANSWER_WITH_HASH.subarray(0, 20))
  })

  test(`${impl.name}: spec vector, encrypt client_DH_inner_data (step 7.1)`, () => {
    assert.equal(CLIENT_DH_PLAIN.length, 336)
    assert.deepEqual(impl.enc(CLIENT_DH_PLAIN, TMP_AES_KEY, TMP_AES_IV), CLIENT_DH_ENCRYPTED)
    assert.deepEqual(impl.dec(CLIENT_DH_ENCRYPTED, TMP_AES_KEY, TMP_AES_IV), CLIENT_DH_PLAIN)
  })
}

test('native and portable agree with the reference on random sizes', () => {
  for (let i = 0; i < 120; i++) {
    const n = 16 * Math.floor(Math.random() * (i < 100 ? 20 : 300))
    const key = randomBytes(32)
    const iv = randomBytes(32)
    const data = randomBytes(n)
    const expected = igeEncryptReference(data, key, iv)
    for (const impl of impls) {
      if (impl.name === 'reference') continue
      assert.deepEqual(impl.enc(data, key, iv), expected, `${impl.name} encrypt, ${n} bytes`)
      assert.deepEqual(impl.dec(expected, key, iv), data, `${impl.name} decrypt, ${n} bytes`)
    }
  }
})

test('in-place variants equal out-of-place ones and write into the caller buffer', () => {
  for (const n of [0, 16, 48, 1024, 16384]) {
    const key = randomBytes(32)
    const iv = randomBytes(32)
    const data = randomBytes(n)
    const expected = igeEncrypt(data, key, iv)
    // a view into a larger buffer: only the view must change
    const big = Buffer.alloc(n + 32, 0xaa)
    const view = big.subarray(16, 16 + n)
    data.copy(view)
    igeEncryptInPlace(view, key, iv)
    assert.deepEqual(view, expected)
    assert.ok(big.subarray(0, 16).every((b) => b === 0xaa) && big.subarray(16 + n).every((b) => b === 0xaa))
    igeDecryptInPlace(view, key, iv)
    assert.deepEqual(view, data)
    // portable in place
    const p = Buffer.from(data)
    igeEncryptPortable(p, p, key, iv)
    assert.deepEqual(p, expected)
    igeDecryptPortable(p, p, key, iv)
    assert.deepEqual(p, data)
  }
})

test('inputs are not modified by out-of-place calls; key and iv may alias the data', () => {
  const key = randomBytes(32)
  const iv = randomBytes(32)
  const data = randomBytes(256)
  const copy = Buffer.from(data)
  igeEncrypt(data, key, iv)
  igeDecrypt(data, key, iv)
  assert.deepEqual(data, copy)
  // key and iv taken from the buffer being encrypted in place
  const buf = randomBytes(128)
  const k = buf.subarray(0, 32)
  const v = buf.subarray(32, 64)
  const expected = igeEncryptReference(buf, Buffer.from(k), Buffer.from(v))
  igeEncryptInPlace(buf, k, v)
  assert.deepEqual(buf, expected)
})

test('bad arguments throw RangeError / TypeError, never crash', () => {
  const k = randomBytes(32)
  const iv = randomBytes(32)
  assert.throws(() => igeEncrypt(Buffer.alloc(17), k, iv), RangeError)
  assert.throws(() => igeDecrypt(Buffer.alloc(16), randomBytes(31), iv), RangeError)
  assert.throws(() => igeEncryptInPlace(Buffer.alloc(16), k, randomBytes(16)), RangeError)
  assert.throws(() => igeEncryptPortable(Buffer.alloc(16), Buffer.alloc(32), k, iv), RangeError)
  if (nativeImpl.backend === 'native') {
    const buf = Buffer.alloc(64)
    // the addon validates on its own too (it is memory-safe even if called directly)
    assert.throws(() => nativeImpl.encrypt(buf.subarray(0, 48), buf.subarray(16, 64), k, iv), RangeError)
    assert.throws(() => nativeImpl.encrypt(buf, Buffer.alloc(48), k, iv), RangeError)
    assert.throws(() => nativeImpl.encrypt(buf, buf, k.subarray(1), iv), RangeError)
    assert.throws(() => nativeImpl.decrypt(buf, buf, k, iv.subarray(1)), RangeError)
    assert.throws(() => nativeImpl.decrypt(buf.subarray(1), buf.subarray(1), k, iv), RangeError)
    assert.throws(() => nativeImpl.encrypt('x' as unknown as Uint8Array, buf, k, iv), TypeError)
    assert.throws(() => nativeImpl.encrypt(new Uint16Array(32) as unknown as Uint8Array, buf, k, iv), TypeError)
    assert.throws(() => (nativeImpl.encrypt as unknown as (a: Uint8Array) => void)(buf), TypeError)
  }
})

// ---- interop with implementations nobody here wrote ----

interface GramJsIge {
  encryptIge(b: Buffer): Buffer
  decryptIge(b: Buffer): Buffer
}
const requireCjs = createRequire(import.meta.url)
const { IGE: GramIGE } = requireCjs('telegram/crypto/IGE') as { IGE: new (key: Buffer, iv: Buffer) => GramJsIge }

test('interop: GramJS IGE decrypts ours and we decrypt GramJS', () => {
  for (const n of [16, 64, 1024, 4096]) {
    const key = randomBytes(32)
    const iv = randomBytes(32)
    const data = randomBytes(n)
    const ours = igeEncrypt(data, key, iv)
    assert.deepEqual(Buffer.from(new GramIGE(key, iv).decryptIge(ours)), data)
    const theirs = Buffer.from(new GramIGE(key, iv).encryptIge(data))
    assert.deepEqual(theirs, ours)
    assert.deepEqual(igeDecrypt(theirs, key, iv), data)
  }
})

test('interop: @mtcute/wasm IGE decrypts ours and we decrypt mtcute', async () => {
  const { NodeCryptoProvider } = await import('@mtcute/node/utils.js')
  const provider = new NodeCryptoProvider()
  await provider.initialize()
  for (const n of [16, 64, 1024, 16384]) {
    const key = randomBytes(32)
    const iv = randomBytes(32)
    const data = randomBytes(n)
    const ige = provider.createAesIge(key, iv)
    const ours = igeEncrypt(data, key, iv)
    assert.deepEqual(Buffer.from(ige.decrypt(ours)), data)
    const theirs = Buffer.from(ige.encrypt(data))
    assert.deepEqual(theirs, ours)
    assert.deepEqual(igeDecrypt(theirs, key, iv), data)
  }
})
