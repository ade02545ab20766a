/**
 * The handshake's TL objects (schema/mtproto.tl, field names as in the schema) as the generated
 * types of src/tl name them, and the two decode helpers the exchange needs. Encoding/decoding
 * itself is the generated TL codec; these types narrow its objects after a check on `_`.
 */
import { TlReader, TlWriter, type TlAnyObject, type TlObjectByName, type TlTypeByName } from '../tl/index.js'

export type ReqPq = TlObjectByName['req_pq' | 'req_pq_multi']
export type ResPq = TlObjectByName['resPQ']
export type ReqDhParams = TlObjectByName['req_DH_params']
/** p_q_inner_data, _dc, _temp or _temp_dc: `dc` and `expires_in` exist only where the name says. */
export type PQInnerData = TlTypeByName['P_Q_inner_data']
export type ServerDhParamsOk = TlObjectByName['server_DH_params_ok']
export type ServerDhParamsFail = TlObjectByName['server_DH_params_fail']
export type ServerDhInnerData = TlObjectByName['server_DH_inner_data']
export type SetClientDhParams = TlObjectByName['set_client_DH_params']
export type ClientDhInnerData = TlObjectByName['client_DH_inner_data']
export type DhGenOk = TlObjectByName['dh_gen_ok']
export type DhGenRetry = TlObjectByName['dh_gen_retry']
export type DhGenFail = TlObjectByName['dh_gen_fail']
export type DestroyAuthKey = TlObjectByName['destroy_auth_key']
export type DestroyAuthKeyRes = TlTypeByName['DestroyAuthKeyRes']
type MsgsAck = TlObjectByName['msgs_ack']

export type HandshakeRequest = ReqPq | ReqDhParams | SetClientDhParams | DestroyAuthKey
export type HandshakeAnswer = ResPq | ServerDhParamsOk | ServerDhParamsFail | DhGenOk | DhGenRetry | DhGenFail | DestroyAuthKeyRes
export type SetClientDhAnswer = TlTypeByName['Set_client_DH_params_answer']

export const HANDSHAKE_METHODS: ReadonlySet<string> = new Set<HandshakeRequest['_']>(['req_pq', 'req_pq_multi', 'req_DH_params', 'set_client_DH_params', 'destroy_auth_key'])
export const PQ_INNER_TYPES: ReadonlySet<string> = new Set<PQInnerData['_']>(['p_q_inner_data', 'p_q_inner_data_dc', 'p_q_inner_data_temp', 'p_q_inner_data_temp_dc'])

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
 * (td/mtproto/NoCryptoStorer.h, NoCryptoImpl) pads it to 16 and adds 0..15 more blocks of 16;
 * Telegram Desktop (mtproto/connection_abstract.h, prepareNotSecurePacket) adds 0..63 random ints.
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
  if (obj._ === 'msgs_ack') return { kind: 'ack', msgIds: (obj as MsgsAck).msg_ids }
  if (!HANDSHAKE_METHODS.has(obj._)) return { kind: 'refused', name: obj._, reason: 'not_a_handshake_method' }
  return { kind: 'request', req: obj as HandshakeRequest }
}
