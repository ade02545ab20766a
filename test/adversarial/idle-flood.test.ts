/**
 * idle-flood: 200 connections (kept at 200: closed ones are reopened) that send only the abridged
 * tag 0xef or only a 64-byte obfuscated2 init, then nothing: closed after first_packet_timeout_ms
 * (2 s). And a connection that sends nothing at all: closed after header_timeout_ms (2 s).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { assertCommon, runScenario, withServer, withTimeout } from './harness.js'
import { rawConnect } from './attacks.js'

const LIMITS = {
  read_buffer_total_bytes: 64 * 1024 * 1024,
  header_timeout_ms: 2000,
  first_packet_timeout_ms: 2000,
  frame_timeout_ms: 2000,
  // this test is about the timeouts: let 200 connections from one address in at once
  new_connections_burst_per_ip: 1000,
  new_connections_per_second_per_ip: 1000,
  new_connections_burst_per_prefix: 1000,
  new_connections_per_second_per_prefix: 1000,
}

test('idle-flood: tag-only and init-only connections are closed after first_packet_timeout_ms', { timeout: 60_000 }, (t) =>
  withServer(t, { limits: LIMITS }, async (srv, good, say) => {
    const r = await runScenario(
      srv,
      good,
      { attack: 'idle-flood', localAddress: '127.0.0.16', intensity: 200, params: { reopen: true }, warmupMs: 500, durationMs: 20_000, pings: 120, attackMs: 6000, say },
      (idle) => idle + 100,
    )
    assert.ok(r.aliveAfter, `server died: ${srv.exitInfo()}`)
    const rep = r.report
    assert.ok((rep.serverClosed as number) >= 200, `only ${rep.serverClosed} of 200 idle connections were closed by the server (${rep.stillOpen} open at the end)`)
    assert.ok((rep.closedAfterMsMax as number) <= LIMITS.first_packet_timeout_ms + 2000, `an idle connection lived ${rep.closedAfterMsMax} ms (first_packet_timeout_ms ${LIMITS.first_packet_timeout_ms} + 2000 slack)`)
    assert.ok((rep.closedAfterMsMin as number) >= LIMITS.first_packet_timeout_ms - 500, `an idle connection was closed after ${rep.closedAfterMsMin} ms, before first_packet_timeout_ms`)
    assertCommon(assert, srv, r, 15)

    // header timeout: a connection that never sends its transport tag
    const s = await rawConnect(srv.target, '127.0.0.17')
    const t0 = Date.now()
    const closedAfter = await withTimeout(new Promise<number>((res) => s.once('close', () => res(Date.now() - t0))), 15_000, 'silent connection closed').catch((e: Error) => {
      s.destroy()
      throw e
    })
    say(`silent connection (no transport tag) closed after ${closedAfter} ms (header_timeout_ms ${LIMITS.header_timeout_ms})`)
    assert.ok(closedAfter >= LIMITS.header_timeout_ms - 500 && closedAfter <= LIMITS.header_timeout_ms + 2000, `silent connection closed after ${closedAfter} ms, expected ~${LIMITS.header_timeout_ms}`)
  }),
)
