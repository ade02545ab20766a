import { rootLogger, type Logger } from '../util/log.js'

/** Drains `node` on the first SIGTERM / SIGINT, then exits 0 (`mtgate gateway` / `mtgate session`). */
export function drainOnSignal(node: { stop(): Promise<void> }, log: Logger = rootLogger): void {
  const onSignal = (sig: string): void => {
    log.info({ sig }, 'signal: draining')
    void node.stop().then(() => process.exit(0))
  }
  process.once('SIGTERM', onSignal)
  process.once('SIGINT', onSignal)
}
