/**
 * Per-source connection limits: max_connections_per_ip / max_connections_per_prefix refuse extra
 * connections while other /24s connect fine; new_connections_per_second_per_ip refuses a burst of
 * 1,000 connections, and the log of those refusals is rate-limited (a `suppressed` count).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { goodClient, keyWorks, latencyBound, measurePings, sleep, startAttack, withServer, withTimeout, GOOD_ADDRESS } from './harness.js'
import { rawConnect } from './attacks.js'

const OPEN = {
  header_timeout_ms: 30_000,
  first_packet_timeout_ms: 30_000,
  new_connections_burst_per_ip: 1000,
  new_connections_per_second_per_ip: 1000,
  new_connections_burst_per_prefix: 1000,
  new_connections_per_second_per_prefix: 1000,
}

test('caps: per-IP and per-/24 caps refuse extra connections; other /24s connect fine', { timeout: 60_000 }, (t) =>
  withServer(t, { limits: { ...OPEN, max_connections_per_ip: 20, max_connections_per_prefix: 50 } }, async (srv, good, say) => {
    const idle = await measurePings(good.client, 100, { intervalMs: 10 })
    say(`idle: ping p50 ${idle.p50} ms p99 ${idle.p99} ms`)
    // 3 × 30 connections from three addresses of 127.0.0.0/24 (tag only, held)
    const addrs = ['127.0.0.31', '127.0.0.32', '127.0.0.33']
    const hs = addrs.map((a) => startAttack('idle-flood', { target: srv.target, localAddress: a, durationMs: 8000, intensity: 30, params: { reopen: false } }))
    const others: Socket[] = []
    try {
      await sleep(2500)
      // another /24: 10 connections, all kept
      for (let i = 0; i < 10; i++) {
        const s = await rawConnect(srv.target, `127.0.3.${i + 1}`)
        s.write(Buffer.from([0xef]))
        others.push(s)
      }
      const during = await measurePings(good.client, 100, { intervalMs: 20 })
      say(`during: ping p50 ${during.p50} ms p99 ${during.p99} ms`)
      const fresh = await goodClient(srv.target, '127.0.4.1')
      fresh.client.close()
      await sleep(500)
      const othersOpen = others.filter((s) => !s.destroyed && s.readyState === 'open').length
      const reports = await Promise.all(hs.map((h) => h.stop(12_000)))
      for (const [i, rep] of reports.entries()) say(`${addrs[i]}: ${JSON.stringify(rep)}`)
      assert.ok(srv.alive(), `server died: ${srv.exitInfo()}`)
      const held = reports.map((r) => r.stillOpen as number)
      for (const [i, n] of held.entries()) assert.ok(n <= 20, `${addrs[i]} holds ${n} connections > max_connections_per_ip 20`)
      const total = held.reduce((a, b) => a + b, 0)
      assert.ok(total <= 50, `127.0.0.0/24 holds ${total} connections > max_connections_per_prefix 50`)
      assert.ok(total >= 50 - 3, `127.0.0.0/24 holds only ${total} connections (expected the prefix to fill up to 50)`)
      const refused = reports.reduce((a, r) => a + (r.serverClosed as number), 0)
      assert.ok(refused >= 90 - 50 - 3, `only ${refused} of the 40 connections over the caps were refused`)
      assert.equal(othersOpen, 10, `only ${othersOpen} of 10 connections from 127.0.3.0/24 stayed open`)
      const bound = latencyBound(idle, 10, 5)
      assert.ok(during.p99 <= bound, `good client p99 ${during.p99} ms > ${bound} ms`)
      assert.ok(await keyWorks(srv.target, good.keys, GOOD_ADDRESS), 'good key no longer works')
    } finally {
      for (const h of hs) h.kill()
      for (const s of others) s.destroy()
    }
  }),
)

test('caps: a burst of 1,000 connections from one address is refused by the per-IP rate, with a rate-limited log', { timeout: 60_000 }, (t) =>
  withServer(
    t,
    { limits: { header_timeout_ms: 30_000, first_packet_timeout_ms: 30_000, new_connections_per_second_per_ip: 1, new_connections_burst_per_ip: 4 } },
    async (srv, good, say) => {
      const linesBefore = srv.stderrLines.length
      const idle = await measurePings(good.client, 100, { intervalMs: 10 })
      const h = startAttack('idle-flood', { target: srv.target, localAddress: '127.0.0.34', durationMs: 6000, intensity: 1000, params: { reopen: false } })
      let rep
      try {
        await sleep(500)
        const during = await measurePings(good.client, 100, { intervalMs: 30 })
        say(`ping p99 idle ${idle.p99} ms, during the 1,000-connection burst ${during.p99} ms`)
        rep = await h.stop(15_000)
        assert.ok(during.p99 <= latencyBound(idle, 15, 5), `good client p99 ${during.p99} ms > ${latencyBound(idle, 15, 5)} ms`)
      } finally {
        h.kill()
      }
      say(`attack report: ${JSON.stringify(rep)}`)
      const floodLines = srv.stderrLines.slice(linesBefore)
      say(`server stderr lines during the burst: ${floodLines.length}`)
      assert.ok(srv.alive(), `server died: ${srv.exitInfo()}`)
      assert.ok((rep.connections as number) >= 900, `the attacker opened only ${rep.connections} connections`)
      assert.ok((rep.stillOpen as number) <= 4 + 1 * 7 + 2, `${rep.stillOpen} connections from one address were accepted in ~6 s (burst 4, 1/s)`)
      assert.ok(floodLines.length <= 30, `the server wrote ${floodLines.length} log lines for ~1,000 refused connections (expected a rate-limited log); first: ${floodLines.slice(0, 3).join(' | ')}`)
      // the suppressed count arrives at the end of the log interval
      const ok = await (async () => {
        const end = Date.now() + 15_000
        while (Date.now() < end) {
          if (srv.logs().some((l) => typeof l.suppressed === 'number' && (l.suppressed as number) >= 100)) return true
          await sleep(250)
        }
        return false
      })()
      const sup = srv.logs().filter((l) => l.suppressed !== undefined)
      say(`log lines with suppressed: ${sup.map((l) => `${l.msg} suppressed=${l.suppressed}`).join('; ')}`)
      assert.ok(ok, 'no log line with a `suppressed` count ≥ 100 within 15 s of the burst')
      assert.ok(await withTimeout(keyWorks(srv.target, good.keys, GOOD_ADDRESS), 10_000, 'good key'), 'good key no longer works')
    },
  ),
)
