/**
 * Preloaded into the `mtgate serve` process that bench/peers/mtgate.ts starts (node --import, with
 * --expose-gc): answers the bench over the IPC channel with the event-loop delay p99 since the
 * previous question, with the JS heap in use after a full garbage collection, with a heap
 * snapshot written to a given file (bench/heap.ts), and with a CPU profile of the server between
 * two questions (bench/profile.ts). Nothing else in the server changes.
 */
import { writeHeapSnapshot } from 'node:v8'
import { watchStalls } from '../ping-load.js'
import { startProfile, type ProfileSummary, type Profiling } from '../profile.js'

export type ProbeAsk =
  | { probe: 'stalls' }
  | { probe: 'heap' }
  | { probe: 'snapshot'; path: string }
  | { probe: 'profile-start' }
  | { probe: 'profile-stop'; path: string }
export type ProbeAnswer =
  | { probe: 'stalls'; p99Ms: number; gcPauseMax: number }
  | { probe: 'heap'; bytes: number }
  | { probe: 'snapshot'; path: string; heapUsed: number }
  | { probe: 'profile-start' }
  | { probe: 'profile-stop'; summary: ProfileSummary }

const gc = (globalThis as { gc?: () => void }).gc

if (process.send !== undefined) {
  let stop = watchStalls()
  let profiling: Profiling | undefined
  // the channel must not keep the server alive once it has stopped (SIGTERM drains, then exits)
  process.channel?.unref()
  process.on('message', (m: ProbeAsk) => {
    if (m.probe === 'stalls') {
      const s = stop()
      stop = watchStalls()
      process.send!({ probe: 'stalls', p99Ms: s.loopDelayP99, gcPauseMax: s.gcPauseMax } satisfies ProbeAnswer)
    } else if (m.probe === 'profile-start') {
      void startProfile().then((p) => {
        profiling = p
        process.send!({ probe: 'profile-start' } satisfies ProbeAnswer)
      })
    } else if (m.probe === 'profile-stop') {
      const p = profiling
      profiling = undefined
      if (p === undefined) throw new Error('mtgate-probe: profile-stop without profile-start')
      void p.stop(m.path).then((summary) => process.send!({ probe: 'profile-stop', summary } satisfies ProbeAnswer))
    } else {
      if (gc === undefined) throw new Error('mtgate-probe: run with --expose-gc')
      // twice, a turn apart: what the first collection freed (weak refs, finalizers) goes in the second
      gc()
      setImmediate(() => {
        gc()
        const heapUsed = process.memoryUsage().heapUsed
        if (m.probe === 'heap') process.send!({ probe: 'heap', bytes: heapUsed } satisfies ProbeAnswer)
        else process.send!({ probe: 'snapshot', path: writeHeapSnapshot(m.path), heapUsed } satisfies ProbeAnswer)
      })
    }
  })
}
