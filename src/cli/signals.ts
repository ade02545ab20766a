import { rootLogger, type Logger } from '../util/log.js'

export interface DrainOnSignalOptions {
  log?: Logger
  /** Prints a line for the operator ("SIGTERM: draining…", "stopped"); default: nothing printed. */
  say?: (line: string) => void
}

/**
 * Drains `node` (serve, a gateway or a session node) on the first SIGTERM / SIGINT and exits 0
 * once it has stopped (1 when stop fails); a second signal exits 130 at once, without draining.
 */
export function drainOnSignal(node: { stop(): Promise<void> }, opts: DrainOnSignalOptions = {}): void {
  const log = opts.log ?? rootLogger
  let signals = 0
  const onSignal = (sig: NodeJS.Signals): void => {
    if (++signals > 1) {
      log.warn({ sig }, 'second signal: exiting without draining')
      process.exit(130)
    }
    log.info({ sig }, 'signal: draining')
    opts.say?.(`${sig}: draining…`)
    node.stop().then(
      () => {
        opts.say?.('stopped')
        process.exit(0)
      },
      (e: unknown) => {
        log.error({ err: e }, 'stop failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}

/** Reloads `node`'s TLS certificate on SIGHUP; a failure is logged and the old certificate stays. */
export function reloadTlsOnHangup(node: { reloadTls(): void }, opts: DrainOnSignalOptions = {}): void {
  const log = opts.log ?? rootLogger
  process.on('SIGHUP', () => {
    try {
      node.reloadTls()
      opts.say?.('SIGHUP: tls certificate reloaded')
    } catch (e) {
      log.error({ err: (e as Error).message }, 'SIGHUP: tls certificate reload failed; the old certificate stays in use')
    }
  })
}
