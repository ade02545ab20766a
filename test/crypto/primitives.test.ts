import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createCipheriv, createHash, randomBytes } from 'node:crypto'
import { AesCtrStream } from '../../src/crypto/ctr.js'
import { constantTimeEqual, sha1, sha256 } from '../../src/crypto/hash.js'
import { secureRandom } from '../../src/crypto/random.js'

test('sha1 / sha256 over several parts equal the hash of the concatenation; known vectors', () => {
  assert.equal(sha1(Buffer.from('abc')).toString('hex'), 'a9993e364706816aba3e25717850c26c9cd0d89d')
  assert.equal(
    sha256(Buffer.from('abc')).toString('hex'),
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  )
  const parts = [randomBytes(3), randomBytes(0), randomBytes(100)]
  assert.deepEqual(sha256(...parts), createHash('sha256').update(Buffer.concat(parts)).digest())
  assert.deepEqual(sha1(...parts), createHash('sha1').update(Buffer.concat(parts)).digest())
})

test('constantTimeEqual: equal, different, different lengths (false, no throw)', () => {
  const a = randomBytes(16)
  assert.equal(constantTimeEqual(a, Buffer.from(a)), true)
  const b = Buffer.from(a)
  b[15]! ^= 1
  assert.equal(constantTimeEqual(a, b), false)
  assert.equal(constantTimeEqual(a, a.subarray(0, 15)), false)
})

test('secureRandom returns n fresh bytes', () => {
  assert.equal(secureRandom(0).length, 0)
  const x = secureRandom(32)
  assert.equal(x.length, 32)
  assert.notDeepEqual(x, secureRandom(32))
})

test('AesCtrStream keeps its counter across chunks split at any boundary', () => {
  const key = randomBytes(32)
  const iv = randomBytes(16)
  const data = randomBytes(5000)
  const c = createCipheriv('aes-256-ctr', key, iv)
  const expected = Buffer.concat([c.update(data), c.final()])
  for (let trial = 0; trial < 20; trial++) {
    const s = new AesCtrStream(key, iv)
    const out: Buffer[] = []
    let off = 0
    while (off < data.length) {
      const n = Math.min(data.length - off, Math.floor(Math.random() * 70))
      out.push(s.update(data.subarray(off, off + n)))
      off += n
    }
    assert.deepEqual(Buffer.concat(out), expected)
  }
  // decryption is the same operation with a second stream
  assert.deepEqual(new AesCtrStream(key, iv).update(expected), data)
  assert.throws(() => new AesCtrStream(randomBytes(16), iv), RangeError)
  assert.throws(() => new AesCtrStream(key, randomBytes(32)), RangeError)
})

test('AesCtrStream interoperates with @mtcute/wasm AES-256-CTR (an independent implementation)', async () => {
  const { NodeCryptoProvider } = await import('@mtcute/node/utils.js')
  await new NodeCryptoProvider().initialize() // loads the WASM module
  const wasm = await import('@mtcute/wasm')
  const key = randomBytes(32)
  const iv = randomBytes(16)
  const ctx = wasm.createCtr256(key, iv)
  try {
    const ours = new AesCtrStream(key, iv)
    for (const n of [64, 16, 1024, 48]) {
      const d = randomBytes(n)
      assert.deepEqual(Buffer.from(wasm.ctr256(ctx, d)), ours.update(d))
    }
  } finally {
    wasm.freeCtr256(ctx)
  }
})
