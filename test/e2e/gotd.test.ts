/**
 * gotd/td (Go, github.com/gotd/td), unmodified, against the whole server: its own exchange, memory
 * session and encrypted session, on an ordinary auth key and on one whose first byte is 0 (1 key in
 * 256). On that key the server answers dh_gen_ok with new_nonce_hash1 over the full 256-byte key
 * and stores those 256 bytes, as Telegram does; gotd keeps the key as 256 bytes (big.Int.FillBytes).
 *
 * test/e2e/gotd/main.go (its own Go module) is built once per run; it sets only public options:
 * our address (dcs.List + plain resolver, intermediate transport), our RSA key, timeouts, and
 * telegram.Options.Random: crypto/rand that counts gotd's draws of its DH secret b (crypto/rand.Int
 * in exchange.ClientExchange.Run: 256 bytes, big-endian, unreduced) and, for the forced key, hands
 * out our b as the first one.
 * The Go modules come from .ci/deps/gotd.sh; the build runs offline (GOPROXY=off).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { authKeyId } from '../../src/handshake/kdf.js'
import { firstSecret, leadingZeroPair } from '../helpers/leading-zero.js'
import { startE2eServer, type E2eServer, type E2eServerOptions } from './harness.js'
import { installHandlers, type Observed } from './scenario.js'

const MODULE_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../../test/e2e/gotd')
const INSTALL = 'run `bash .ci/deps/gotd.sh` (CI runs it before npm test)'
/** A cold compile of gotd (package tg is large) takes minutes on 2 cores; .ci/deps/gotd.sh warms the cache. */
const BUILD_TIMEOUT_MS = 15 * 60_000
const PROBE_DEADLINE = '30s'
const KILL_AFTER_MS = 45_000

interface ProbeResult {
  ok: boolean
  error?: string
  stage: string
  layer: number
  config?: { this_dc: number; dc_options: string[]; expires: number; date: number }
  nearest_dc?: { country: string; this_dc: number; nearest_dc: number }
  /** gotd's session: its auth key id (signed decimal, LE int64 as on the wire) and the key. */
  auth_key_id?: string
  auth_key_id_hex?: string
  auth_key_len: number
  auth_key_hex?: string
  auth_key_id_matches: boolean
  b_injected: boolean
  /** Our b was handed out as gotd's first DH secret. */
  b_given: boolean
  /** How many DH secrets gotd drew (one per exchange). */
  dh_draws: number
  /** gotd's OnConnectionState ("connecting", "ready", "disconnected"). */
  states: string[]
  /** gotd's OnDead errors. */
  dead_errors: string[]
  elapsed_ms: number
}

/** GOFLAGS without -mod=… (the build must use go.sum as committed), plus -buildvcs=false. */
function goEnv(): NodeJS.ProcessEnv {
  const flags = (process.env.GOFLAGS ?? '').split(/\s+/).filter((f) => f !== '' && !f.startsWith('-mod=') && !f.startsWith('-buildvcs'))
  return { ...process.env, GOFLAGS: [...flags, '-mod=readonly', '-buildvcs=false'].join(' '), GOPROXY: 'off', GOWORK: 'off' }
}

function build(out: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('go', ['build', '-o', out, '.'], { cwd: MODULE_DIR, env: goEnv(), timeout: BUILD_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 22 }, (err, _stdout, stderr) => {
      if ((err as { code?: unknown } | null)?.code === 'ENOENT') return reject(new Error(`\`go\` not found on PATH; ${INSTALL}`))
      if (err) return reject(new Error(`go build of test/e2e/gotd failed (Go modules missing? ${INSTALL}): ${err.message}\n${stderr}`))
      resolve()
    })
  })
}

/** Runs the probe against `e` (SIGKILL after KILL_AFTER_MS); its JSON line and stderr. */
function probe(bin: string, e: E2eServer, pemPath: string, b?: Buffer): Promise<{ res: ProbeResult; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, GOTD_LOG: process.env.GOTD_LOG ?? 'info' }
  delete env.GOTD_B_HEX
  if (b !== undefined) env.GOTD_B_HEX = b.toString('hex')
  const args = ['-addr', `${e.host}:${e.tcpPort}`, '-pem', pemPath, '-timeout', PROBE_DEADLINE]
  return new Promise((resolve, reject) => {
    execFile(bin, args, { env, timeout: KILL_AFTER_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 22 }, (err, stdout, stderr) => {
      const line = stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1)
      if (line === undefined) return reject(new Error(`gotd probe printed no result (${err?.message ?? 'exit 0'})\nstdout: ${stdout}\nstderr: ${stderr}`))
      resolve({ res: JSON.parse(line) as ProbeResult, stderr })
    })
  })
}

