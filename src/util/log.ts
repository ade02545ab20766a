import { pino, destination, type Logger } from 'pino'

export type { Logger }

/**
 * The process logger. Level from MTGATE_LOG_LEVEL (default info; tests default to silent unless
 * the variable is set). Logs go to stderr so stdout stays free for bench JSON lines.
 */
export function createLogger(name = 'mtgate'): Logger {
  const level = process.env.MTGATE_LOG_LEVEL ?? (process.env.NODE_TEST_CONTEXT ? 'silent' : 'info')
  return pino({ name, level }, destination(2))
}

export const rootLogger: Logger = createLogger()
