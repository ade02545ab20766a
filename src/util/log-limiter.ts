import { systemClock, type Clock } from './clock.js'
import type { Logger } from './log.js'

type Level = 'debug' | 'info' | 'warn' | 'error'

interface Window {
  until: number
  suppressed: number
  level: Level
  obj: object
  msg: string
  timer: NodeJS.Timeout | undefined
}

/** Default interval of a LogLimiter. */
export const LOG_INTERVAL_MS = 10_000

/**
 * Rate-limited logging for events a client can trigger: per reason, the first line of an interval
 * is written at once and the rest are counted; when the interval ends with a count, one line with
 * `suppressed: n` (and the last event's fields) is written. Reasons are short strings from a fixed
 * set; a line carries its reason as `reason` unless its fields name one.
 */
export class LogLimiter {
  private readonly windows = new Map<string, Window>()

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = LOG_INTERVAL_MS,
    private readonly clock: Clock = systemClock,
  ) {}

  debug(reason: string, obj: object, msg: string): void {
    this.emit('debug', reason, obj, msg)
  }

  info(reason: string, obj: object, msg: string): void {
    this.emit('info', reason, obj, msg)
  }

  warn(reason: string, obj: object, msg: string): void {
    this.emit('warn', reason, obj, msg)
  }

  error(reason: string, obj: object, msg: string): void {
    this.emit('error', reason, obj, msg)
  }

  private emit(level: Level, reason: string, obj: object, msg: string): void {
    if (!this.log.isLevelEnabled(level)) return
    const now = this.clock.now()
    const w = this.windows.get(reason)
    if (w !== undefined && now < w.until) {
      w.suppressed++
      w.level = level
      w.obj = obj
      w.msg = msg
      if (w.timer === undefined) {
        w.timer = setTimeout(flushWindow, w.until - now, this, reason)
        w.timer.unref()
      }
      return
    }
    this.log[level]({ reason, ...obj }, msg)
    this.windows.set(reason, { until: now + this.intervalMs, suppressed: 0, level, obj, msg, timer: undefined })
  }

  /** @internal The interval of `reason` ended with suppressed lines: one line says how many. */
  flush(reason: string): void {
    const w = this.windows.get(reason)
    if (w === undefined) return
    w.timer = undefined
    if (w.suppressed === 0) return
    this.log[w.level]({ reason, ...w.obj, suppressed: w.suppressed }, w.msg)
    w.suppressed = 0
    w.until = this.clock.now() + this.intervalMs
  }
}

function flushWindow(l: LogLimiter, reason: string): void {
  l.flush(reason)
}
