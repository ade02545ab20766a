/**
 * CRC-32 (IEEE 802.3, the zlib polynomial): the full transport's frame checksum and TL's
 * constructor ids (the CRC32 of the normalised schema line). Uses zlib.crc32 where Node has it
 * (≥ 20.15), else a table.
 */
import * as zlib from 'node:zlib'

type Crc32Fn = (data: Uint8Array, value?: number) => number

const TABLE = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

/** Portable table implementation (also the cross-check in tests). */
export function crc32Portable(data: Uint8Array, value = 0): number {
  let c = (value ^ 0xffffffff) >>> 0
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

const native = (zlib as unknown as { crc32?: Crc32Fn }).crc32

/** CRC32 of `data` (unsigned), continuing from `value` (0 to start). */
export const crc32: Crc32Fn = typeof native === 'function' ? (d, v = 0) => native(d, v) >>> 0 : crc32Portable
