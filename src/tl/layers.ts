/**
 * Registries per layer. Each decodes every id of every vendored layer (ids are unique per shape):
 * the compiled codecs of the newest layer, and interpreted codecs for the other ids (for the newest
 * layer's registry loaded on the first id it lacks). An older layer's registry reads the ids whose
 * true-flags it names differently through its own definitions, and encodes that layer's names with
 * that layer's ids, through the compiled codec where the id is compiled and defined alike.
 */
import { codecs } from './generated/schema.js'
import type { TlEntry } from './parser/parse.js'
import { interpretedCodec } from './runtime/interpret.js'
import { TlDecoders, TlRegistry, setDefaultRegistry, type TlDecoder, type TlEncoder } from './runtime/registry.js'
import { NEWEST_LAYER, OLDEST_LAYER, VENDORED_LAYERS, layerSchema, unionById } from './schemas.js'

export { NEWEST_LAYER, OLDEST_LAYER, VENDORED_LAYERS }

const compiled = new Map(codecs.map((c) => [c.id >>> 0, c]))
const interpreted = new WeakMap<TlEntry, { decode: TlDecoder; encode: TlEncoder }>()

function codecOf(e: TlEntry): { decode: TlDecoder; encode: TlEncoder } {
  let c = interpreted.get(e)
  if (c === undefined) interpreted.set(e, (c = interpretedCodec(e)))
  return c
}

function addUnion(into: TlDecoders): void {
  for (const [id, e] of unionById()) if (!compiled.has(id >>> 0)) into.set(id, e.name, codecOf(e).decode)
}

/** Decoders of an older layer: the union, with that layer's own definition where it differs from the union's. */
function layerDecoders(layer: number): TlDecoders {
  const d = new TlDecoders()
  for (const c of codecs) d.set(c.id, c.name, c.decode)
  addUnion(d)
  const newest = layerSchema(NEWEST_LAYER)
  const union = unionById()
  for (const e of layerSchema(layer).byName.values()) {
    const base = compiled.has(e.id >>> 0) ? newest.byName.get(e.name) : union.get(e.id)
    if (base !== e) d.set(e.id, e.name, codecOf(e).decode)
  }
  return d
}

const cache = new Map<number, TlRegistry>()

/**
 * Registry answering in vendored `layer`: decodes every vendored layer (union by id) and encodes
 * each name of that layer with that layer's constructor id. Cached; treat as read-only.
 */
export function registryForLayer(layer: number = NEWEST_LAYER): TlRegistry {
  const hit = cache.get(layer)
  if (hit) return hit
  let r: TlRegistry
  if (layer === NEWEST_LAYER) {
    r = new TlRegistry(layer, new TlDecoders(addUnion)).add(codecs)
  } else {
    const newest = layerSchema(NEWEST_LAYER)
    r = new TlRegistry(layer, layerDecoders(layer))
    for (const e of layerSchema(layer).byName.values()) {
      const own = newest.byName.get(e.name) === e ? compiled.get(e.id >>> 0) : undefined
      r.encodeAs(e.name, e.id, own?.encode ?? codecOf(e).encode)
    }
  }
  cache.set(layer, r)
  return r
}

/**
 * The vendored layer answers to a client speaking `layer` are written in: the newest vendored one not
 * above it (the newest for a newer client, or one that never said); undefined when `layer` is older
 * than every vendored layer.
 */
export function servedLayer(layer: number | undefined): number | undefined {
  if (layer === undefined || layer >= NEWEST_LAYER) return NEWEST_LAYER
  let best: number | undefined
  for (const l of VENDORED_LAYERS) {
    if (l > layer) break
    best = l
  }
  return best
}

/** servedLayer(), the newest for a layer too old to serve (its invokeWithLayer was refused already). */
export function encodingLayer(layer: number | undefined): number {
  return servedLayer(layer) ?? NEWEST_LAYER
}

export const defaultRegistry: TlRegistry = registryForLayer(NEWEST_LAYER)
setDefaultRegistry(defaultRegistry)
