/**
 * EMFILE: the server runs with an open-file limit of 256. It must warn at start that
 * max_connections was clamped, log the refusals when more connections arrive than fit, keep
 * running and accept a good client again once the flood has gone.
 */
import { test } from 'node:test'
import { readdirSync } from 'node:fs'
import assert from 'node:assert/strict'
import { goodClient, keyWorks, sleep, startAttack, withServer, withTimeout, waitUntil, GOOD_ADDRESS } from './harness.js'

test('emfile: with ulimit -n 256 the server clamps, refuses the excess, survives and recovers', { timeout: 60_000 }, (t) =>
  withServer(
    t,
    {
      nofile: 256,
      limits: {
        header_timeout_ms: 30_000,
        first_packet_timeout_ms: 30_000,
        max_connections_per_ip: 10_000,
        max_connections_per_prefix: 10_000,
        new_connections_burst_per_ip: 10_000,
        new_connections_per_second_per_ip: 10_000,
        new_connections_burst_per_prefix: 10_000,
        new_connections_per_second_per_prefix: 10_000,
      },
    },
    async (srv, good, say) => {
      const clamp = srv.logs().filter((l) => /open-file limit|max_connections/i.test(String(l.msg)) || l.openFileLimit !== undefined)
      say(`clamp warning at start: ${clamp.map((l) => JSON.stringify(l)).join(' | ') || 'none'}`)
      const linesBefore = srv.stderrLines.length
      // 2 × 250 held connections: more than 256 descriptors
      const hs = ['127.0.0.41', '127.0.0.42'].map((a) => startAttack('idle-flood', { target: srv.target, localAddress: a, durationMs: 6000, intensity: 250, params: { reopen: false } }))
      let reports
      let maxFds = 0
      const fdTimer = setInterval(() => {
        try {
          maxFds = Math.max(maxFds, readdirSync(`/proc/${srv.pid}/fd`).length)
        } catch {
          // gone
        }
      }, 100)
      try {
        await sleep(3000)
        assert.ok(srv.alive(), `server died under the flood: ${srv.exitInfo()}`)
        reports = await Promise.all(hs.map((h) => h.stop(15_000)))
      } finally {
        clearInterval(fdTimer)
        for (const h of hs) h.kill()
      }
      say(`server open descriptors at most ${maxFds} (limit 256)`)
      for (const r of reports) say(`flood report: ${JSON.stringify(r)}`)
      // refusals may be logged a little later (rate-limited summaries)
      await waitUntil(() => srv.stderrLines.slice(linesBefore).some((l) => /limit|refus|file descriptors|EMFILE/i.test(l)), 3000)
      const after = srv.stderrLines.slice(linesBefore)
      const refusals = after.filter((l) => /limit|refus|file descriptors|EMFILE/i.test(l))
      say(`log lines during the flood: ${after.length}, refusal lines: ${refusals.length}; first: ${refusals[0] ?? 'none'}`)
      const held = reports.reduce((a, r) => a + (r.stillOpen as number), 0)
      say(`connections held at the end of the flood: ${held} of 500`)
      assert.ok(srv.alive(), `server died: ${srv.exitInfo()}`)
      assert.ok(clamp.length >= 1, 'no warning at start that max_connections was clamped to the open-file limit')
      assert.ok(held < 256, `${held} connections were held open with an open-file limit of 256`)
      assert.ok(refusals.length >= 1, `no refusal logged for ~${500 - held} connections over the limit (server descriptors peaked at ${maxFds} of 256)`)
      assert.ok(refusals.length <= 40, `${refusals.length} refusal lines: the log is not rate-limited`)
      // recovery: a new good client (handshake + pings) once the flood is gone
      const fresh = await withTimeout(goodClient(srv.target, '127.0.1.3'), 20_000, 'good client after the flood')
      await withTimeout(fresh.client.ping(), 5000, 'ping after the flood')
      fresh.client.close()
      assert.ok(await keyWorks(srv.target, good.keys, GOOD_ADDRESS), 'the good key made before the flood no longer works')
    },
  ),
)
