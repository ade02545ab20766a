/** Errors the session layer's public methods reject with. */

/** createSession on a key the store does not know (or an expired temp key). */
export class UnknownAuthKeyError extends Error {
  constructor(readonly authKeyId: bigint) {
    super(`unknown auth key ${authKeyId}`)
    this.name = 'UnknownAuthKeyError'
  }
}