/** Asserts the probe's run succeeded, with its full result and gotd's log in the message. */
function assertOk(r: { res: ProbeResult; stderr: string }): void {
  assert.ok(r.res.ok, `gotd failed at stage ${r.res.stage}: ${r.res.error}\nresult: ${JSON.stringify(r.res)}\ngotd log:\n${r.stderr}`)
}

const pair = leadingZeroPair()
const zeroId = authKeyId(pair.key)

describe('gotd/td (Go) gets a working auth key from our server', () => {
  let dir: string
  let bin: string
  let pemPath: string

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mtgate-gotd-'))
    bin = join(dir, 'gotd-probe')
    pemPath = join(dir, 'server.pub')
    await build(bin)
  })
  after(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  /** Starts a server with help.getNearestDc recording its callers and writes its PEM for the probe. */
  async function server(o: E2eServerOptions): Promise<{ e: E2eServer; seen: Observed }> {
    const e = await startE2eServer(o)
    writeFileSync(pemPath, e.publicPem)
    return { e, seen: installHandlers(e) }
  }

  describe('an ordinary key', () => {
    let e: E2eServer
    let seen: Observed
    let r: { res: ProbeResult; stderr: string }
    before(async () => {
      ;({ e, seen } = await server({ host: '127.0.41.1', tcpPort: 0 }))
      r = await probe(bin, e, pemPath)
    })
    after(async () => {
      await e?.close()
    })

    it('one connection: exchange, initConnection(help.getConfig), then help.getConfig and help.getNearestDc are answered', () => {
      assertOk(r)
      assert.equal(r.res.dh_draws, 1, 'one exchange (one DH secret drawn)')
      assert.ok(!r.res.b_injected && !r.res.b_given)
      assert.deepEqual(r.res.states, ['connecting', 'ready'])
      assert.deepEqual(r.res.dead_errors, [])
      assert.equal(r.res.config!.this_dc, 2)
      assert.ok(r.res.config!.expires > r.res.config!.date)
      assert.equal(r.res.nearest_dc!.this_dc, 2)
    })

    it('gotd used a 256-byte key that the store holds, and the server served the query on it', async () => {
      assertOk(r)
      assert.equal(r.res.auth_key_len, 256)
      assert.ok(r.res.auth_key_id_matches, 'gotd stored id == SHA1-derived id of its stored key')
      const key = Buffer.from(r.res.auth_key_hex!, 'hex')
      const id = authKeyId(key)
      assert.equal(r.res.auth_key_id, id.toString())
      assert.deepEqual((await e.server.store.get(id))?.key, key)
      assert.ok(seen.contexts.some((c) => c.authKeyId === id), 'help.getNearestDc was served on that key')
    })
  })

  describe('a key whose first byte is 0 (forced: server a, gotd b through Options.Random)', () => {
    let e: E2eServer
    let seen: Observed
    let r: { res: ProbeResult; stderr: string }
    before(async () => {
      ;({ e, seen } = await server({ host: '127.0.41.2', tcpPort: 0, random: firstSecret(pair.a) }))
      r = await probe(bin, e, pemPath, pair.b)
    })
    after(async () => {
      await e?.close()
    })

    it('the forced key really starts with a 0 byte', () => {
      assert.equal(pair.key.length, 256)
      assert.equal(pair.key[0], 0)
    })

    it('gotd drew b once, accepted dh_gen_ok in its first exchange and kept the 256-byte key with its 0 byte', () => {
      assertOk(r)
      assert.ok(r.res.b_injected && r.res.b_given, 'gotd took our b from Options.Random')
      assert.equal(r.res.dh_draws, 1, 'one exchange (one DH secret drawn)')
      assert.deepEqual(r.res.states, ['connecting', 'ready'])
      assert.deepEqual(r.res.dead_errors, [])
      assert.equal(r.res.auth_key_len, 256)
      assert.deepEqual(Buffer.from(r.res.auth_key_hex!, 'hex'), pair.key)
      assert.equal(r.res.auth_key_id, zeroId.toString())
      assert.ok(r.res.auth_key_id_matches, 'gotd stored id == SHA1-derived id of its stored key')
    })

    it('the server created and stored the 256-byte leading-zero key (and not its 255-byte form)', async () => {
      assert.deepEqual((await e.server.store.get(zeroId))?.key, pair.key)
      assert.equal(await e.server.store.get(authKeyId(pair.key.subarray(1))), undefined)
    })

    it("gotd's encrypted session on that key works: help.getConfig and help.getNearestDc are answered", () => {
      assertOk(r)
      assert.equal(r.res.config!.this_dc, 2)
      assert.equal(r.res.nearest_dc!.this_dc, 2)
      assert.ok(seen.contexts.some((c) => c.authKeyId === zeroId), 'help.getNearestDc was served on the leading-zero key')
    })
  })
})
