/**
 * Unwrapping of the invoke* wrappers around an RPC query (invokeWithLayer, initConnection,
 * invokeAfterMsg(s), invokeWithoutUpdates, gzip_packed; invokeWithMessagesRange and
 * invokeWithTakeout are refused). Pure: the caller applies what was found to its session and key.
 */
import { API_ID, decode, defaultRegistry, TlError, TlReader, type InflateBudget } from '../tl/index.js'
import type { ClientInfo } from './api.js'
import { clientInfoOf } from './client-info.js'
import { constructorOf, ID_GZIP_PACKED, unpackGzip } from './envelope.js'

/** Most wrappers unwrapped around one query. */
export const MAX_WRAPPER_DEPTH = 8

/** Why a wrapped query is refused: the rpc_error to answer and a reason for the log. */
export interface UnwrapError {
  code: number
  message: string
  reason: string
}

export interface Unwrapped {
  /** The innermost query (a view into the input, or into an inflated gzip_packed body). */
  raw: Buffer
  /** The innermost invokeWithLayer's layer, undefined without one. */
  layer: number | undefined
  /** The initConnection data, undefined without one. */
  client: ClientInfo | undefined
  withoutUpdates: boolean
  /** msg_ids from invokeAfterMsg / invokeAfterMsgs, in order; undefined without one. */
  waitFor: bigint[] | undefined
  /**
   * Set when the query is refused. `layer` and `client` then hold what the wrappers outside the
   * refused one announced (the client did say them).
   */
  error: UnwrapError | undefined
}

/**
 * Strips the wrappers off `body` (a boxed query). `allowApiId` filters initConnection's api_id
 * (false → 400 API_ID_INVALID); `inflate` bounds what gzip_packed wrappers may inflate to.
 * Throws only what is not a TlError from the decoder.
 */
export function unwrapQuery(body: Buffer, allowApiId: (apiId: number) => boolean, inflate?: InflateBudget): Unwrapped {
  const u: Unwrapped = { raw: body, layer: undefined, client: undefined, withoutUpdates: false, waitFor: undefined, error: undefined }
  let raw = body
  for (let depth = 0; ; depth++) {
    if (depth > MAX_WRAPPER_DEPTH) return refuse(u, raw, 400, 'INPUT_REQUEST_INVALID', 'too many nested wrappers')
    const ctor = constructorOf(raw)
    if (ctor === undefined) return refuse(u, raw, 400, 'INPUT_REQUEST_INVALID', 'empty query')
    if (ctor === ID_GZIP_PACKED) {
      try {
        raw = unpackGzip(raw, inflate)
      } catch (e) {
        return refuse(u, raw, 400, 'INPUT_REQUEST_INVALID', `gzip_packed query: ${(e as Error).message}`)
      }
      continue
    }
    try {
      if (ctor === API_ID.invokeWithLayer) {
        const r = new TlReader(raw, 4)
        u.layer = r.int()
        raw = raw.subarray(r.offset)
        continue
      }
      if (defaultRegistry.nameOf(ctor) === 'initConnection') {
        const o = decode(raw, { rawObjects: true, inflate })
        if (o._ !== 'initConnection' || !Buffer.isBuffer(o.query)) throw new TlError('BAD_VALUE', 'initConnection without a query', 0, 'query')
        if (!allowApiId(o.api_id)) return refuse(u, raw, 400, 'API_ID_INVALID', `api_id ${o.api_id} not allowed by configuration`)
        u.client = clientInfoOf(o)
        raw = o.query
        continue
      }
      if (ctor === API_ID.invokeAfterMsg) {
        const r = new TlReader(raw, 4)
        ;(u.waitFor ??= []).push(r.long())
        raw = raw.subarray(r.offset)
        continue
      }
      if (ctor === API_ID.invokeAfterMsgs) {
        const r = new TlReader(raw, 4)
        ;(u.waitFor ??= []).push(...r.vectorLong())
        raw = raw.subarray(r.offset)
        continue
      }
      if (ctor === API_ID.invokeWithoutUpdates) {
        u.withoutUpdates = true
        raw = raw.subarray(4)
        continue
      }
      if (ctor === API_ID.invokeWithMessagesRange) {
        return refuse(u, raw, 400, 'RANGES_INVALID', 'invokeWithMessagesRange: message ranges are not served by this server')
      }
      if (ctor === API_ID.invokeWithTakeout) {
        return refuse(u, raw, 400, 'TAKEOUT_INVALID', 'invokeWithTakeout: no takeout sessions exist on this server')
      }
    } catch (e) {
      if (!(e instanceof TlError)) throw e
      return refuse(u, raw, 400, 'INPUT_REQUEST_INVALID', `malformed wrapper: ${e.message}`)
    }
    u.raw = raw
    return u
  }
}

function refuse(u: Unwrapped, raw: Buffer, code: number, message: string, reason: string): Unwrapped {
  u.raw = raw
  u.error = { code, message, reason }
  return u
}
