/**
 * TDLib 1.8.65 (prebuilt-tdlib, driven through tdl) against the whole server. Each case runs
 * test/e2e/tdlib/driver.js in its own loopback-only network namespace (TDLib dials Telegram's
 * public addresses; there they lead nowhere but to our SOCKS5 redirector and server).
 *
 * TDLib's defaults use the permanent key for traffic; with the option use_pfs it creates a
 * temp key and binds it (auth.bindTempAuthKey). A key whose first byte the server zeroes
 * (zeroFirstKeys) is what a leading-zero key looks like to a client that computed another key:
 * its dh_gen_ok fails new_nonce_hash1, and TDLib must run a new exchange by itself.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { lastJsonLine, runInNetns, tdjsonPath, type NetnsRun } from '../helpers/tdlib.js'
import type { DriverArgs, DriverResult, ServerKey } from './tdlib/driver.js'

const require = createRequire(import.meta.url)
const DRIVER = fileURLToPath(new URL('./tdlib/driver.js', import.meta.url))
/** Each stage (ready, each RPC); recovery from a zeroed key took 1.2–2.3 s here. */
const STAGE_MS = 15_000
const RUN_MS = 40_000

/** Throws a clear error when TDLib or tdl is not installed. */
function assertTdlibInstalled(): void {
  tdjsonPath()
  try {
    require.resolve('tdl')
  } catch {
    throw new Error('TDLib missing: the tdl package is not installed (npm install)')
  }
}

async function drive(args: Omit<DriverArgs, 'stageMs' | 'dir'>): Promise<DriverResult> {
  assertTdlibInstalled()
  const dir = mkdtempSync(join(tmpdir(), 'mtgate-tdlib-'))
  let run: NetnsRun
  try {
    run = await runInNetns(DRIVER, [JSON.stringify({ stageMs: STAGE_MS, dir, ...args })], {
      timeoutMs: RUN_MS,
      env: { MTGATE_LOG_LEVEL: process.env.MTGATE_LOG_LEVEL ?? 'info', NODE_TEST_CONTEXT: undefined },
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const r = lastJsonLine<DriverResult>(run.stdout)
  if (!r?.ok) assert.fail(`TDLib driver failed: ${r?.error ?? 'no result line'}\n${diagnostics(run, r)}`)
  return r
}

function diagnostics(run: NetnsRun, r: DriverResult | undefined): string {
  const how = run.timedOut ? `killed after ${RUN_MS} ms` : `exit ${run.code ?? run.signal}`
  return `${how}; result: ${JSON.stringify(r)}\nlog (server + TDLib), last lines:\n${run.stderr.split('\n').slice(-40).join('\n')}`
}

/** The RPCs reached our server: country XT is help.getNearestDc's answer from our config. */
function assertServed(r: DriverResult): void {
  for (const s of ['authorizationStateWaitPhoneNumber', 'connectionStateReady', 'rpc:getCountryCode', 'rpc:testNetwork']) {
    assert.ok(s in r.stages, `${s} not reached: ${JSON.stringify(r.stages)}`)
  }
  assert.equal(r.countryCode, 'XT')
  assert.equal(r.testNetwork, 'ok')
  assert.ok(r.socksRequests.length > 0, 'TDLib did not go through the SOCKS5 redirector')
  assert.ok(r.exchangesStarted >= r.keys.length)
}

/** The key TDLib works with: stored, not zeroed, and (temp) bound to a stored, unzeroed perm key. */
function workingKey(r: DriverResult, pfs: boolean): ServerKey {
  const used = r.keys.filter((k) => k.used)
  assert.equal(used.length, 1, `keys with traffic: ${JSON.stringify(r.keys)}`)
  const k = used[0]!
  assert.equal(k.zeroed, false)
  assert.equal(k.type, pfs ? 'temp' : 'perm')
  if (pfs) {
    const perm = r.keys.find((p) => p.id === k.boundTo)
    assert.ok(perm, `temp key bound to no key of this run: ${JSON.stringify(r.keys)}`)
    assert.equal(perm.type, 'perm')
    assert.equal(perm.zeroed, false)
  }
  return k
}

describe('TDLib connects through the redirector', () => {
  it('with its defaults: one exchange, traffic on the permanent key', async () => {
    const r = await drive({})
    assertServed(r)
    assert.equal(r.keys.length, 1)
    workingKey(r, false)
  })

  it('with use_pfs: a temp key bound to the permanent one carries the traffic', async () => {
    const r = await drive({ pfs: true })
    assertServed(r)
    assert.deepEqual(r.keys.map((k) => k.type), ['perm', 'temp'])
    workingKey(r, true)
  })
})

describe('TDLib recovers from a dh_gen_ok it cannot verify', () => {
  const cases: Array<{ name: string; pfs: boolean; zeroKey: number; zeroedType: string }> = [
    { name: 'permanent key, defaults', pfs: false, zeroKey: 1, zeroedType: 'perm' },
    { name: 'permanent key, use_pfs', pfs: true, zeroKey: 1, zeroedType: 'perm' },
    { name: 'temp key, use_pfs', pfs: true, zeroKey: 2, zeroedType: 'temp' },
  ]
  for (const c of cases) {
    it(`${c.name}: a new exchange by itself, then a working key`, async () => {
      const r = await drive({ pfs: c.pfs, zeroKey: c.zeroKey })
      assertServed(r)
      assert.equal(r.zeroed, 1, 'the wrapper zeroed no key')
      const bad = r.keys[c.zeroKey - 1]!
      assert.ok(bad.zeroed)
      assert.equal(bad.type, c.zeroedType)
      assert.equal(bad.used, false, 'TDLib cannot have used the key it could not verify')
      const good = workingKey(r, c.pfs)
      assert.notEqual(good.id, bad.id)
      assert.notEqual(good.boundTo, bad.id)
      const again = r.keys.filter((k) => k.type === c.zeroedType && !k.zeroed && k.atMs > bad.atMs)
      assert.ok(again.length > 0, `no new ${c.zeroedType} exchange after the zeroed one: ${JSON.stringify(r.keys)}`)
    })
  }
})
