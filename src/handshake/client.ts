/**
 * The client side of the exchange, following mtproto/auth_key step by step (checks included:
 * nonces, answer SHA-1, dh_prime/g, g_a range, new_nonce_hash). Used by tests (temp keys,
 * negative tests through `tamper`) and by the handshake bench (`fast` mode skips the checks a
 * load generator does not need; the server's work is identical).
 */
import { constantTimeEqual, sha1 } from '../crypto/hash.js'
import { igeDecrypt, igeEncrypt } from '../crypto/ige.js'
import { secureRandom, type RandomSource } from '../crypto/random.js'
import { bigFromBytes, checkDhGenerator, checkDhParams, checkDhPublic, DH_PRIME_BIG } from './dh.js'
import { modPowDh } from './dh-engine.js'
import { authKeyAuxHash, authKeyId, firstServerSalt, newNonceHash, tmpAesKeyIv } from './kdf.js'
import {
  decodeWithLength,
  serialize,
  type ClientDhInnerData,
  type PQInnerData,
  type ResPq,
  type ServerDhInnerData,
  type SetClientDhAnswer,
} from './messages.js'
import { bigToMinBytes, factorPq } from './pq.js'
import { legacyEncrypt, rsaPadEncrypt } from './rsa-pad.js'
import type { RsaPublicKey } from './rsa-key.js'

/** Sends one unencrypted request body (boxed TL) and resolves with the answer body. */
export interface PlainRpc {
  call(body: Buffer): Promise<Buffer>
}

export class ClientHandshakeError extends Error {
  constructor(
    readonly reason: string,
    message?: string,
  ) {
    super(message ?? reason)
    this.name = 'ClientHandshakeError'
  }
}

export interface ClientHandshakeOptions {
  publicKeys: RsaPublicKey[]
  /** DC id put in p_q_inner_data_dc (negated for media). Omit to send plain p_q_inner_data. */
  dcId?: number
  media?: boolean
  /** Temp key lifetime: sends p_q_inner_data_temp(_dc). */
  expiresIn?: number
  /** Use the legacy SHA-1 padded RSA form instead of RSA_PAD. */
  legacyRsa?: boolean
  random?: RandomSource
  /** Load-generator mode: skip dh_prime/g_a checks and answer verification, reuse `fastSecret`. */
  fast?: { factor?: (pq: bigint) => { p: bigint; q: bigint }; b: Buffer; gB: Buffer }
  /** Test hooks to produce malformed requests. */
  tamper?: {
    innerData?: (d: PQInnerData) => PQInnerData
    reqDhParams?: (r: { p: Buffer; q: Buffer; public_key_fingerprint: bigint; encrypted_data: Buffer }) => void
    clientInner?: (d: ClientDhInnerData) => ClientDhInnerData
    clientInnerPlain?: (plain: Buffer) => Buffer
  }
}

export interface ClientHandshakeResult {
  authKey: Buffer
  authKeyId: bigint
  serverSalt: bigint
  serverTime: number
  retries: number
}

function expect<T extends { _: string }>(buf: Buffer, names: string[]): T {
  const { obj } = decodeWithLength(buf)
  if (!names.includes(obj._)) throw new ClientHandshakeError('unexpected_answer', `expected ${names.join('|')}, got ${obj._}`)
  return obj as unknown as T
}

