/**
 * The `log` section of the YAML config:
 *
 *   log:
 *     level: info      # fatal | error | warn | info | debug | trace | silent
 *     format: json     # json (one object a line) | pretty (one readable line each)
 *
 * Env: MTGATE_LOG_LEVEL, MTGATE_LOG_FORMAT.
 */
import { Collector, ConfigError, checkKeys, mapping, oneOf, type Env } from './load.js'
import type { LogLevel, LogSettings } from './types.js'

export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
const FORMATS = ['json', 'pretty'] as const

type Raw = Record<string, unknown>

export function applyLogEnv(raw: Raw, env: Env, errors: Collector, note: (name: string, path: string) => void): void {
  const pairs: [string, 'level' | 'format', readonly string[]][] = [
    ['MTGATE_LOG_LEVEL', 'level', LOG_LEVELS],
    ['MTGATE_LOG_FORMAT', 'format', FORMATS],
  ]
  for (const [name, key, allowed] of pairs) {
    const v = env[name]?.trim()
    if (v === undefined || v === '') continue
    if (!allowed.includes(v)) {
      errors.add(new ConfigError(name, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`))
      continue
    }
    const cur = raw.log
    raw.log = { ...(cur !== null && typeof cur === 'object' && !Array.isArray(cur) ? (cur as Raw) : {}), [key]: v }
    note(name, `log.${key}`)
  }
}

export function parseLog(v: unknown): LogSettings {
  const raw = mapping(v, 'log')
  const errors = new Collector()
  errors.take(() => checkKeys(raw, ['level', 'format'], 'log.'), undefined)
  const out: LogSettings = { format: errors.take(() => oneOf(raw.format, 'log.format', FORMATS, 'json'), 'json') }
  const level = errors.take(() => (raw.level === undefined ? undefined : oneOf(raw.level, 'log.level', LOG_LEVELS, 'info')), undefined)
  if (level !== undefined) out.level = level
  errors.check()
  return out
}
