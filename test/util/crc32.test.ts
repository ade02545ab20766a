import { test } from 'node:test'
import assert from 'node:assert/strict'
import { crc32, crc32Portable } from '../../src/util/crc32.js'

test('crc32 matches the IEEE check value, continues from a previous value, equals the portable table', () => {
  const check = Buffer.from('123456789')
  assert.equal(crc32(check), 0xcbf43926)
  assert.equal(crc32Portable(check), 0xcbf43926)
  assert.equal(crc32(Buffer.alloc(0)), 0)
  assert.equal(crc32(check.subarray(4), crc32(check.subarray(0, 4))), 0xcbf43926)
  assert.equal(crc32Portable(check.subarray(4), crc32Portable(check.subarray(0, 4))), 0xcbf43926)
  let x = 3
  for (let i = 0; i < 50; i++) {
    const b = Buffer.alloc((i * 37) % 300)
    for (let j = 0; j < b.length; j++) b[j] = x = (x * 1103515245 + 12345) >>> 16
    assert.equal(crc32(b), crc32Portable(b))
  }
})
