import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, statSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import type { KeyObject } from 'node:crypto'
import { rsaFingerprint, RsaPrivateKey, RsaPublicKey, fingerprintHex, fingerprintClientSafe, nodeRsaKeySource, tlBytes, type RsaKeySource } from '../../src/handshake/rsa-key.js'
import { createKeyFile, describeKeys, loadKeySet, loadOrCreateKeySet, retireKeyFile, unretireKeyFile } from '../../src/handshake/rsa-keyset.js'
import { rsaPadEncrypt, rsaPadUnwrap, legacyEncrypt, legacyCandidate, legacyHashMatches } from '../../src/handshake/rsa-pad.js'
import { RsaError } from '../../src/handshake/errors.js'
import { secureRandom } from '../../src/crypto/random.js'

const require = createRequire(import.meta.url)

test('fingerprints match the ones GramJS ships for Telegram production keys', () => {
  const rsa = require('telegram/crypto/RSA.js') as { _serverKeys: Map<string, { n: { toString(radix: number): string }; e: number }> }
  assert.ok(rsa._serverKeys.size >= 2)
  for (const [fp, { n, e }] of rsa._serverKeys) {
    let hex = n.toString(16)
    if (hex.length % 2) hex = '0' + hex
    const ehex = e.toString(16).padStart(6, '0')
    assert.equal(rsaFingerprint(Buffer.from(hex, 'hex'), Buffer.from(ehex, 'hex')).toString(), fp)
  }
})

test('tlBytes: short and long forms with padding', () => {
  assert.deepEqual(tlBytes(Buffer.from([1, 2, 3])), Buffer.from([3, 1, 2, 3]))
  const long = tlBytes(Buffer.alloc(256, 7))
  assert.deepEqual(long.subarray(0, 4), Buffer.from([254, 0, 1, 0]))
  assert.equal(long.length, 260)
})

test('public PEM is PKCS#1 and round-trips to the same fingerprint', () => {
  const k = RsaPrivateKey.generate()
  const pem = k.publicKey.toPem()
  assert.match(pem, /^-----BEGIN RSA PUBLIC KEY-----/)
  assert.equal(RsaPublicKey.fromPem(pem).fingerprint, k.fingerprint)
  assert.equal(RsaPrivateKey.fromPem(k.toPem()).fingerprint, k.fingerprint)
  assert.throws(() => RsaPublicKey.fromPem('not a pem'), RsaError)
})

test('RSA_PAD round trip; tampering is detected; ≥ modulus rejected', () => {
  const k = RsaPrivateKey.generate()
  const data = Buffer.from('p_q_inner_data stand-in '.repeat(5))
  const enc = rsaPadEncrypt(data, k.publicKey, secureRandom)
  assert.equal(enc.length, 256)
  const unwrapped = rsaPadUnwrap(k.decryptRaw(enc))
  assert.ok(unwrapped)
  assert.deepEqual(unwrapped.subarray(0, data.length), data)
  const bad = Buffer.from(enc)
  bad[200] ^= 1
  assert.equal(rsaPadUnwrap(k.decryptRaw(bad)), undefined)
  assert.throws(() => k.decryptRaw(Buffer.alloc(256, 0xff)), (e: unknown) => e instanceof RsaError && e.reason === 'out_of_range')
  assert.throws(() => k.decryptRaw(Buffer.alloc(257)), (e: unknown) => e instanceof RsaError && e.reason === 'too_long')
  assert.throws(() => rsaPadEncrypt(Buffer.alloc(145), k.publicKey, secureRandom), RsaError)
})

test('legacy SHA-1 form: round trip and hash check', () => {
  const k = RsaPrivateKey.generate()
  const data = Buffer.from('legacy inner data')
  const plain = k.decryptRaw(legacyEncrypt(data, k.publicKey, secureRandom))
  assert.equal(rsaPadUnwrap(plain), undefined)
  const cand = legacyCandidate(plain)
  assert.ok(cand)
  assert.deepEqual(cand.subarray(0, data.length), data)
  assert.ok(legacyHashMatches(plain, data.length))
  assert.ok(!legacyHashMatches(plain, data.length + 1))
})

