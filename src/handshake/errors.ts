/**
 * Typed handshake failures. `reaction` is what the protocol answers:
 *  - 'close404': transport error -404 and the handshake (and any later request of it) fails;
 *  - 'close429': transport error -429 (flood limits);
 *  - 'close444': transport error -444 (test DC id sent to a production DC or vice versa);
 *  - 'dhParamsFail': server_DH_params_fail (new_nonce is known, the inner data did not match);
 *  - 'dhGenFail': dh_gen_fail (set_client_DH_params decrypted, but a check failed);
 *  - 'unavailable': the key store is down; transport error, never dh_gen_ok.
 */
export type HandshakeReaction = 'close404' | 'close429' | 'close444' | 'dhParamsFail' | 'dhGenFail' | 'unavailable'

export class HandshakeError extends Error {
  constructor(
    readonly reaction: HandshakeReaction,
    /** Short machine-readable reason for logs and tests, e.g. 'unknown_fingerprint'. */
    readonly reason: string,
    message?: string,
  ) {
    super(message ?? reason)
    this.name = 'HandshakeError'
  }
}

/** RSA key problems (bad PEM, ciphertext ≥ modulus, unknown fingerprint). */
export class RsaError extends Error {
  constructor(
    readonly reason: string,
    message?: string,
  ) {
    super(message ?? reason)
    this.name = 'RsaError'
  }
}
