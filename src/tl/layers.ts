import { codecs } from './generated/schema.js'
import { extraCodecs, layerOverrides } from './generated/extra.js'
import { TlRegistry, setDefaultRegistry } from './runtime/registry.js'

/** The layer the default registry encodes in. */
export const DEFAULT_LAYER = 222

/** Layers a registry can be built for (the default one plus those vendored in schema/). */
export const SUPPORTED_LAYERS: readonly number[] = [DEFAULT_LAYER, ...Object.keys(layerOverrides).map(Number)].sort(
  (a, b) => a - b,
)

const cache = new Map<number, TlRegistry>()

/**
 * Registry answering in `layer`: decodes every loaded layer (union by id) and encodes each name with
 * that layer's constructor id. Registries are cached; treat them as read-only.
 */
export function registryForLayer(layer: number = DEFAULT_LAYER): TlRegistry {
  const hit = cache.get(layer)
  if (hit) return hit
  if (!SUPPORTED_LAYERS.includes(layer)) throw new RangeError(`TL layer ${layer} is not vendored (have ${SUPPORTED_LAYERS.join(', ')})`)
  const r = new TlRegistry(layer)
  r.add(extraCodecs, false)
  r.add(codecs, true)
  const overrides = layerOverrides[layer]
  if (overrides) {
    const byId = new Map([...codecs, ...extraCodecs].map((c) => [c.id, c]))
    for (const [name, id] of overrides) {
      const c = byId.get(id)
      if (c) r.encodeAs(name, id, c.encode)
    }
  }
  cache.set(layer, r)
  return r
}

/** The layer answers to a client at `layer` are encoded in: its own when vendored, else the default. */
export function encodingLayer(layer: number | undefined): number {
  return layer !== undefined && SUPPORTED_LAYERS.includes(layer) ? layer : DEFAULT_LAYER
}

export const defaultRegistry: TlRegistry = registryForLayer(DEFAULT_LAYER)
setDefaultRegistry(defaultRegistry)