test('key files: created 0600 / PKCS#1 public; loaded; rotation keeps retired keys for decryption', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtgate-rsa-'))
  try {
    const first = loadOrCreateKeySet(dir)
    assert.ok(first.created)
    const fp = first.created.fingerprint
    const base = join(dir, 'rsa', fingerprintHex(fp))
    assert.equal(statSync(base + '.key').mode & 0o777, 0o600)
    assert.match(readFileSync(base + '.pub', 'utf8'), /^-----BEGIN RSA PUBLIC KEY-----/)
    // Second start: the same key, nothing generated.
    const again = loadOrCreateKeySet(dir)
    assert.equal(again.created, undefined)
    assert.deepEqual(again.keys.offered(), [fp])
    // Rotation: a new key, the old one retired: both decrypt, only the new one is offered.
    const second = createKeyFile(dir)
    retireKeyFile(dir, fp)
    const set = loadKeySet(dir)
    assert.equal(set.size, 2)
    assert.deepEqual(set.offered(), [second.fingerprint])
    assert.ok(set.get(fp)?.retired)
    const text = describeKeys(dir)
    assert.match(text, new RegExp(`${fingerprintHex(fp)} .* retired`))
    assert.match(text, new RegExp(`${fingerprintHex(second.fingerprint)} .* active`))
    assert.equal(readdirSync(join(dir, 'rsa')).filter((n) => n.endsWith('.key')).length, 2)
    // Unretired: offered again; unretiring an offered key changes nothing; an unknown key throws.
    unretireKeyFile(dir, fp)
    unretireKeyFile(dir, second.fingerprint)
    assert.deepEqual(new Set(loadKeySet(dir).offered()), new Set([fp, second.fingerprint]))
    assert.throws(() => unretireKeyFile(dir, 1n), /no key 0000000000000001/)
    assert.throws(() => retireKeyFile(dir, 1n), /no key 0000000000000001/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

/** 512-bit keys (fast to make): one whose hex fingerprint starts with 0, then one that does not. */
function leadingZeroThenGood(): { source: RsaKeySource; bad: bigint; good: bigint; calls: () => number } {
  let bad: KeyObject | undefined
  let good: KeyObject | undefined
  while (!bad || !good) {
    const k = nodeRsaKeySource(512)
    if (fingerprintHex(new RsaPrivateKey(k).fingerprint).startsWith('0')) bad ??= k
    else good ??= k
  }
  const queue = [bad, good]
  let calls = 0
  const source: RsaKeySource = (bits) => {
    assert.equal(bits, 512)
    calls++
    const k = queue.shift()
    assert.ok(k, 'asked for more keys than fed')
    return k
  }
  return { source, bad: new RsaPrivateKey(bad).fingerprint, good: new RsaPrivateKey(good).fingerprint, calls: () => calls }
}

test('generated keys never have a hex fingerprint starting with 0 (mtcute could not look them up)', () => {
  const fed = leadingZeroThenGood()
  assert.ok(!fingerprintClientSafe(fed.bad))
  assert.ok(fingerprintClientSafe(fed.good))
  const key = RsaPrivateKey.generate(512, fed.source)
  assert.equal(fed.calls(), 2, 'the leading-zero key was thrown away')
  assert.equal(key.fingerprint, fed.good)
  assert.doesNotMatch(fingerprintHex(key.fingerprint), /^0/)
})

test('createKeyFile / loadOrCreateKeySet write only a key whose fingerprint has no leading 0 digit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtgate-rsa-'))
  try {
    const fed = leadingZeroThenGood()
    const key = createKeyFile(dir, 512, fed.source)
    assert.equal(key.fingerprint, fed.good)
    assert.deepEqual(readdirSync(join(dir, 'rsa')).sort(), [fingerprintHex(fed.good) + '.key', fingerprintHex(fed.good) + '.pub'])
    rmSync(join(dir, 'rsa'), { recursive: true, force: true })
    const again = leadingZeroThenGood()
    let asked = 0
    const { created } = loadOrCreateKeySet(dir, (bits) => {
      asked = bits
      return again.source(512)
    })
    assert.equal(asked, 2048, 'a production key is 2048 bits')
    assert.equal(created?.fingerprint, again.good)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
