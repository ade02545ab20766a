/**
 * container-flood: after a real handshake, ~2 MB containers of 1,000 msgs_ack / msgs_state_req /
 * msg_resend_req with huge msg_id vectors, and 1,000-deep nested containers, back to back.
 * The server must stay responsive, not amplify (answer bytes ≤ request bytes) and return its memory.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { assertCommon, runScenario, withServer } from './harness.js'

test('container-flood: huge service-message containers and deep nesting do not stall the server', { timeout: 60_000 }, (t) =>
  withServer(t, { limits: { read_buffer_total_bytes: 64 * 1024 * 1024, first_packet_timeout_ms: 2000, frame_timeout_ms: 2000 } }, async (srv, good, say) => {
    const r = await runScenario(
      srv,
      good,
      { attack: 'container-flood', localAddress: '127.0.0.26', intensity: 2, warmupMs: 1500, durationMs: 25_000, pings: 150, attackMs: 6000, say },
      (idle) => idle + 100,
    )
    assert.ok(r.aliveAfter, `server died: ${srv.exitInfo()}`)
    const rep = r.report
    assert.ok((rep.handshakes as number) >= 1, `the attacker never completed a handshake: ${JSON.stringify(rep)}`)
    assert.ok(rep.sent >= 4, `the attacker sent only ${rep.sent} packets`)
    assert.ok((rep.bytesBack as number) <= rep.bytes, `the server answered ${rep.bytesBack} bytes to ${rep.bytes} bytes of service messages (amplification)`)
    assertCommon(assert, srv, r, 20)
  }),
)
