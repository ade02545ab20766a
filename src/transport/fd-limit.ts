/**
 * The process's open-file limit (RLIMIT_NOFILE, soft), read from /proc/self/limits on Linux, and
 * the connection cap it allows: every connection is a descriptor, and the store, the worker
 * threads, the listeners and the logs need some of their own.
 */
import { readdirSync, readFileSync } from 'node:fs'

/** Soft open-file limit, or undefined where it cannot be read (not Linux) or is unlimited. */
export function openFileLimit(limitsText?: string): number | undefined {
  let text = limitsText
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8')
    } catch {
      return undefined
    }
  }
  const line = text.split('\n').find((l) => l.startsWith('Max open files'))
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0]
  if (soft === undefined || soft === 'unlimited') return undefined
  const n = Number(soft)
  return Number.isSafeInteger(n) && n > 0 ? n : undefined
}

/** Descriptors open now (/proc/self/fd), or undefined where that cannot be read. */
export function openDescriptors(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length
  } catch {
    return undefined
  }
}

/**
 * Descriptors kept back from connections: those already open, plus an eighth of the limit (at
 * least 32, at most 1024) for what opens later (store files, workers, an accept in flight).
 */
export function reservedDescriptors(limit: number, inUse = 0): number {
  return inUse + Math.min(1024, Math.max(32, Math.floor(limit / 8)))
}

/**
 * `maxConnections` lowered to what the open-file limit leaves for connections; `clamped` says
 * whether it was lowered.
 */
export function connectionsAllowedBy(
  maxConnections: number,
  limit = openFileLimit(),
  inUse = openDescriptors() ?? 0,
): { max: number; clamped: boolean; limit: number | undefined } {
  if (limit === undefined) return { max: maxConnections, clamped: false, limit }
  const room = Math.max(1, limit - reservedDescriptors(limit, inUse))
  return room < maxConnections ? { max: room, clamped: true, limit } : { max: maxConnections, clamped: false, limit }
}
