/** Every YAML snippet in README.md is a valid configuration. */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { parse } from 'yaml'
import { parseConfig } from '../../src/config/index.js'

const README = join(process.cwd(), 'README.md')

test('README yaml snippets load as configuration', () => {
  const blocks = [...readFileSync(README, 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!)
  assert.ok(blocks.length >= 2)
  for (const b of blocks) {
    const raw = parse(b) as Record<string, unknown>
    assert.doesNotThrow(() => parseConfig(raw, {}), b)
  }
})
