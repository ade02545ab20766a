import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateAll } from '../../src/tl/gen/cli.js'
import { HEADER, hexId } from '../../src/tl/gen/generate.js'
import { API_ID } from '../../src/tl/index.js'
import { ROOT } from './helpers.js'

test('committed src/tl/generated/ matches what the generator produces from schema/', () => {
  const files = generateAll(ROOT)
  assert.deepEqual(Object.keys(files).sort(), ['ids.ts', 'layers.ts', 'schema.ts'])
  for (const [name, text] of Object.entries(files)) {
    const committed = readFileSync(join(ROOT, 'src', 'tl', 'generated', name), 'utf8')
    assert.ok(committed.startsWith(HEADER), `${name} has the do-not-edit header`)
    assert.ok(committed === text, `${name} is stale: run node dist/src/tl/gen/cli.js`)
  }
})

test('generated decoders are straight-line: no descriptor tables consulted at run time', () => {
  const schema = readFileSync(join(ROOT, 'src', 'tl', 'generated', 'schema.ts'), 'utf8')
  const id = hexId(API_ID.message)
  const m = new RegExp(`function d_${id}\\(r: TlReader\\): C_message \\{([\\s\\S]*?)\\n\\}`).exec(schema)
  assert.ok(m, `decoder of message#${id} exists`)
  assert.match(m[1]!, /const f_flags = r\.int\(\)/)
  assert.match(m[1]!, /const f_flags2 = r\.int\(\)/)
  assert.doesNotMatch(m[1]!, /for \(|args|descriptor/)
})
