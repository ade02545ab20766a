/**
 * handshake-flood: req_pq_multi / req_DH_params floods from one address (handshakes token bucket
 * per /24 → -429), and the NAT case: a good client behind the attacker's address still completes
 * its handshakes while the attacker holds 64 half-done exchanges (no cap on exchanges in flight).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { assertCommon, keyWorks, runScenario, startAttack, withServer, withTimeout, GOOD_ADDRESS } from './harness.js'
import { handshake, type HandshakeOutcome } from './attacks.js'

const LIMITS = {
  read_buffer_total_bytes: 64 * 1024 * 1024,
  first_packet_timeout_ms: 2000,
  frame_timeout_ms: 2000,
  handshakes_per_second_per_prefix: 16,
  handshakes_burst_per_prefix: 128,
}

test('handshake-flood: a flood from one /24 gets -429; other /24s keep handshaking and pinging', { timeout: 60_000 }, (t) =>
  withServer(t, { limits: LIMITS }, async (srv, good, say) => {
    // handshakes made by the good client (another /24) while the flood runs
    const during: HandshakeOutcome[] = []
    const errors: string[] = []
    let stopHs = false
    const hsLoop = (async () => {
      await new Promise((r) => setTimeout(r, 1500))
      while (!stopHs && during.length + errors.length < 5) {
        try {
          during.push(await withTimeout(handshake(srv.target, '127.0.1.2'), 15_000, 'handshake during the flood'))
        } catch (e) {
          errors.push((e as Error).message)
        }
      }
    })()
    const r = await runScenario(
      srv,
      good,
      { attack: 'handshake-flood', localAddress: '127.0.0.18', intensity: 8, params: { mode: 'flood' }, warmupMs: 1500, durationMs: 30_000, pings: 150, attackMs: 6000, say },
      (idle) => idle + 100,
    )
    stopHs = true
    await withTimeout(hsLoop, 20_000, 'good handshakes')
    say(`good handshakes from 127.0.1.2 during the flood: ${during.length} ok, errors: ${JSON.stringify(errors)}`)
    assert.ok(r.aliveAfter, `server died: ${srv.exitInfo()}`)
    const rep = r.report
    assert.ok((rep.rejected429 as number) > 0, `the flood was never answered -429 (${rep.resPq} resPQ, ${rep.dhParamsOk} server_DH_params_ok, ${rep.sent} requests)`)
    const allowed = LIMITS.handshakes_burst_per_prefix + LIMITS.handshakes_per_second_per_prefix * Math.ceil(r.attackElapsedMs / 1000 + 1)
    assert.ok((rep.resPq as number) <= allowed, `the flood got ${rep.resPq} resPQ: more than the bucket allows in ${r.attackElapsedMs} ms (${allowed})`)
    assert.deepEqual(errors, [], 'handshakes from another /24 failed during the flood')
    assert.ok(during.length >= 1, 'no handshake from another /24 completed during the flood')
    assertCommon(assert, srv, r, 20)
    for (const [i, k] of during.entries()) assert.ok(await keyWorks(srv.target, k, '127.0.1.2'), `key ${i} made during the flood (dh_gen_ok) does not work after`)
  }),
)

test('handshake NAT: a good client behind the attacker address completes 3 of 3 handshakes while 64 exchanges are held half-done', { timeout: 60_000 }, (t) =>
  withServer(t, { limits: LIMITS }, async (srv, good, say) => {
    const NAT = '127.0.0.19'
    const h = startAttack('handshake-flood', { target: srv.target, localAddress: NAT, durationMs: 30_000, params: { mode: 'hold', hold: 64 } })
    try {
      const p = await withTimeout(h.firstProgress, 25_000, 'attacker holding 64 half-done exchanges')
      say(`attacker progress: ${JSON.stringify(p)}`)
      assert.equal(p.holding, 64, `the attacker could only start ${p.holding} of 64 exchanges`)
      const keys: HandshakeOutcome[] = []
      const failures: string[] = []
      for (let i = 0; i < 3; i++) {
        const t0 = Date.now()
        try {
          keys.push(await withTimeout(handshake(srv.target, NAT), 15_000, `NAT handshake ${i + 1}`))
          say(`NAT handshake ${i + 1}: ok in ${Date.now() - t0} ms`)
        } catch (e) {
          failures.push((e as Error).message)
          say(`NAT handshake ${i + 1}: ${(e as Error).message}`)
        }
      }
      const rep = await h.stop(10_000)
      say(`attacker report: ${JSON.stringify(rep)}`)
      assert.ok(srv.alive(), `server died: ${srv.exitInfo()}`)
      assert.equal(keys.length, 3, `good client behind the NAT completed ${keys.length} of 3 handshakes: ${failures.join('; ')}`)
      for (const [i, k] of keys.entries()) assert.ok(await keyWorks(srv.target, k, NAT), `NAT key ${i + 1} does not work`)
      assert.ok(await keyWorks(srv.target, good.keys, GOOD_ADDRESS), 'the good client key made before the attack no longer works')
    } finally {
      h.kill()
    }
  }),
)
