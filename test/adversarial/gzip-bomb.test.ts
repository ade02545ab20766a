/**
 * gzip-bomb: containers of ~120 gzip_packed bombs (16 MiB each inflated) per ~2 MB packet, from
 * 127.0.0.11 after a real handshake. The server must close the connection (max_inflated_bytes),
 * keep the good client's latency bounded, return its memory and keep every key.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { assertCommon, runScenario, withServer } from './harness.js'

test('gzip-bomb: bomb connections are closed, latency and memory stay bounded', { timeout: 60_000 }, (t) =>
  // first_packet_timeout_ms well above the expected close, so a close by that timeout is not taken for the inflation limit
  withServer(t, { limits: { read_buffer_total_bytes: 64 * 1024 * 1024, first_packet_timeout_ms: 10_000, frame_timeout_ms: 2000 } }, async (srv, good, say) => {
    const r = await runScenario(srv, good, { attack: 'gzip-bomb', localAddress: '127.0.0.11', intensity: 2, warmupMs: 1500, durationMs: 25_000, say }, (idle) => idle + 100)
    assert.ok(r.aliveAfter, `server died: ${srv.exitInfo()}`)
    const rep = r.report
    assert.ok((rep.handshakes as number) >= 1, `the attacker never completed a handshake: ${JSON.stringify(rep)}`)
    assert.ok((rep.serverClosed as number) >= 1, `no bomb connection was closed by the server (sent ${rep.sent} packets, ${rep.bytes} bytes)`)
    assert.ok(
      (rep.closedAfterMsMax as number) <= 1500,
      `a bomb connection stayed open ${rep.closedAfterMsMax} ms after it started sending (expected a close at the first over-limit packet, max_inflated_bytes = max_frame_bytes)`,
    )
    assertCommon(assert, srv, r, 20)
  }),
)
