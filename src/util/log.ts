import { pino, destination, type Logger } from 'pino'

export type { Logger }

export type LogFormat = 'json' | 'pretty'

const stderr = destination(2)
let format: LogFormat = process.env.MTGATE_LOG_FORMAT?.trim() === 'pretty' ? 'pretty' : 'json'

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }
/** Fields a pretty line shows in its head, not as key=value. */
const HEAD = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg'])

/** One warn, error or fatal log line as the admin status page shows it. */
export interface ProblemLine {
  /** ms since the epoch */
  time: number
  level: string
  msg: string
  /** The line's other fields as key=value (an error by its message), at most DETAIL_MAX characters. */
  detail: string
}

const DETAIL_MAX = 300

/**
 * The last `max` warn, error and fatal lines of the loggers writing to it (oldest first). A pino
 * stream: a line below warn costs two character reads; only the kept ones are parsed.
 */
export class RecentProblems {
  private readonly ring: ProblemLine[] = []
  private next = 0

  constructor(readonly max: number) {}

  write(line: string): void {
    // pino writes the level first, as two digits: {"level":40 is warn, 50 error, 60 fatal
    if (line.charCodeAt(9) < 52 || !line.startsWith('{"level":')) return
    let o: Record<string, unknown>
    try {
      o = JSON.parse(line) as Record<string, unknown>
    } catch {
      return
    }
    const detail = fieldsText(o, false).trim()
    const p: ProblemLine = {
      time: typeof o.time === 'number' ? o.time : Date.now(),
      level: (LEVEL_NAMES[o.level as number] ?? String(o.level)).toLowerCase(),
      msg: String(o.msg ?? ''),
      detail: detail.length > DETAIL_MAX ? detail.slice(0, DETAIL_MAX - 1) + '…' : detail,
    }
    if (this.ring.length < this.max) this.ring.push(p)
    else this.ring[this.next] = p
    this.next = (this.next + 1) % this.max
  }

  /** The lines kept, oldest first. */
  list(): ProblemLine[] {
    return this.ring.length < this.max ? [...this.ring] : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)]
  }
}

/** The process loggers' last warn/error lines (those their level lets through), for the admin status page. */
export const recentProblems = new RecentProblems(50)

/** pino's stream: its JSON lines as they are, or each as one readable line (format pretty). */
const sink = {
  write(line: string): void {
    recentProblems.write(line)
    stderr.write(format === 'pretty' ? prettyLine(line) : line)
  },
}

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
  return `${time} ${level} ${typeof o.name === 'string' ? o.name + ': ' : ''}${String(o.msg ?? '')}${fieldsText(o, true)}\n`
}

/** A log line's fields outside HEAD, each as ` key=value`; an error object as its indented stack (`stacks`) or its message. */
function fieldsText(o: Record<string, unknown>, stacks: boolean): string {
  return Object.entries(o)
    .filter(([k]) => !HEAD.has(k))
    .map(([k, v]) => {
      if (k === 'err' && v !== null && typeof v === 'object') {
        const e = v as { stack?: unknown; message?: unknown }
        if (stacks && typeof e.stack === 'string') return `\n    ${e.stack.replace(/\n/g, '\n    ')}`
        if (!stacks && typeof e.message === 'string') v = e.message
      }
      return ` ${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`
    })
    .join('')
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
