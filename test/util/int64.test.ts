import { test } from 'node:test'
import assert from 'node:assert/strict'
import { equalsHalvesLE, fromHalves, high32, low32, readInt64LE, writeInt64LE } from '../../src/util/int64.js'

const values = [0n, 1n, -1n, 3n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x1_0000_0000n, 0x6500_0000_8000_0001n, -(1n << 63n), (1n << 63n) - 1n, -0x1234_5678_9abc_def0n]

test('halves: high32 signed, low32 unsigned, fromHalves inverts them', () => {
  for (const v of values) {
    assert.equal(high32(v), Number(v >> 32n), `${v}`)
    assert.equal(low32(v), Number(v & 0xffffffffn), `${v}`)
    assert.equal(fromHalves(high32(v), low32(v)), v)
    assert.equal(fromHalves(high32(v), low32(v) | 0), v, 'low half given signed')
  }
})

test('readInt64LE / writeInt64LE agree with Buffer.readBigInt64LE / writeBigInt64LE at any offset', () => {
  for (const v of values) {
    for (const off of [0, 1, 5]) {
      const a = Buffer.alloc(16, 0xee)
      const b = Buffer.alloc(16, 0xee)
      writeInt64LE(a, v, off)
      b.writeBigInt64LE(v, off)
      assert.deepEqual(a, b, `write ${v} at ${off}`)
      assert.equal(readInt64LE(b, off), v, `read ${v} at ${off}`)
      assert.equal(equalsHalvesLE(b, off, high32(v), low32(v) | 0), true)
      assert.equal(equalsHalvesLE(b, off, high32(v), (low32(v) ^ 1) | 0), false)
      assert.equal(equalsHalvesLE(b, off, high32(v) ^ 0x100, low32(v) | 0), false)
    }
  }
  const u = Buffer.alloc(8)
  writeInt64LE(u, 0xffff_ffff_ffff_fffen, 0)
  assert.equal(u.readBigUInt64LE(0), 0xffff_ffff_ffff_fffen, 'unsigned input is written mod 2^64')
})
