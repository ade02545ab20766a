import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseSchema, parseEntry, idString, TlParseError } from '../../src/tl/parser/parse.js'
import { crc32 } from '../../src/util/crc32.js'
import { ROOT } from './helpers.js'

const FILES = ['mtproto.tl', 'api-222.tl', 'api-223.tl', 'api-227.tl', 'history/api-198.tl']
const schema = (f: string) => parseSchema(readFileSync(join(ROOT, 'schema', f), 'utf8'))

/**
 * Lines whose stated id is not the CRC32 of the normalised line. In every case the stated id is the
 * one on the wire (clients use it), so the codec uses the stated id.
 */
const EXPECTED_MISMATCHES: Record<string, string> = {
  // TDLib's mtproto_api.tl hashes these with `bytes` kept as `bytes` (not normalised to string).
  ipPortSecret: 'TDLib vendor line: id = crc32 with bytes not normalised',
  // TDLib's vendor lines for the simple config: ids were assigned from a different original text.
  accessPointRule: 'TDLib vendor line: id from another original text (not reproducible)',
  'help.configSimple': 'TDLib vendor line: id from another original text (not reproducible)',
}

test('every stated id equals the CRC32 of the normalised line, except the listed TDLib lines', () => {
  for (const f of FILES) {
    const s = schema(f)
    assert.ok(s.entries.length > 50, f)
    const bad = s.entries.filter((e) => e.statedId !== undefined && e.statedId !== e.computedId).map((e) => e.name)
    const expected = f === 'mtproto.tl' ? Object.keys(EXPECTED_MISMATCHES) : []
    assert.deepEqual(bad.sort(), expected.sort(), `${f}: ${bad.join(', ')}`)
  }
})

test('ids are computed where a line omits them', () => {
  const s = schema('mtproto.tl')
  const tls = s.entries.filter((e) => e.name.startsWith('tls'))
  assert.equal(tls.length, 8)
  for (const e of tls) {
    assert.equal(e.statedId, undefined)
    assert.equal(e.id, e.computedId)
    assert.equal(e.id, crc32(Buffer.from(idString(e), 'utf8')))
  }
})

test('layer numbers and built-ins are recognised', () => {
  assert.equal(schema('api-222.tl').layer, 222)
  assert.equal(schema('history/api-198.tl').layer, 198)
  assert.deepEqual(schema('mtproto.tl').builtins, ['int', 'long', 'double', 'string', 'vector', 'int128', 'int256'])
  const m = schema('mtproto.tl')
  // Commented-out definitions (rpc_result, msg_container, gzip_packed) are not entries.
  assert.ok(!m.entries.some((e) => e.name === 'rpc_result' || e.name === 'msg_container' || e.name === 'gzip_packed'))
  assert.equal(m.entries.find((e) => e.name === 'req_pq_multi')!.kind, 'method')
  assert.equal(m.entries.find((e) => e.name === 'pong')!.kind, 'constructor')
})

test('the normalised line follows the official rules', () => {
  const e = parseEntry(
    'codeSettings#ad253d78 flags:# allow_flashcall:flags.0?true logout_tokens:flags.6?Vector<bytes> token:flags.8?string app_sandbox:flags.8?Bool = CodeSettings',
    'constructor',
    1,
  )
  assert.equal(e.args[1]!.cond?.bit, 0)
  assert.equal(idString(e), 'codeSettings flags:# logout_tokens:flags.6?Vector bytes token:flags.8?string app_sandbox:flags.8?Bool = CodeSettings')
  const r = parseEntry('resPQ#05162463 nonce:int128 server_nonce:int128 pq:bytes server_public_key_fingerprints:Vector<long> = ResPQ', 'constructor', 1)
  assert.equal(idString(r), 'resPQ nonce:int128 server_nonce:int128 pq:string server_public_key_fingerprints:Vector long = ResPQ')
  assert.equal(r.computedId, 0x05162463)
  const g = parseEntry('invokeWithLayer#da9b0d0d {X:Type} layer:int query:!X = X', 'method', 1)
  assert.deepEqual(g.generics, [{ name: 'X', type: 'Type' }])
  assert.equal(g.computedId, 0xda9b0d0d)
})

test('parser accepts multi-line definitions, flags2, bare % types and comments', () => {
  const s = parseSchema(
    [
      '// a comment',
      'a#00000001 flags:# flags2:# x:flags2.3?int y:%B = A; // trailing',
      '---functions---',
      'f x:int',
      '  y:vector<%B> = Vector<int>;',
      '---types---',
      'b n:int = B;',
    ].join('\n'),
  )
  assert.equal(s.entries.length, 3)
  const [a, f] = s.entries
  assert.deepEqual(a!.args[2], { name: 'x', type: 'int', cond: { field: 'flags2', bit: 3 } })
  assert.equal(a!.args[3]!.type, '%B')
  assert.equal(f!.kind, 'method')
  assert.equal(f!.line, 4)
  assert.equal(f!.result, 'Vector<int>')
  assert.equal(s.entries[2]!.kind, 'constructor')
})

test('parser rejects malformed lines with the line number', () => {
  assert.throws(() => parseSchema('x#1 a:flags.0?int = X;'), (e: unknown) => e instanceof TlParseError && e.line === 1)
  assert.throws(() => parseSchema('ok = X;\nbad#zz = X;'), (e: unknown) => e instanceof TlParseError && e.line === 2)
  assert.throws(() => parseSchema('x a:int'), TlParseError)
  assert.throws(() => parseSchema('x a:int X;'), TlParseError)
  assert.throws(() => parseSchema('x flags:# a:flags.32?int = X;'), TlParseError)
})
