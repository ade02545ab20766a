/** Mapping of driver errors to StoreError codes, and a deadline for backend operations. */
import { StoreError } from './types.js'

/** Node/driver error codes meaning "the backend cannot be reached or did not answer". */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_ACCESS_DENIED_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_LOCK_DEADLOCK',
  'ER_QUERY_INTERRUPTED',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_IOERR',
  'SQLITE_FULL',
  'SQLITE_CANTOPEN',
  'SQLITE_READONLY',
])

function codeOf(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined
  const c = (e as { code?: unknown }).code
  return typeof c === 'string' ? c : undefined
}

/** Driver code of an error (e.g. 'ER_DUP_ENTRY'), or undefined. */
export function driverCode(e: unknown): string | undefined {
  return codeOf(e)
}

/** Wraps any thrown value as a StoreError; StoreErrors pass through unchanged. */
export function toStoreError(e: unknown, what: string): StoreError {
  if (e instanceof StoreError) return e
  const code = codeOf(e)
  const msg = e instanceof Error ? e.message : String(e)
  const unavailable =
    (code !== undefined && (UNAVAILABLE_CODES.has(code) || code.startsWith('SQLITE_IOERR'))) ||
    (e instanceof Error && /Connection lost|closed state|connect ETIMEDOUT|Pool is closed/i.test(msg))
  return new StoreError(unavailable ? 'unavailable' : 'internal', `${what}: ${code ? code + ': ' : ''}${msg}`, {
    cause: e,
  })
}

/**
 * Resolves/rejects like `p`, or rejects with StoreError('unavailable') after `ms` milliseconds
 * (the backend did not answer in time; the operation may or may not have taken effect).
 */
export function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreError('unavailable', `${what}: no answer within ${ms} ms`)), ms)
  })
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer))
}
