/**
 * The attacker process (child_process.fork with serialization 'advanced'): runs one attack from
 * test/adversarial/attacks.ts so that its CPU is not the test process's.
 *
 * Messages in: { type: 'start', name, options } (options without signal/onProgress), { type: 'stop' }.
 * Messages out: { type: 'progress', info }, { type: 'report', report } or { type: 'error', message }.
 * Exits after sending the report, or when the parent goes away.
 */
import { setMaxListeners } from 'node:events'
import { ATTACKS, type AttackName, type AttackOptions } from './attacks.js'

const ac = new AbortController()
setMaxListeners(100_000, ac.signal)
const send = (m: unknown): void => {
  if (process.connected) process.send!(m)
}

process.on('message', (m: { type: string; name?: AttackName; options?: AttackOptions }) => {
  if (m.type === 'stop') {
    ac.abort()
    return
  }
  if (m.type !== 'start') return
  const run = ATTACKS[m.name!]
  if (run === undefined) {
    send({ type: 'error', message: `unknown attack ${m.name}` })
    process.exit(1)
  }
  run({ ...m.options!, signal: ac.signal, onProgress: (info) => send({ type: 'progress', info }) }).then(
    (report) => {
      send({ type: 'report', report })
      setTimeout(() => process.exit(0), 100)
    },
    (e: unknown) => {
      send({ type: 'error', message: e instanceof Error ? e.stack ?? e.message : String(e) })
      setTimeout(() => process.exit(1), 100)
    },
  )
})
process.on('disconnect', () => {
  ac.abort()
  setTimeout(() => process.exit(0), 2000).unref()
})
