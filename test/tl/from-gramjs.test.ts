import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { parseSchema, type TlEntry } from '../../src/tl/parser/parse.js'
import {
  convertDefinitions,
  loadDefinitions,
  packageLayer,
  snakeCandidates,
  UnmatchedDefinitionError,
  type GramDefinition,
} from '../../src/tl/gen/from-gramjs.js'
import { ROOT } from './helpers.js'

const require = createRequire(join(ROOT, 'package.json'))
const packageDir = (name: string) => dirname(require.resolve(`${name}/package.json`))
const schema = (f: string) => parseSchema(readFileSync(join(ROOT, 'schema', f), 'utf8'))
const service = schema('mtproto.tl').entries
const comparable = (e: TlEntry) => ({ kind: e.kind, name: e.name, id: e.id, generics: e.generics, args: e.args, result: e.result })

const label = (d: GramDefinition) => `${d.namespace ? d.namespace + '.' : ''}${d.name}#${(d.constructorId >>> 0).toString(16)}`

const gramjs = packageDir('telegram')
const gramjsDefs = loadDefinitions(gramjs)

test('GramJS 2.26.22: the definitions it builds from its apiTl.js convert back to schema/history/api-198.tl', () => {
  assert.equal(packageLayer(gramjs), 198)
  const r = convertDefinitions(gramjsDefs, { layer: 198, service })
  const out = parseSchema(r.text)
  const want = schema('history/api-198.tl')
  assert.equal(out.layer, 198)
  assert.deepEqual(out.builtins, want.builtins)
  assert.equal(out.entries.length, want.entries.length)
  out.entries.forEach((e, i) => assert.deepEqual(comparable(e), comparable(want.entries[i]!), `entry ${i}: ${e.name}`))
  for (const e of out.entries) assert.equal(e.statedId, e.computedId, e.name)
  // What is dropped is exactly what GramJS parses from its service schema (tl/schemaTl.js).
  const helpers = require(join(gramjs, 'tl', 'generationHelpers.js')) as {
    parseTl: (t: string, layer: number) => Iterable<GramDefinition>
  }
  const fromService = [...helpers.parseTl(require(join(gramjs, 'tl', 'schemaTl.js')) as string, 109)]
  assert.ok(fromService.length > 40)
  assert.deepEqual(
    r.dropped.sort(),
    fromService.map(label).sort(),
  )
})

/** A copy of the GramJS definition of `name`, changed by `edit`. */
function tampered(name: string, edit: (d: GramDefinition) => void): GramDefinition[] {
  const d = structuredClone(gramjsDefs.find((x) => `${x.namespace ? x.namespace + '.' : ''}${x.name}` === name)!)
  assert.ok(d, name)
  edit(d)
  return [d]
}

test('a definition whose name, argument, type, flag or id was altered is rejected, naming it', () => {
  const cases: [string, (d: GramDefinition) => void][] = [
    ['InputPeerUser', (d) => (d.name = 'InputPeerUsr')],
    ['InputPeerUser', (d) => (d.argsConfig['userId']!.type = 'int')],
    ['InputPeerUser', (d) => (d.constructorId ^= 1)],
    ['messages.GetHistory', (d) => (d.namespace = 'channels')],
    ['messages.GetHistory', (d) => (d.result = 'messages.Messages2')],
    ['InputMediaPoll', (d) => (d.argsConfig['correctAnswers']!.type = 'string')],
    ['InputMediaPoll', (d) => (d.argsConfig['solution']!.flagIndex = 2)],
    ['InvokeWithLayer', (d) => (d.argsConfig['query']!.type = 'Y')],
    [
      'InputPeerChat',
      (d) => {
        const { chatId } = d.argsConfig
        d.argsConfig = { chatIdent: chatId! }
      },
    ],
  ]
  for (const [name, edit] of cases) {
    const defs = tampered(name, edit)
    assert.throws(
      () => convertDefinitions(defs, { layer: 1, service }),
      (e: unknown) => e instanceof UnmatchedDefinitionError && e.definition.includes(defs[0]!.name),
      name,
    )
  }
  // Unaltered, the same definitions convert.
  assert.equal(convertDefinitions(tampered('InputMediaPoll', () => {}), { layer: 1, service }).entries.length, 6)
})

