/**
 * Frame-level attacks on the transport: half-finished 2 MB frames held open, 1 MB frames fed at
 * 1 byte/s, frames announcing more than max_frame_bytes, random bytes. Deadlines from
 * frame_timeout_ms (2 s) + size / min_frame_bytes_per_second (1 MiB/s) and the global
 * read_buffer_total_bytes (64 MiB).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { assertCommon, runScenario, withServer } from './harness.js'

const MiB = 1024 * 1024
const LIMITS = {
  read_buffer_total_bytes: 64 * MiB,
  // above the frame deadlines below, so that what closes a slow or held frame is its deadline
  first_packet_timeout_ms: 10_000,
  frame_timeout_ms: 2000,
  min_frame_bytes_per_second: MiB,
}
/** frame deadline for `bytes` under LIMITS, ms */
const deadline = (bytes: number): number => LIMITS.frame_timeout_ms + (bytes / LIMITS.min_frame_bytes_per_second) * 1000

test('half-frames: 40 held 2 MB − 1 frames are closed by the frame deadline / read budget', { timeout: 60_000 }, (t) =>
  withServer(t, { limits: LIMITS }, async (srv, good, say) => {
    const r = await runScenario(
      srv,
      good,
      { attack: 'half-frames', localAddress: '127.0.0.12', intensity: 40, params: { frameBytes: 2 * MiB, reopen: true }, warmupMs: 1000, durationMs: 20_000, pings: 120, attackMs: 7000, say },
      (idle) => idle + 100,
    )
    assert.ok(r.aliveAfter, `server died: ${srv.exitInfo()}`)
    const rep = r.report
    const limit = deadline(2 * MiB) + 2500
    // closed connections are reopened: every one of the first 40 must have been closed by the end
    assert.ok((rep.serverClosed as number) >= 40, `only ${rep.serverClosed} half-frame connections were closed by the server in ${r.attackElapsedMs} ms (40 held, reopened when closed; the longest-lived closed one lived ${rep.closedAfterMsMax} ms, frame deadline ${deadline(2 * MiB)} ms)`)
    assert.ok((rep.closedAfterMsMax as number) <= limit, `a half-frame connection was held ${rep.closedAfterMsMax} ms (deadline ${deadline(2 * MiB)} ms + 2500 slack)`)
    assert.ok(r.peakRssMb <= r.idleRssMb + 64 + 150, `peak RSS ${r.peakRssMb.toFixed(1)} MiB: more than read_buffer_total_bytes (64 MiB) + 150 MiB above idle ${r.idleRssMb.toFixed(1)}`)
    assertCommon(assert, srv, r, 15)
  }),
)

test('slow-frame: 1 MB frames fed at 1 byte/s are closed by the frame deadline', { timeout: 60_000 }, (t) =>
  withServer(t, { limits: LIMITS }, async (srv, good, say) => {
    const r = await runScenario(
      srv,
      good,
      { attack: 'slow-frame', localAddress: '127.0.0.13', intensity: 20, params: { frameBytes: MiB, reopen: true }, warmupMs: 500, durationMs: 20_000, pings: 120, attackMs: 6000, say },
      (idle) => idle + 100,
    )
    assert.ok(r.aliveAfter, `server died: ${srv.exitInfo()}`)
    const rep = r.report
    const limit = deadline(MiB) + 2500
    assert.ok((rep.serverClosed as number) >= 20, `only ${rep.serverClosed} slow-frame connections were closed by the server in ${r.attackElapsedMs} ms (20 held, reopened when closed)`)
    assert.ok((rep.closedAfterMsMax as number) <= limit, `a slow-frame connection lived ${rep.closedAfterMsMax} ms (deadline ${deadline(MiB)} ms + 2500 slack)`)
    // not before frame_timeout_ms (a slow frame may be cut before its full deadline once it cannot make the rate)
    assert.ok((rep.closedAfterMsMin as number) >= LIMITS.frame_timeout_ms - 500, `a slow-frame connection was closed after only ${rep.closedAfterMsMin} ms (frame_timeout_ms ${LIMITS.frame_timeout_ms})`)
    assertCommon(assert, srv, r, 15)
  }),
)

test('oversized-frames: frames announcing more than max_frame_bytes are refused at once', { timeout: 60_000 }, (t) =>
  withServer(t, { limits: LIMITS }, async (srv, good, say) => {
    const r = await runScenario(
      srv,
      good,
      { attack: 'oversized-frames', localAddress: '127.0.0.14', intensity: 4, params: { maxFrameBytes: 2 * MiB }, warmupMs: 500, durationMs: 20_000, pings: 120, attackMs: 4000, say },
      (idle) => idle + 100,
    )
    assert.ok(r.aliveAfter, `server died: ${srv.exitInfo()}`)
    const rep = r.report
    assert.ok((rep.serverClosed as number) >= 4, `only ${rep.serverClosed} oversized-frame connections were closed by the server`)
    assert.ok((rep.closedAfterMsMax as number) <= 1000, `an oversized-frame connection stayed open ${rep.closedAfterMsMax} ms`)
    assertCommon(assert, srv, r, 15)
  }),
)

test('random-bytes: garbage connections are closed and do not slow the good client', { timeout: 60_000 }, (t) =>
  withServer(t, { limits: LIMITS }, async (srv, good, say) => {
    const r = await runScenario(
      srv,
      good,
      { attack: 'random-bytes', localAddress: '127.0.0.15', intensity: 8, warmupMs: 500, durationMs: 20_000, pings: 120, attackMs: 4000, say },
      (idle) => idle + 100,
    )
    assert.ok(r.aliveAfter, `server died: ${srv.exitInfo()}`)
    const rep = r.report
    assert.ok((rep.serverClosed as number) >= 8, `only ${rep.serverClosed} random-bytes connections were closed by the server`)
    assert.ok((rep.closedAfterMsP50 as number) <= deadline(2 * MiB) + 2500, `random-bytes connections lived ${rep.closedAfterMsP50} ms (median)`)
    assertCommon(assert, srv, r, 15)
  }),
)
