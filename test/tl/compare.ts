/**
 * Structural comparison of our decoded objects with GramJS / mtcute objects: camelCase field names,
 * long as bigint / Long / big-integer / int53 number, bytes as Uint8Array, absent flags as
 * undefined/null/false.
 */
import assert from 'node:assert/strict'

export function camel(s: string): string {
  return s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())
}

function norm(name: string): string {
  return name.replace(/\./g, '').toLowerCase()
}

function typeName(v: Record<string, unknown>): string | undefined {
  if (typeof v._ === 'string') return v._
  if (typeof v.className === 'string') return v.className
  return undefined
}

/** Asserts that `theirs` (a GramJS or mtcute value) carries the same data as `ours`. */
export function assertSame(ours: unknown, theirs: unknown, path = '$'): void {
  if (ours === undefined || ours === false) {
    assert.ok(theirs === undefined || theirs === null || theirs === false, `${path}: ours ${String(ours)}, theirs ${String(theirs)}`)
    return
  }
  if (typeof ours === 'bigint') {
    assert.ok(theirs !== undefined && theirs !== null, `${path}: missing long`)
    const t = typeof theirs === 'bigint' ? theirs : BigInt(String(theirs))
    assert.equal(t, ours, path)
    return
  }
  if (Buffer.isBuffer(ours)) {
    assert.ok(theirs instanceof Uint8Array, `${path}: expected bytes`)
    assert.deepEqual(Buffer.from(theirs), ours, path)
    return
  }
  if (Array.isArray(ours)) {
    assert.ok(Array.isArray(theirs), `${path}: expected array`)
    assert.equal(theirs.length, ours.length, `${path}.length`)
    ours.forEach((v, i) => assertSame(v, (theirs as unknown[])[i], `${path}[${i}]`))
    return
  }
  if (typeof ours === 'object' && ours !== null) {
    const o = ours as Record<string, unknown>
    assert.ok(typeof theirs === 'object' && theirs !== null, `${path}: expected object ${String(o._)}`)
    const t = theirs as Record<string, unknown>
    assert.equal(norm(typeName(t) ?? '?'), norm(String(o._)), `${path}: constructor`)
    for (const k of Object.keys(o)) {
      if (k === '_') continue
      assertSame(o[k], t[camel(k)], `${path}.${k}`)
    }
    return
  }
  assert.equal(theirs, ours, path)
}
