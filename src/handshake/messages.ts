/**
 * Typed views of the handshake's TL objects (schema/mtproto.tl, field names as in the schema)
 * and the two decode helpers the exchange needs. Encoding/decoding itself is the generated TL
 * codec (src/tl); these types narrow its objects after a check on `_`.
 */
import { TlReader, TlWriter, type TlAnyObject } from '../tl/index.js'

export interface ReqPq {
  _: 'req_pq' | 'req_pq_multi'
  nonce: Buffer
}
export interface ResPq {
  _: 'resPQ'
  nonce: Buffer
  server_nonce: Buffer
  pq: Buffer
  server_public_key_fingerprints: bigint[]
}
export interface ReqDhParams {
  _: 'req_DH_params'
  nonce: Buffer
  server_nonce: Buffer
  p: Buffer
  q: Buffer
  public_key_fingerprint: bigint
  encrypted_data: Buffer
}
export interface PQInnerData {
  _: 'p_q_inner_data' | 'p_q_inner_data_dc' | 'p_q_inner_data_temp' | 'p_q_inner_data_temp_dc'
  pq: Buffer
  p: Buffer
  q: Buffer
  nonce: Buffer
  server_nonce: Buffer
  new_nonce: Buffer
  dc?: number
  expires_in?: number
}
export interface ServerDhParamsOk {
  _: 'server_DH_params_ok'
  nonce: Buffer
  server_nonce: Buffer
  encrypted_answer: Buffer
}
export interface ServerDhParamsFail {
  _: 'server_DH_params_fail'
  nonce: Buffer
  server_nonce: Buffer
  new_nonce_hash: Buffer
}
export interface ServerDhInnerData {
  _: 'server_DH_inner_data'
  nonce: Buffer
  server_nonce: Buffer
  g: number
  dh_prime: Buffer
  g_a: Buffer
  server_time: number
}
export interface SetClientDhParams {
  _: 'set_client_DH_params'
  nonce: Buffer
  server_nonce: Buffer
  encrypted_data: Buffer
}
export interface ClientDhInnerData {
  _: 'client_DH_inner_data'
  nonce: Buffer
  server_nonce: Buffer
  retry_id: bigint
  g_b: Buffer
}
export interface DhGenOk {
  _: 'dh_gen_ok'
  nonce: Buffer
  server_nonce: Buffer
  new_nonce_hash1: Buffer
}
export interface DhGenRetry {
  _: 'dh_gen_retry'
  nonce: Buffer
  server_nonce: Buffer
  new_nonce_hash2: Buffer
}
export interface DhGenFail {
  _: 'dh_gen_fail'
  nonce: Buffer
  server_nonce: Buffer
  new_nonce_hash3: Buffer
}
export interface DestroyAuthKey {
  _: 'destroy_auth_key'
}
export type DestroyAuthKeyRes = { _: 'destroy_auth_key_ok' } | { _: 'destroy_auth_key_none' } | { _: 'destroy_auth_key_fail' }

export type HandshakeRequest = ReqPq | ReqDhParams | SetClientDhParams | DestroyAuthKey
export type HandshakeAnswer = ResPq | ServerDhParamsOk | ServerDhParamsFail | DhGenOk | DhGenRetry | DhGenFail | DestroyAuthKeyRes
export type SetClientDhAnswer = DhGenOk | DhGenRetry | DhGenFail

export const HANDSHAKE_METHODS: ReadonlySet<string> = new Set(['req_pq', 'req_pq_multi', 'req_DH_params', 'set_client_DH_params', 'destroy_auth_key'])
export const PQ_INNER_TYPES: ReadonlySet<string> = new Set(['p_q_inner_data', 'p_q_inner_data_dc', 'p_q_inner_data_temp', 'p_q_inner_data_temp_dc'])

/** Decodes one boxed object at the start of `buf`; returns it and the bytes it used. Throws TlError. */
export function decodeWithLength(buf: Uint8Array): { obj: TlAnyObject; length: number } {
  const r = new TlReader(buf)
  const obj = r.object()
  return { obj, length: r.offset }
}

/** Boxed serialisation of one object. */
export function serialize(obj: HandshakeAnswer | HandshakeRequest | PQInnerData | ServerDhInnerData | ClientDhInnerData): Buffer {
  const w = new TlWriter()
  w.object(obj)
  return w.finish()
}

/**
 * Bytes that may follow the TL object inside message_data of an unencrypted message: TDLib
 * (td/mtproto/NoCryptoStorer.h, NoCryptoImpl) pads it to 16 and adds 0..15 more blocks of 16.
 */
export const MAX_BODY_PADDING = 255

/** What an unencrypted message body holds. */
export type UnencryptedBody =
  | { readonly kind: 'request'; readonly req: HandshakeRequest }
  /** msgs_ack: tgnet (Handshake.cpp, sendAckRequest) acknowledges each handshake answer with one. */
  | { readonly kind: 'ack'; readonly msgIds: readonly bigint[] }
  /** TL, but not allowed with auth_key_id = 0 (or followed by too many bytes): `name` for the log. */
  | { readonly kind: 'refused'; readonly name: string; readonly reason: 'not_a_handshake_method' | 'body_trailing_bytes' }

/**
 * Decodes an unencrypted message body: a handshake method, a msgs_ack, or something refused.
 * Throws TlError when it is not TL at all.
 */
export function decodeUnencryptedBody(body: Uint8Array): UnencryptedBody {
  const { obj, length } = decodeWithLength(body)
  if (body.length - length > MAX_BODY_PADDING) return { kind: 'refused', name: obj._, reason: 'body_trailing_bytes' }
  if (obj._ === 'msgs_ack') return { kind: 'ack', msgIds: (obj as unknown as { msg_ids: bigint[] }).msg_ids }
  if (!HANDSHAKE_METHODS.has(obj._)) return { kind: 'refused', name: obj._, reason: 'not_a_handshake_method' }
  return { kind: 'request', req: obj as HandshakeRequest }
}
