import { pino, destination, type Logger } from 'pino'

export type { Logger }

export type LogFormat = 'json' | 'pretty'

const stderr = destination(2)
let format: LogFormat = process.env.MTGATE_LOG_FORMAT?.trim() === 'pretty' ? 'pretty' : 'json'

/** pino's stream: its JSON lines as they are, or each as one readable line (format pretty). */
const sink = {
  write(line: string): void {
    stderr.write(format === 'pretty' ? prettyLine(line) : line)
  },
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }
/** Fields a pretty line shows in its head, not as key=value. */
const HEAD = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg'])

/** `HH:MM:SS.mmm LEVEL name: msg key=value ...` for one pino JSON line (a line that is not JSON is kept). */
export function prettyLine(line: string): string {
  let o: Record<string, unknown>
  try {
    o = JSON.parse(line) as Record<string, unknown>
  } catch {
    return line
  }
  const time = typeof o.time === 'number' ? new Date(o.time).toISOString().slice(11, 23) : '--:--:--.---'
  const level = (LEVEL_NAMES[o.level as number] ?? String(o.level)).padEnd(5)
  const rest = Object.entries(o)
    .filter(([k]) => !HEAD.has(k))
    .map(([k, v]) => {
      if (k === 'err' && v !== null && typeof v === 'object' && typeof (v as { stack?: unknown }).stack === 'string') {
        return `\n    ${(v as { stack: string }).stack.replace(/\n/g, '\n    ')}`
      }
      return ` ${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`
    })
    .join('')
  return `${time} ${level} ${typeof o.name === 'string' ? o.name + ': ' : ''}${String(o.msg ?? '')}${rest}\n`
}

/**
 * The process logger. Level from MTGATE_LOG_LEVEL (default info; tests default to silent unless
 * the variable is set), format from MTGATE_LOG_FORMAT (json or pretty); configureLogging sets
 * both from the config. Logs go to stderr so stdout stays free for bench JSON lines.
 */
export function createLogger(name = 'mtgate'): Logger {
  const level = process.env.MTGATE_LOG_LEVEL ?? (process.env.NODE_TEST_CONTEXT ? 'silent' : 'info')
  return pino({ name, level }, sink)
}

export const rootLogger: Logger = createLogger()

/** The config's `log` section: applies to rootLogger and the loggers made from it afterwards. */
export function configureLogging(settings: { level?: string; format: LogFormat }): void {
  if (settings.level !== undefined) rootLogger.level = settings.level
  format = settings.format
}
