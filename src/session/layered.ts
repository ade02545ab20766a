/**
 * The session layer's traffic in the client's layer (encodingLayer: the nearest vendored layer not
 * above it): queries read in it and handed on in the newest, RPC results and pushed bodies
 * converted and written in it, pushes once per distinct layer.
 */
import {
  decode,
  encode,
  encodeResult,
  encodingLayer,
  fromLayer,
  NEWEST_LAYER,
  OLDEST_LAYER,
  registryForLayer,
  resultTypeOf,
  servedLayer,
  toLayer,
  type InflateBudget,
  type TlAnyObject,
  type TlMethodName,
  type TlObject,
} from '../tl/index.js'
import type { RpcOutcome } from './api.js'

/** Why a client's invokeWithLayer is refused (older than every vendored layer), undefined when it is served. */
export function refusedLayer(layer: number | undefined): string | undefined {
  if (layer === undefined || servedLayer(layer) !== undefined) return undefined
  return `layer ${layer} is older than the oldest served (${OLDEST_LAYER})`
}

/** A query a client at `layer` sent, read in that layer and converted to the newest (TlError when malformed). */
export function readQuery(raw: Buffer, layer: number | undefined, inflate: InflateBudget | undefined): TlObject {
  const served = encodingLayer(layer)
  return fromLayer(decode(raw, { inflate, registry: registryForLayer(served) }), served)
}

/** A result outcome serialised for a client at `layer` (a bare Bool / vector / number by its method's result schema). */
export function encodeOutcome(outcome: Extract<RpcOutcome, { kind: 'result' }>, layer: number | undefined): Buffer {
  const target = encodingLayer(layer)
  const type = outcome.method === undefined || target === NEWEST_LAYER ? undefined : resultTypeOf(outcome.method)
  const r = toLayer(outcome.result, target, type)
  if (r !== null && typeof r === 'object' && '_' in r) return encode(r as TlObject, target)
  if (outcome.method === undefined) throw new TypeError('a bare result without its method')
  return encodeResult(outcome.method as TlMethodName, r as never, target)
}

/**
 * A pushed body (a boxed TL object, e.g. `updates`, as the pusher serialised it in the newest
 * layer) re-encoded for each recipient session's layer: decoded once when a recipient needs
 * another layer, encoded once per distinct layer, shared by every session at that layer.
 */
export class PushBody {
  private readonly byLayer = new Map<number, Buffer>()
  private obj: TlAnyObject | undefined
  /** Layers the body could not be written in (sent as given there), with the reason. */
  readonly failed = new Map<number, string>()

  constructor(readonly body: Buffer) {
    this.byLayer.set(NEWEST_LAYER, body)
  }

  /** The body in the layer answers to a client at `layer` are written in. */
  forLayer(layer: number | undefined): Buffer {
    const target = encodingLayer(layer)
    const hit = this.byLayer.get(target)
    if (hit !== undefined) return hit
    let out = this.body
    try {
      if (this.obj === undefined) this.obj = decodeAny(this.body)
      out = encode(toLayer(this.obj, target) as TlAnyObject, target)
    } catch (e) {
      this.failed.set(target, (e as Error).message)
    }
    this.byLayer.set(target, out)
    return out
  }

  /** How many distinct encodings were made besides the one given. */
  get encodings(): number {
    return this.byLayer.size - 1
  }
}

/** decode() as a TlAnyObject (typed inline, its result union is too large for the compiler). */
function decodeAny(body: Buffer): TlAnyObject {
  return decode(body)
}
