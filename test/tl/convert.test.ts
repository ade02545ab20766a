import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  DROP,
  FALLBACKS,
  NEWEST_LAYER,
  VENDORED_LAYERS,
  converter,
  decode,
  encode,
  fromLayer,
  layerSchema,
  registryForLayer,
  toLayer,
  TlError,
  type TlObject,
} from '../../src/tl/index.js'
import type { LayerSchema } from '../../src/tl/schemas.js'
import type { TlArg, TlEntry } from '../../src/tl/parser/parse.js'
import { RandomObjects, rng } from './random-object.js'
import { prune } from './prune.js'

const newest = layerSchema(NEWEST_LAYER)

/** Entries that are values, not objects, to the codecs (`boolTrue`/`boolFalse` are a Bool). */
const isObject = (e: TlEntry) => e.result !== 'Bool'

/** Whether a constructor `e` (of another layer) may have no form in `s`: its type, or one it requires, is dropped or unknown there. */
function noFormIn(s: LayerSchema, e: TlEntry): boolean {
  const gone = (t: string) => FALLBACKS[t] === 'drop' || (!s.types.has(t) && /^[A-Z]/.test(t.split('.').pop()!) && t !== 'Bool')
  const own = s.byName.get(e.name)
  return gone(e.result) || e.args.some((a) => !a.cond && gone(a.type)) || (own?.args.some((a) => !a.cond && gone(a.type)) ?? false)
}

/** Whether `b` has every field of `a` with the same type and conditionality (so a value of `a` survives a trip through `b`). */
function holds(a: TlEntry, b: TlEntry | undefined): boolean {
  if (b === undefined || b.kind !== a.kind || (a.kind === 'constructor' && a.result !== b.result)) return false
  const names = new Set(a.args.map((x) => x.name))
  // a field sharing its flag bit in `b` with one `a` lacks is written only with it
  const partners = (y: TlArg) => b.args.filter((z) => z.cond !== undefined && z.cond.field === y.cond!.field && z.cond.bit === y.cond!.bit)
  return a.args.every((x) => {
    if (x.type === '#') return true
    const y = b.args.find((z) => z.name === x.name)
    if (y === undefined || y.type !== x.type || (y.cond === undefined) !== (x.cond === undefined)) return false
    return y.cond === undefined || partners(y).every((z) => names.has(z.name))
  })
}

/** Whether every object in `v` (of layer `from`) survives a trip through layer `via` unchanged. */
function survives(v: unknown, from: LayerSchema, via: LayerSchema): boolean {
  if (Array.isArray(v)) return v.every((x) => survives(x, from, via))
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return true
  const o = v as Record<string, unknown>
  const e = from.byName.get(o._ as string)!
  return holds(e, via.byName.get(e.name)) && Object.values(o).every((x) => survives(x, from, via))
}

test('every constructor and method of every older layer: up to the newest and back, exact where both ends hold it', () => {
  const rows: string[] = []
  for (const layer of VENDORED_LAYERS) {
    if (layer === NEWEST_LAYER) continue
    const own = layerSchema(layer)
    const reg = registryForLayer(layer)
    const gen = new RandomObjects([...own.byName.values()], rng(layer))
    let exact = 0
    let lossy = 0
    let unknown = 0
    for (const e of own.byName.values()) {
      if (!isObject(e)) continue
      const obj = gen.object(e) as unknown as TlObject
      const up = fromLayer(obj, layer)
      if (up === obj && converter(layer, NEWEST_LAYER).object(obj, undefined) === DROP) {
        // no form in the newest layer (a method it lacks, a constructor of a type it lacks or drops):
        // kept as sent, which no handler expects, and the router answers as unknown
        assert.ok(e.kind === 'method' || noFormIn(newest, e), `${layer} ${e.name} has a form in the newest layer`)
        unknown++
        continue
      }
      encode(up) // writable in the newest layer
      const back = toLayer(up, layer, e.kind === 'constructor' ? e.result : undefined) as TlObject
      const bytes = encode(back, reg)
      if (survives(obj, own, newest)) {
        assert.deepStrictEqual(prune(decode(bytes, { registry: reg })), prune(obj), `${layer} ${e.name}`)
        exact++
      } else {
        lossy++
      }
    }
    assert.ok(exact > lossy, `${layer}: ${exact} exact, ${lossy} lossy`)
    rows.push(`${layer}: ${exact} exact, ${lossy} lossy, ${unknown} as sent (methods / types the newest lacks)`)
  }
  console.log(`older → ${NEWEST_LAYER} → older:\n${rows.join('\n')}`)
})

