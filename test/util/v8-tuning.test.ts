import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { V8_FLAGS } from '../../src/util/v8-tuning.js'

const TUNING = pathToFileURL(fileURLToPath(new URL('../../src/util/v8-tuning.js', import.meta.url))).href

/**
 * Runs a workload whose objects (one allocation site) survive young-generation collections in a
 * fresh node with V8's pretenuring trace; returns how many allocation sites V8 decided to tenure.
 */
function tenuredSites(tuned: boolean, nodeArgs: string[] = []): number {
  const script = `${tuned ? `(await import(${JSON.stringify(TUNING)})).tuneV8()\n` : ''}
function make(i) { return { a: i, b: i + 1 } }
const keep = []
for (let i = 0; i < 1000000; i++) keep.push(make(i))
`
  const out = execFileSync(process.execPath, [...nodeArgs, '--trace-pretenuring-statistics', '--input-type=module', '-e', script], { encoding: 'utf8' })
  return out.split('\n').filter((l) => l.includes('=> tenure')).length
}

test('tuneV8: V8 no longer moves allocation sites to the old generation (as it does by default)', () => {
  assert.ok(tenuredSites(false) > 0, 'the workload gets a site tenured without tuneV8')
  assert.equal(tenuredSites(true), 0)
})

test('tuneV8: a flag node was given itself wins over the one tuneV8 would set', () => {
  assert.ok(tenuredSites(true, ['--allocation-site-pretenuring']) > 0)
  assert.ok(tenuredSites(true, ['--allocation_site_pretenuring']) > 0)
})

test('tuneV8 returns the flags it applied: all of V8_FLAGS, or those node was not given', () => {
  const applied = (nodeArgs: string[]): string[] =>
    JSON.parse(execFileSync(process.execPath, [...nodeArgs, '--input-type=module', '-e', `const t = await import(${JSON.stringify(TUNING)}); t.tuneV8(); console.log(JSON.stringify(t.tuneV8()))`], { encoding: 'utf8' })) as string[]
  assert.deepEqual(applied([]), [...V8_FLAGS])
  assert.deepEqual(applied(['--heap-growing-percent=50']), ['--no-allocation-site-pretenuring'])
  assert.deepEqual(applied(['--allocation-site-pretenuring', '--heap_growing_percent=50']), [])
})
