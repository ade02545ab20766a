import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { areaOf, profileFields, profiled, startProfile, summarize, type CpuProfile } from '../../bench/profile.js'

test('areaOf: idle and GC, native code, dependencies, mtgate by layer, Node by module', () => {
  const f = (functionName: string, url: string) => ({ functionName, url, lineNumber: 0 })
  assert.equal(areaOf(f('(idle)', '')), '(idle)')
  assert.equal(areaOf(f('(garbage collector)', '')), '(garbage collector)')
  assert.equal(areaOf(f('writeBuffer', '')), 'native')
  assert.equal(areaOf(f('x', 'file:///w/main/node_modules/@grpc/grpc-js/build/src/call.js')), '@grpc/grpc-js')
  assert.equal(areaOf(f('x', 'file:///w/main/node_modules/pino/lib/tools.js')), 'pino')
  assert.equal(areaOf(f('x', 'file:///w/main/dist/src/session/calls.js')), 'mtgate src/session')
  assert.equal(areaOf(f('x', 'file:///w/main/dist/bench/ping-load.js')), 'bench')
  assert.equal(areaOf(f('x', 'node:internal/streams/writable')), 'node:streams')
  assert.equal(areaOf(f('x', 'node:net')), 'node:net')
})

test('summarize: shares of sampled time by area and by function, a sample lasting until the next', () => {
  const p: CpuProfile = {
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 } },
      { id: 2, callFrame: { functionName: 'seal', url: 'file:///a/dist/src/crypto/message.js', lineNumber: 9 } },
      { id: 3, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
    ],
    samples: [2, 2, 3, 2],
    timeDeltas: [0, 100, 100, 200],
    startTime: 0,
    endTime: 2_000,
  }
  const s = summarize(p)
  assert.equal(s.ms, 2)
  // sample i lasts timeDeltas[i+1]; the last one its own delta: 100 + 100 + 200 (idle) + 200
  assert.deepEqual(s.areas, { 'mtgate src/crypto': 0.667, '(idle)': 0.333 })
  assert.deepEqual(s.top, { 'seal (src/crypto/message.js:10)': 0.667, '(idle)': 0.333 })
})

function spin(ms: number): number {
  let x = 0
  const end = Date.now() + ms
  while (Date.now() < end) x += Math.sqrt(x + 1)
  return x
}

test('startProfile profiles this process; stop writes the .cpuprofile and names the busy function', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtgate-profile-'))
  try {
    const p = await startProfile(200)
    spin(300)
    const file = join(dir, 'spin.cpuprofile')
    const s = await p.stop(file)
    assert.equal(s.file, file)
    assert.ok(JSON.parse(readFileSync(file, 'utf8')).nodes.length > 0)
    const spinShare = Object.entries(s.top).find(([k]) => k.startsWith('spin ('))?.[1] ?? 0
    assert.ok(spinShare > 0.5, `spin has most of the time: ${JSON.stringify(s.top)}`)
    assert.ok((s.areas.test ?? 0) > 0.5, JSON.stringify(s.areas))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('profileFields: the summaries taken, with profiled: true; nothing when none was; profiled() without a name runs unprofiled', async () => {
  const p = summarize({ nodes: [], startTime: 0, endTime: 0 })
  assert.deepEqual(profileFields({ profile: undefined, baseline_profile: undefined }), {})
  assert.deepEqual(profileFields({ profile: p, baseline_profile: undefined }), { profiled: true, profile: p })
  assert.deepEqual(await profiled(undefined, async () => 7), { value: 7 })
})
