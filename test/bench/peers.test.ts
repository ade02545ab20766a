/**
 * bench/peers.ts and its peers: the tgtest Go program (bench/peers/tgtest) vets and builds offline
 * (GOPROXY=off: its modules come from .ci/deps/bench-peers.sh) into the cache directory, once; the
 * peer reports a missing `go`; gctrace lines give stop-the-world pauses; and the bench with tiny
 * settings prints one well-formed JSON line per figure, mtgate against tgtest.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { factorPq, PqPool } from '../../src/handshake/pq.js'
import { factorPq64 } from '../../bench/peers/pq64.js'
import { buildTgtest, gcPauseMs, goEnv, TGTEST_SRC, tgtest } from '../../bench/peers/tgtest.js'
import type { ProfileSummary } from '../../bench/profile.js'

const RUN_JS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'run.js')

function exec(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout: number }): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { ...opts, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\nstdout:\n${stdout}\nstderr:\n${stderr}`)) : resolve({ stdout, stderr }),
    ),
  )
}

describe('bench peers', () => {
  let cache: string
  const saved = { XDG_CACHE_HOME: process.env.XDG_CACHE_HOME, GOPROXY: process.env.GOPROXY, GOCACHE: process.env.GOCACHE }
  before(async () => {
    // Go's build cache stays where it is (it defaults to $XDG_CACHE_HOME/go-build): the one .ci/deps warmed
    process.env.GOCACHE = (await exec('go', ['env', 'GOCACHE'], { timeout: 60_000 })).stdout.trim()
    cache = mkdtempSync(join(tmpdir(), 'mtgate-bench-peers-cache-'))
    process.env.XDG_CACHE_HOME = cache
    process.env.GOPROXY = 'off'
  })
  after(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
    rmSync(cache, { recursive: true, force: true })
  })

  it('tgtest: go vet passes, go build puts the binary in the cache dir, a second call reuses it', { timeout: 600_000 }, async () => {
    await exec('go', ['vet', '.'], { cwd: TGTEST_SRC, env: goEnv(), timeout: 600_000 })
    const bin = await buildTgtest()
    assert.ok(bin.startsWith(join(cache, 'mtgate-bench', 'tgtest') + '/'), bin)
    const built = statSync(bin)
    assert.ok(built.isFile() && (built.mode & 0o111) !== 0, 'an executable')
    assert.equal(await buildTgtest(), bin)
    assert.equal(statSync(bin).mtimeMs, built.mtimeMs, 'not built again')
  })

  it('tgtest: missing() is undefined with go on PATH, "go not found" without', async () => {
    assert.equal(await tgtest.missing(), undefined)
    const path = process.env.PATH
    process.env.PATH = mkdtempSync(join(tmpdir(), 'mtgate-empty-path-'))
    try {
      assert.equal(await tgtest.missing(), 'go not found')
    } finally {
      rmSync(process.env.PATH, { recursive: true, force: true })
      process.env.PATH = path
    }
  })

  it('factorPq64 splits what factorPq splits: tgtest\'s fixed pq, pool pqs, and the fallbacks', async () => {
    const pool = new PqPool(40, 0)
    await pool.fill()
    const pqs = [0x17ed48941a08f981n, 2n * 1000003n, 1000003n * 1000033n, 4294967291n * 4294967279n]
    for (let i = 0; i < 40; i++) pqs.push(pool.take().pq)
    pool.close()
    for (const pq of pqs) {
      const { p, q } = factorPq64(pq)
      assert.deepEqual({ p, q }, factorPq(pq), `pq ${pq}`)
      assert.ok(p > 1n && p < q && p * q === pq)
    }
  })

  it('gctrace: stop-the-world time is sweep termination + mark termination (wall clock)', () => {
    assert.equal(gcPauseMs('gc 12 @3.456s 4%: 0.031+2.5+0.12 ms clock, 0.063+0.4/1.1/0+0.25 ms cpu, 4->4->1 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 2 P'), 0.031 + 0.12)
    assert.equal(gcPauseMs('gc 1 @0.010s 1%: 12+0.5+3 ms clock, 24+0/0/0+6 ms cpu, 3->3->0 MB, 4 MB goal, 2 P (forced)'), 15)
    assert.equal(gcPauseMs('scvg: 0 MB released'), undefined)
    assert.equal(gcPauseMs('tgtest: listening on 127.0.0.1:1'), undefined)
  })

  it('npm run bench -- peers, tiny settings: one JSON line per figure, mtgate against tgtest, with mtgate\'s profiles', { timeout: 300_000 }, async () => {
    const profiles = mkdtempSync(join(tmpdir(), 'mtgate-bench-profiles-'))
    after(() => rmSync(profiles, { recursive: true, force: true }))
    const env: NodeJS.ProcessEnv = {
      MTGATE_BENCH_PROFILE: profiles,
      ...process.env,
      PEERS_SECONDS: '1',
      PEERS_CONNS: '200',
      PEERS_SESSIONS: '10,40',
      PEERS_KEYS: '8',
      PEERS_HS_CONCURRENCY: '4',
      PEERS_COMMON_RATE: '500',
      // tgtest alone: Teamgram runs only where its source is at hand (MTGATE_TEAMGRAM_SRC or the cache)
      PEERS_ONLY: 'tgtest',
    }
    delete env.NODE_TEST_CONTEXT
    const { stdout, stderr } = await exec(process.execPath, [RUN_JS, 'peers'], { env, timeout: 280_000 })
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    assert.deepEqual(
      lines.map((l) => [l.bench, l.sessions]),
      [
        ['peers.handshake.rate', undefined],
        ['peers.rpc.roundtrips', 10],
        ['peers.rpc.roundtrips', 40],
        ['peers.memory', undefined],
      ],
      stderr,
    )
    for (const l of lines) {
      assert.equal(l.baseline, 'tgtest')
      for (const k of ['value', 'baseline_value', 'ratio', 'load_start']) assert.ok(typeof l[k] === 'number' && Number.isFinite(l[k]), `${l.bench} ${k}: ${l[k]}`)
      assert.equal(l.quiet, (l.load_start as number) <= 1.5 && (l.steal as number) <= 0.05)
      assert.equal(l.seconds, 1)
    }
    const [hs, rpc10, , mem] = lines as [Record<string, number>, Record<string, number>, Record<string, number>, Record<string, number>]
    assert.equal(hs.unit as unknown, 'handshakes/s')
    assert.ok(hs.value > 0 && hs.baseline_value > 0 && hs.failed === 0 && hs.baseline_failed === 0, JSON.stringify(hs))
    assert.ok(hs.stall_p99_ms >= 0 && hs.baseline_stall_p99_ms >= 0, JSON.stringify(hs))
    assert.ok(hs.client_cpu_busy > 0 && hs.baseline_client_cpu_busy > 0 && hs.server_capacity_per_core > 0, JSON.stringify(hs))
    // no server does an exchange in less CPU than its big-number work (the generator's own share aside)
    assert.ok(hs.handshake_crypto_floor_ms > 0.3 && hs.server_cpu_over_floor > 0.7 && hs.baseline_server_cpu_over_floor > 0.7, JSON.stringify(hs))
    assert.ok(rpc10.value > 0 && rpc10.baseline_value > 0, JSON.stringify(rpc10))
    assert.ok(rpc10.p99_ms_at_half_rate > 0 && rpc10.baseline_p99_ms_at_half_rate > 0, JSON.stringify(rpc10))
    assert.ok(rpc10.common_rate === 500 && rpc10.p99_ms_at_common_rate > 0 && rpc10.baseline_p99_ms_at_common_rate > 0, JSON.stringify(rpc10))
    assert.equal(rpc10.auth_keys, 8)
    // mtgate's CPU profiles: the handshake phase and each phase at half rate, files and summaries
    assert.deepEqual(readdirSync(profiles).sort(), ['peers-mtgate-handshakes.cpuprofile', 'peers-mtgate-rpc-10-half-rate.cpuprofile', 'peers-mtgate-rpc-40-half-rate.cpuprofile'])
    for (const [l, layer] of [[hs, 'mtgate src/handshake'], [rpc10, 'mtgate src/session']] as const) {
      const profile = (l as unknown as { profile: ProfileSummary }).profile
      assert.equal(l.profiled as unknown, true)
      assert.ok(profile.ms > 500 && (profile.areas[layer] ?? 0) > 0, JSON.stringify(profile))
      assert.ok(Object.keys(profile.top).length > 0)
    }
    assert.equal(mem.profile, undefined, 'the memory phase is not profiled')
    assert.equal(mem.conns, 200)
    assert.ok(mem.rss_after_mb > 0 && mem.baseline_rss_after_mb > 0, JSON.stringify(mem))
    assert.equal(typeof mem.js_heap_per_conn, 'number')
  })
})