test('bytes and string, which the id does not tell apart, follow the source type field', () => {
  const line = (edit: (d: GramDefinition) => void) =>
    convertDefinitions(tampered('InputMediaInvoice', edit), { layer: 1 }).entries.at(-1)!.source
  assert.match(line(() => {}), / payload:bytes /)
  assert.match(line((d) => (d.argsConfig['payload']!.type = 'string')), / payload:string /)
})

test('names are recovered from every camel-casing: digits, kept capitals, a known schema first', () => {
  assert.deepEqual(snakeCandidates('md5Checksum').slice(0, 1), ['md5_checksum'])
  assert.ok(snakeCandidates('srp_B').includes('srp_B'))
  assert.ok(snakeCandidates('M1').includes('M1'))
  assert.ok(snakeCandidates('w2').includes('w_2'))
  assert.deepEqual(snakeCandidates('gAOrB')[0], 'g_a_or_b')
  // A `?true` flag is not hashed: without a known schema it takes the plain reading, with one the known name.
  const defs = tampered('InputMediaPhoto', (d) => {
    const { spoiler, ...rest } = d.argsConfig
    d.argsConfig = { flags: rest['flags']!, spoilerX1: spoiler!, ...rest }
  })
  assert.match(convertDefinitions(defs, { layer: 1 }).entries.at(-1)!.source, / spoiler_x1:flags\.1\?true /)
  const known = parseSchema('inputMediaPhoto#b3ba0635 flags:# spoilerX1:flags.1?true id:InputPhoto ttl_seconds:flags.0?int = InputMedia;')
  assert.match(convertDefinitions(defs, { layer: 1, known: known.entries }).entries.at(-1)!.source, / spoilerX1:flags\.1\?true /)
})

test('teleproto 214.1.7 (devDependency): every definition converts with its id verified', () => {
  const dir = packageDir('teleproto')
  const layer = packageLayer(dir)
  assert.equal(layer, 214)
  const defs = loadDefinitions(dir)
  const r = convertDefinitions(defs, { layer: layer!, service })
  const out = parseSchema(r.text)
  assert.equal(out.layer, 214)
  for (const e of out.entries) assert.equal(e.statedId, e.computedId, e.name)
  const prelude = out.entries.filter((e) => ['boolFalse', 'boolTrue', 'true', 'error', 'null'].includes(e.name))
  assert.equal(prelude.length, 5)
  const dropped = new Set(r.dropped)
  const kept = defs.filter((d) => !dropped.has(label(d)))
  assert.equal(kept.length, defs.length - r.dropped.length)
  const converted = out.entries.filter((e) => !prelude.includes(e))
  assert.equal(converted.length, kept.length)
  assert.deepEqual(
    converted.map((e) => [e.id, e.kind]).sort(),
    kept.map((d) => [d.constructorId >>> 0, d.isFunction ? 'method' : 'constructor']).sort(),
  )
})

test('schema/api-229.tl parses, states layer 229, and every stated id is the computed one', () => {
  const s = schema('api-229.tl')
  assert.equal(s.layer, 229)
  assert.ok(s.entries.length > 2400)
  for (const e of s.entries) {
    assert.notEqual(e.statedId, undefined, e.name)
    assert.equal(e.statedId, e.computedId, e.name)
  }
  assert.equal(new Set(s.entries.map((e) => e.id)).size, s.entries.length, 'ids are unique')
  const serviceIds = new Set(service.map((e) => e.id))
  assert.deepEqual(s.entries.filter((e) => serviceIds.has(e.id)).map((e) => e.name), [])
  assert.equal(s.entries.find((e) => e.name === 'config')?.id, 0xcc1a241e)
  assert.equal(s.entries.find((e) => e.name === 'invokeWithLayer')?.source, 'invokeWithLayer#da9b0d0d {X:Type} layer:int query:!X = X;')
})