/** Runs the exchange (dh_gen_retry handled inside; every other failure throws ClientHandshakeError). */
export async function clientHandshake(rpc: PlainRpc, opts: ClientHandshakeOptions): Promise<ClientHandshakeResult> {
  const random = opts.random ?? secureRandom
  const nonce = random(16)
  const resPq = expect<ResPq>(await rpc.call(serialize({ _: 'req_pq_multi', nonce })), ['resPQ'])
  if (!constantTimeEqual(resPq.nonce, nonce)) throw new ClientHandshakeError('nonce_mismatch')
  const serverNonce = Buffer.from(resPq.server_nonce)
  const key = opts.publicKeys.find((k) => resPq.server_public_key_fingerprints.includes(k.fingerprint))
  if (!key) throw new ClientHandshakeError('no_known_key')
  const pq = bigFromBytes(resPq.pq)
  const { p, q } = (opts.fast?.factor ?? factorPq)(pq)
  const newNonce = random(32)
  const temp = opts.expiresIn !== undefined
  const withDc = opts.dcId !== undefined
  const fields = { pq: bigToMinBytes(pq), p: bigToMinBytes(p), q: bigToMinBytes(q), nonce, server_nonce: serverNonce, new_nonce: newNonce }
  const dc = opts.media ? -opts.dcId! : opts.dcId!
  const expires_in = opts.expiresIn!
  let inner: PQInnerData = temp
    ? withDc
      ? { _: 'p_q_inner_data_temp_dc', ...fields, dc, expires_in }
      : { _: 'p_q_inner_data_temp', ...fields, expires_in }
    : withDc
      ? { _: 'p_q_inner_data_dc', ...fields, dc }
      : { _: 'p_q_inner_data', ...fields }
  if (opts.tamper?.innerData) inner = opts.tamper.innerData(inner)
  const innerBytes = serialize(inner)
  const req = {
    p: bigToMinBytes(p),
    q: bigToMinBytes(q),
    public_key_fingerprint: key.fingerprint,
    encrypted_data: opts.legacyRsa ? legacyEncrypt(innerBytes, key, random) : rsaPadEncrypt(innerBytes, key, random),
  }
  opts.tamper?.reqDhParams?.(req)
  const dhParams = expect<{ _: string; nonce: Buffer; server_nonce: Buffer; encrypted_answer?: Buffer }>(
    await rpc.call(serialize({ _: 'req_DH_params', nonce, server_nonce: serverNonce, ...req })),
    ['server_DH_params_ok', 'server_DH_params_fail'],
  )
  if (!constantTimeEqual(dhParams.nonce, nonce) || !constantTimeEqual(dhParams.server_nonce, serverNonce)) throw new ClientHandshakeError('nonce_mismatch')
  if (dhParams._ === 'server_DH_params_fail') throw new ClientHandshakeError('server_DH_params_fail')
  const encAnswer = dhParams.encrypted_answer!
  if (encAnswer.length % 16 !== 0) throw new ClientHandshakeError('answer_not_aligned')
  const { key: tmpKey, iv: tmpIv } = tmpAesKeyIv(newNonce, serverNonce)
  const answerPlain = igeDecrypt(encAnswer, tmpKey, tmpIv)
  const decoded = decodeWithLength(answerPlain.subarray(20))
  if (decoded.obj._ !== 'server_DH_inner_data') throw new ClientHandshakeError('unexpected_answer', decoded.obj._)
  const dhInner = decoded.obj as unknown as ServerDhInnerData
  if (!opts.fast) {
    if (!constantTimeEqual(sha1(answerPlain.subarray(20, 20 + decoded.length)), answerPlain.subarray(0, 20))) throw new ClientHandshakeError('answer_hash_mismatch')
    if (answerPlain.length - 20 - decoded.length >= 16) throw new ClientHandshakeError('answer_padding')
    if (!constantTimeEqual(dhInner.nonce, nonce) || !constantTimeEqual(dhInner.server_nonce, serverNonce)) throw new ClientHandshakeError('nonce_mismatch')
    const prime = bigFromBytes(dhInner.dh_prime)
    if (prime !== DH_PRIME_BIG) {
      const bad = checkDhParams(prime, dhInner.g)
      if (bad) throw new ClientHandshakeError(`dh_params_${bad}`)
      throw new ClientHandshakeError('unknown_dh_prime', 'only the well-known prime is supported by this client')
    } else {
      // The well-known prime is a checked safe prime (test/handshake/vectors.test.ts); check g only.
      const badG = checkDhGenerator(prime, dhInner.g)
      if (badG) throw new ClientHandshakeError(`dh_params_${badG}`)
    }
    const gACheck = checkDhPublic(bigFromBytes(dhInner.g_a))
    if (gACheck) throw new ClientHandshakeError(`g_a_${gACheck}`)
  }
  const gA = Buffer.alloc(256)
  dhInner.g_a.copy(gA, 256 - Math.min(256, dhInner.g_a.length))
  const g = Buffer.from([dhInner.g])

  let retryId = 0n
  for (let retries = 0; retries < 5; retries++) {
    const b = opts.fast ? opts.fast.b : random(256)
    const gB = opts.fast ? opts.fast.gB : modPowDh(g, b)
    let cInner: ClientDhInnerData = { _: 'client_DH_inner_data', nonce, server_nonce: serverNonce, retry_id: retryId, g_b: gB }
    if (opts.tamper?.clientInner) cInner = opts.tamper.clientInner(cInner)
    const data = serialize(cInner)
    let plain: Buffer = Buffer.concat([sha1(data), data])
    plain = Buffer.concat([plain, random((16 - (plain.length % 16)) % 16)])
    if (opts.tamper?.clientInnerPlain) plain = opts.tamper.clientInnerPlain(plain)
    const ans = expect<SetClientDhAnswer>(
      await rpc.call(serialize({ _: 'set_client_DH_params', nonce, server_nonce: serverNonce, encrypted_data: igeEncrypt(plain, tmpKey, tmpIv) })),
      ['dh_gen_ok', 'dh_gen_retry', 'dh_gen_fail'],
    )
    if (!constantTimeEqual(ans.nonce, nonce) || !constantTimeEqual(ans.server_nonce, serverNonce)) throw new ClientHandshakeError('nonce_mismatch')
    if (ans._ === 'dh_gen_fail') throw new ClientHandshakeError('dh_gen_fail')
    if (opts.fast && ans._ === 'dh_gen_ok') {
      return { authKey: Buffer.alloc(0), authKeyId: 0n, serverSalt: firstServerSalt(newNonce, serverNonce), serverTime: dhInner.server_time, retries }
    }
    const authKey = modPowDh(gA, b)
    if (ans._ === 'dh_gen_retry') {
      if (!constantTimeEqual(ans.new_nonce_hash2, newNonceHash(newNonce, 2, authKey))) throw new ClientHandshakeError('new_nonce_hash2_mismatch')
      retryId = authKeyAuxHash(authKey).readBigInt64LE(0)
      continue
    }
    if (!constantTimeEqual(ans.new_nonce_hash1, newNonceHash(newNonce, 1, authKey))) throw new ClientHandshakeError('new_nonce_hash1_mismatch')
    return { authKey, authKeyId: authKeyId(authKey), serverSalt: firstServerSalt(newNonce, serverNonce), serverTime: dhInner.server_time, retries }
  }
  throw new ClientHandshakeError('too_many_retries')
}

