/**
 * Preloaded into the `mtgate serve` process that bench/peers/mtgate.ts starts (node --import, with
 * --expose-gc): answers the bench over the IPC channel with the event-loop delay p99 since the
 * previous question, and with the JS heap in use after a full garbage collection. Nothing else in
 * the server changes.
 */
import { watchStalls } from '../ping-load.js'

export type ProbeAsk = { probe: 'stalls' } | { probe: 'heap' }
export type ProbeAnswer = { probe: 'stalls'; p99Ms: number; gcPauseMax: number } | { probe: 'heap'; bytes: number }

const gc = (globalThis as { gc?: () => void }).gc

if (process.send !== undefined) {
  let stop = watchStalls()
  // the channel must not keep the server alive once it has stopped (SIGTERM drains, then exits)
  process.channel?.unref()
  process.on('message', (m: ProbeAsk) => {
    if (m.probe === 'stalls') {
      const s = stop()
      stop = watchStalls()
      process.send!({ probe: 'stalls', p99Ms: s.loopDelayP99, gcPauseMax: s.gcPauseMax } satisfies ProbeAnswer)
    } else if (m.probe === 'heap') {
      if (gc === undefined) throw new Error('mtgate-probe: run with --expose-gc')
      // twice, a turn apart: what the first collection freed (weak refs, finalizers) goes in the second
      gc()
      setImmediate(() => {
        gc()
        process.send!({ probe: 'heap', bytes: process.memoryUsage().heapUsed } satisfies ProbeAnswer)
      })
    }
  })
}