test('every constructor of the newest layer, in every older layer: by name or by a fallback, and back', () => {
  const gen = new RandomObjects([...newest.byName.values()], rng(NEWEST_LAYER))
  const ctors = [...newest.byName.values()].filter((e) => e.kind === 'constructor' && isObject(e))
  const samples = ctors.map((e) => gen.object(e) as unknown as TlObject)
  const rows: string[] = []
  for (const layer of VENDORED_LAYERS) {
    if (layer === NEWEST_LAYER) continue
    const own = layerSchema(layer)
    const reg = registryForLayer(layer)
    let byName = 0
    let byFallback = 0
    let dropped = 0
    ctors.forEach((e, i) => {
      let down: TlObject
      try {
        down = toLayer(samples[i], layer, e.result) as TlObject
      } catch (err) {
        assert.ok(err instanceof TlError, `${layer} ${e.name}: ${(err as Error).message}`)
        assert.ok(noFormIn(own, e), `${layer} ${e.name}: no form only when ${e.result}, or a type it requires, is dropped or unknown there`)
        dropped++
        return
      }
      if (down._ === e.name) {
        assert.ok(own.constructorOf(e.name, e.result))
        byName++
      } else {
        assert.equal(own.byName.get(down._)?.result, e.result, `${layer} ${e.name} falls back to a ${e.result}`)
        byFallback++
      }
      const bytes = encode(down, reg)
      encode(fromLayer(decode(bytes, { registry: reg }), layer))
    })
    assert.equal(byName + byFallback + dropped, ctors.length)
    rows.push(`${layer}: ${byName} by name, ${byFallback} by fallback, ${dropped} without a form (type dropped or unknown there)`)
  }
  console.log(`${NEWEST_LAYER} constructors (${ctors.length}) → older:\n${rows.join('\n')}`)
})

test('fallbacks: an unknown update leaves its vector, an updateShort of it becomes an empty updates', () => {
  const own = layerSchema(130)
  const missing = [...newest.types.get('Update')!].find((e) => own.byName.get(e.name) === undefined && e.args.every((a) => a.cond || a.type === 'int'))!
  assert.ok(missing, 'an update kind layer 130 lacks')
  const upd = { _: missing.name, ...Object.fromEntries(missing.args.filter((a) => !a.cond).map((a) => [a.name, 1])) }
  const status = { _: 'updateUserStatus', user_id: 100005n, status: { _: 'userStatusRecently', flags: 0 } }
  const updates = { _: 'updates', updates: [upd, status], users: [], chats: [], date: 1764000000, seq: 0 }
  const down = toLayer(updates, 130) as { updates: { _: string; user_id: number }[] }
  assert.deepEqual(
    down.updates.map((u) => u._),
    ['updateUserStatus'],
  )
  assert.equal(down.updates[0]!.user_id, 100005, 'user_id is an int in layer 130')
  const short = toLayer({ _: 'updateShort', update: upd, date: 1764000000 }, 130)
  assert.deepEqual(short, { _: 'updates', updates: [], users: [], chats: [], date: 1764000000, seq: 0 })
  encode(short as TlObject, 130)
  assert.throws(() => toLayer(upd, 130), (e: unknown) => e instanceof TlError && /has no form in layer 130/.test(e.message))
})

test('named fallbacks exist in every layer that has their type', () => {
  for (const layer of VENDORED_LAYERS) {
    const s = layerSchema(layer)
    for (const [type, rule] of Object.entries(FALLBACKS)) {
      if (rule === 'drop' || !s.types.has(type)) continue
      assert.ok(s.constructorOf(rule, type), `${layer}: ${rule} is a ${type}`)
    }
  }
})

test('a type the same in both layers is passed through untouched; numbers follow the layer’s field type', () => {
  const c = converter(NEWEST_LAYER, 227)
  const peer = { _: 'peerUser', user_id: 5n }
  assert.equal(c.object(peer, 'Peer'), peer)
  const old = converter(NEWEST_LAYER, 103).object(peer, 'Peer') as { user_id: unknown }
  assert.equal(old.user_id, 5, 'user ids are ints in layer 103')
  const back = converter(103, NEWEST_LAYER).object(old, 'Peer') as { user_id: unknown }
  assert.equal(back.user_id, 5n)
})
