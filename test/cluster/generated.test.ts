/**
 * src/cluster/generated/proto.ts: the committed file is what the generator makes of proto/*.proto,
 * and its field keys are the ones protobufjs writes (for proto/*.proto and for a .proto with the
 * field kinds ours do not use: packed and unpacked repeated scalars, maps, enums, optional fields,
 * nested types, field numbers above 15).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import protobuf from 'protobufjs'
import { generateAll, OUTPUT, repoRoot } from '../../src/cluster/gen/cli.js'
import { generateProto, HEADER } from '../../src/cluster/gen/generate.js'

const ROOT = repoRoot()

/** The Pb<Message>Tag enums of a generated module: TS message name → field → key. */
function tagsOf(text: string): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>()
  for (const m of text.matchAll(/export const enum (Pb\w+)Tag \{\n([\s\S]*?)\n\}/g)) {
    const fields = new Map<string, number>()
    for (const line of m[2]!.split('\n')) {
      const f = /^ {2}(\w+) = (0x[0-9a-f]+),$/.exec(line)
      assert.ok(f, `tag line ${JSON.stringify(line)}`)
      fields.set(f[1]!, Number(f[2]))
    }
    out.set(m[1]!, fields)
  }
  return out
}

/** A value protobufjs writes for a field (not its default, so the field is on the wire). */
function sample(f: protobuf.Field): unknown {
  const one = (type: string, resolved: protobuf.ReflectionObject | null): unknown => {
    if (resolved instanceof protobuf.Type) return {}
    if (resolved instanceof protobuf.Enum) return Object.values(resolved.values).find((v) => v !== 0)
    if (type === 'bool') return true
    if (type === 'string') return 'x'
    if (type === 'bytes') return Buffer.from([1])
    return 1
  }
  if (f.map) return { [(f as unknown as protobuf.MapField).keyType === 'string' ? 'k' : '1']: one(f.type, f.resolvedType) }
  const v = one(f.type, f.resolvedType)
  return f.repeated ? [v] : v
}

/** The first varint of a buffer (a message's first field key). */
function firstVarint(b: Uint8Array): number {
  let v = 0
  let mul = 1
  for (const byte of b) {
    v += (byte & 0x7f) * mul
    if (byte < 0x80) return v
    mul *= 128
  }
  throw new Error('no varint')
}

/** Checks every field's generated key against the key protobufjs writes before it; returns how many. */
function checkTags(text: string, files: string[]): number {
  const tags = tagsOf(text)
  const root = new protobuf.Root().loadSync(files, { keepCase: false })
  root.resolveAll()
  let checked = 0
  const walk = (ns: protobuf.NamespaceBase, prefix: string): void => {
    for (const o of ns.nestedArray) {
      if (!(o instanceof protobuf.Type)) continue
      const ts = prefix ? `${prefix}_${o.name}` : `Pb${o.name}`
      const ours = tags.get(ts)
      if (o.fieldsArray.length > 0) assert.ok(ours, `${ts}Tag generated`)
      for (const f of o.fieldsArray) {
        const bytes = o.encode(o.fromObject({ [f.name]: sample(f) })).finish()
        assert.equal(ours!.get(f.name), firstVarint(bytes), `${ts}Tag.${f.name}`)
        checked++
      }
      walk(o, ts)
    }
    for (const o of ns.nestedArray) if (o instanceof protobuf.Namespace && !(o instanceof protobuf.Type)) walk(o, prefix)
  }
  walk(root, '')
  assert.equal(checked, [...tags.values()].reduce((n, fields) => n + fields.size, 0), 'every generated key checked')
  return checked
}

test('committed src/cluster/generated/proto.ts matches what the generator produces from proto/', () => {
  const committed = readFileSync(join(ROOT, OUTPUT), 'utf8')
  assert.ok(committed.startsWith(HEADER), 'it has the do-not-edit header')
  assert.ok(committed === generateAll(ROOT), `${OUTPUT} is stale: run npm run gen:proto`)
})

test('field keys of proto/*.proto are the ones protobufjs writes', () => {
  const dir = join(ROOT, 'proto')
  assert.equal(checkTags(readFileSync(join(ROOT, OUTPUT), 'utf8'), ['health.proto', 'mtgate_session.proto', 'mtgate_upstream.proto'].map((f) => join(dir, f))), 140)
})

test('other field kinds: keys, types, nested names, optional fields, oneofs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtgate-proto-gen-'))
  try {
    writeFileSync(
      join(dir, 'kinds.proto'),
      `syntax = "proto3";
package kinds.v1;

// Every kind of field.
message Outer {
  enum Kind {
    KIND_UNSPECIFIED = 0;
    // the first one
    KIND_A = 1;
  }
  message Inner {
    sint64 v = 1;
  }
  repeated int32 packed_ints = 1;
  repeated string names = 2;
  map<string, Inner> by_name = 3;
  Kind kind = 4;
  repeated Kind kinds = 5;
  // set or not
  optional fixed32 maybe = 6;
  Inner inner = 7;
  oneof choice {
    double d = 16;
    Inner in = 17;
  }
  repeated int64 unpacked = 18 [packed = false];
  map<int32, string> by_id = 19;
  bytes blob = 2047;
}

service Kinds {
  rpc Get(Outer.Inner) returns (stream Outer);
}
`,
    )
    const file = join(dir, 'kinds.proto')
    const text = generateProto({ files: [file], labels: ['kinds.proto'], includeDirs: [dir] })
    assert.ok(text.startsWith(HEADER))
    assert.equal(checkTags(text, [file]), 13)
    for (const want of [
      '// kinds.proto (package kinds.v1) ',
      '/** Every kind of field. */\nexport type PbOuter = {\n',
      '  packedInts: number[]\n',
      '  byName: { [key: string]: PbOuter_Inner }\n',
      '  kind: PbOuter_Kind\n',
      '  kinds: PbOuter_Kind[]\n',
      '  inner: PbOuter_Inner | null\n',
      '  unpacked: Int64[]\n',
      '  byId: { [key: string]: string }\n',
      '  blob: Buffer\n',
      '      /** set or not */\n      maybe: number\n      _maybe?: \'maybe\'\n',
      '      maybe?: undefined\n      _maybe?: undefined\n',
      '      d?: undefined\n      in: PbOuter_Inner\n      choice?: \'in\'\n',
      '/** KIND_A: the first one */\nexport type PbOuter_Kind = \'KIND_UNSPECIFIED\' | \'KIND_A\'\n',
      'export interface PbOuter_Inner {\n  v: Int64\n}\n',
      '  Get: { request: PbOuter_Inner; response: PbOuter; requestStream: false; responseStream: true }\n',
    ]) {
      assert.ok(text.includes(want), `generated text has ${JSON.stringify(want)}`)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('two definitions that would share a TS name are refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtgate-proto-gen-'))
  try {
    writeFileSync(join(dir, 'a.proto'), 'syntax = "proto3";\npackage a;\nmessage M { int32 x = 1; }\n')
    writeFileSync(join(dir, 'b.proto'), 'syntax = "proto3";\npackage b;\nmessage M { int32 y = 1; }\n')
    assert.throws(() => generateProto({ files: ['a.proto', 'b.proto'].map((f) => join(dir, f)), labels: ['a.proto', 'b.proto'], includeDirs: [dir] }), /b\.M and a\.M would both be named PbM/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
