/**
 * What the session layer sends, written in the client's layer (encodingLayer: its own when
 * vendored, else the default): RPC results, and pushed bodies re-encoded per recipient layer.
 */
import { decode, DEFAULT_LAYER, encode, encodeResult, encodingLayer, type TlAnyObject, type TlMethodName, type TlObject } from '../tl/index.js'
import type { RpcOutcome } from './api.js'

/** A result outcome serialised for a client at `layer` (a bare Bool / vector / number by its method's result schema). */
export function encodeOutcome(outcome: Extract<RpcOutcome, { kind: 'result' }>, layer: number | undefined): Buffer {
  const target = encodingLayer(layer)
  const r = outcome.result
  if (r !== null && typeof r === 'object' && '_' in r) return encode(r as TlObject, target)
  if (outcome.method === undefined) throw new TypeError('a bare result without its method')
  return encodeResult(outcome.method as TlMethodName, r as never, target)
}

/**
 * A pushed body (a boxed TL object, e.g. `updates`, as the pusher serialised it in the default
 * layer) re-encoded for each recipient session's layer: decoded once when a recipient needs
 * another layer, encoded once per distinct layer, shared by every session at that layer.
 */
export class PushBody {
  private readonly byLayer = new Map<number, Buffer>()
  private obj: TlAnyObject | undefined
  /** Layers the body could not be written in (sent as given there), with the reason. */
  readonly failed = new Map<number, string>()

  constructor(readonly body: Buffer) {
    this.byLayer.set(DEFAULT_LAYER, body)
  }

  /** The body in the layer answers to a client at `layer` are written in. */
  forLayer(layer: number | undefined): Buffer {
    const target = encodingLayer(layer)
    const hit = this.byLayer.get(target)
    if (hit !== undefined) return hit
    let out = this.body
    try {
      if (this.obj === undefined) this.obj = decodeAny(this.body)
      out = encode(this.obj, target)
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
