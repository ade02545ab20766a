/**
 * RpcError: what a handler throws to answer a query with `rpc_error error_code error_message`.
 * Messages follow Telegram's convention: upper-case, digits and underscores (`FLOOD_WAIT_30`).
 */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    readonly errorMessage: string,
  ) {
    super(`${code} ${errorMessage}`)
    this.name = 'RpcError'
    if (!Number.isInteger(code) || code < -32768 || code > 32767) throw new RangeError(`RpcError: bad code ${code}`)
    if (!/^[A-Z0-9_]+$/.test(errorMessage)) throw new RangeError(`RpcError: bad message ${JSON.stringify(errorMessage)}`)
  }

  /** 420 FLOOD_WAIT_<seconds>. */
  static floodWait(seconds: number): RpcError {
    return new RpcError(420, `FLOOD_WAIT_${Math.max(0, Math.ceil(seconds))}`)
  }
}

/** Answers the router gives by itself. */
export const RpcErrors = {
  /** An unexpected exception in a handler (logged with its stack). */
  internal: () => new RpcError(500, 'INTERNAL'),
  /** initConnection carried an api_id outside the configured allow-list. */
  apiIdInvalid: () => new RpcError(400, 'API_ID_INVALID'),
  /** The allow-list is on but the auth key never sent initConnection. */
  connectionNotInited: () => new RpcError(400, 'CONNECTION_NOT_INITED'),
} as const

/** Answers the upstream bridge gives by itself, whatever the upstream's kind (upstream.ts). */
export const UPSTREAM_ERRORS = {
  timeout: { code: -503, message: 'Timeout' },
  internal: { code: 500, message: 'INTERNAL' },
  requestInvalid: { code: 400, message: 'INPUT_REQUEST_INVALID' },
} as const
