/**
 * The protobuf wire format, as much as Teamgram's messages use: varints (int32, int64, bool, enum),
 * 64-bit doubles, length-delimited strings, bytes and messages; repeated scalars packed or not.
 */

export const WIRE = { varint: 0, fixed64: 1, len: 2, fixed32: 5 } as const

/** grpc-js serializer and deserializer of a message that is already protobuf bytes. */
export const asBytes = (b: Buffer): Buffer => b

/** Writes one message: fields appended in the order written (callers write by field number). */
export class PbWriter {
  private readonly parts: Buffer[] = []
  private scratch: number[] = []

  private tag(num: number, wire: number): void {
    this.varint(BigInt(num * 8 + wire))
  }

  private varint(v: bigint): void {
    let x = BigInt.asUintN(64, v)
    const out = this.scratch
    out.length = 0
    while (x > 0x7fn) {
      out.push(Number(x & 0x7fn) | 0x80)
      x >>= 7n
    }
    out.push(Number(x))
    this.parts.push(Buffer.from(out))
  }

  /** int32, int64, bool and enum fields (negative int32 as 10 bytes, as protobuf does). */
  uint(num: number, v: bigint | number | boolean): this {
    this.tag(num, WIRE.varint)
    this.varint(typeof v === 'boolean' ? (v ? 1n : 0n) : BigInt(v))
    return this
  }

  double(num: number, v: number): this {
    this.tag(num, WIRE.fixed64)
    const b = Buffer.alloc(8)
    b.writeDoubleLE(v)
    this.parts.push(b)
    return this
  }

  bytes(num: number, v: Buffer | string): this {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v
    this.tag(num, WIRE.len)
    this.varint(BigInt(b.length))
    this.parts.push(b)
    return this
  }

  /** A packed repeated varint field (int32, int64, bool). */
  packedVarints(num: number, vs: readonly (bigint | number | boolean)[]): this {
    const w = new PbWriter()
    for (const v of vs) w.varint(typeof v === 'boolean' ? (v ? 1n : 0n) : BigInt(v))
    return this.bytes(num, w.finish())
  }

  packedDoubles(num: number, vs: readonly number[]): this {
    const b = Buffer.alloc(8 * vs.length)
    vs.forEach((v, i) => b.writeDoubleLE(v, 8 * i))
    return this.bytes(num, b)
  }

  finish(): Buffer {
    return Buffer.concat(this.parts)
  }
}

/** One field as read: a varint (bigint), a double's 8 bytes, or the bytes of a length-delimited field. */
export type PbValue = { wire: 0; v: bigint } | { wire: 1 | 5; raw: Buffer } | { wire: 2; raw: Buffer }

export class PbError extends Error {}

/** The varint at `at.pos` of `buf`; moves `at.pos` past it. */
function readVarint(buf: Buffer, at: { pos: number }): bigint {
  let x = 0n
  for (let shift = 0n; ; shift += 7n) {
    if (at.pos >= buf.length) throw new PbError('truncated varint')
    const b = buf[at.pos++]!
    x |= BigInt(b & 0x7f) << shift
    if (b < 0x80) return x
    if (shift > 63n) throw new PbError('varint too long')
  }
}

/** Reads a message into its fields: number → values in order (repeated fields have several). */
export function readMessage(buf: Buffer): Map<number, PbValue[]> {
  const fields = new Map<number, PbValue[]>()
  const at = { pos: 0 }
  const varint = (): bigint => readVarint(buf, at)
  while (at.pos < buf.length) {
    const tag = Number(varint())
    const num = tag >>> 3
    const wire = tag & 7
    let value: PbValue
    if (wire === WIRE.varint) value = { wire: 0, v: varint() }
    else if (wire === WIRE.fixed64 || wire === WIRE.fixed32) {
      const n = wire === WIRE.fixed64 ? 8 : 4
      if (at.pos + n > buf.length) throw new PbError('truncated fixed field')
      value = { wire, raw: buf.subarray(at.pos, at.pos + n) }
      at.pos += n
    } else if (wire === WIRE.len) {
      const n = Number(varint())
      if (at.pos + n > buf.length) throw new PbError(`field ${num}: ${n} bytes past the end`)
      value = { wire: 2, raw: buf.subarray(at.pos, at.pos + n) }
      at.pos += n
    } else throw new PbError(`field ${num}: unsupported wire type ${wire}`)
    const list = fields.get(num)
    if (list === undefined) fields.set(num, [value])
    else list.push(value)
  }
  return fields
}

/** The varints of a repeated varint field (packed, unpacked, or both). */
export function varints(values: readonly PbValue[]): bigint[] {
  const out: bigint[] = []
  for (const v of values) {
    if (v.wire === 0) out.push(v.v)
    else if (v.wire === 2) {
      const at = { pos: 0 }
      while (at.pos < v.raw.length) out.push(readVarint(v.raw, at))
    }
  }
  return out
}

/** The doubles of a repeated double field (packed or not). */
export function doubles(values: readonly PbValue[]): number[] {
  const out: number[] = []
  for (const v of values) {
    if (v.wire === 1) out.push(v.raw.readDoubleLE(0))
    else if (v.wire === 2) for (let i = 0; i + 8 <= v.raw.length; i += 8) out.push(v.raw.readDoubleLE(i))
  }
  return out
}

/** A varint as a signed int32 / int64. */
export const int32 = (v: bigint): number => Number(BigInt.asIntN(32, v))
export const int64 = (v: bigint): bigint => BigInt.asIntN(64, v)
