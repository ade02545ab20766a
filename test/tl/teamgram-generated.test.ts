import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { buildTeamgramTable, generateTeamgram, TEAMGRAM_HEADER } from '../../src/tl/gen/teamgram.js'
import { ROOT, mainEntries } from './helpers.js'

test('committed src/tl/generated/teamgram.ts matches what the generator produces from proto/teamgram and schema/', () => {
  const committed = readFileSync(join(ROOT, 'src', 'tl', 'generated', 'teamgram.ts'), 'utf8')
  assert.ok(committed.startsWith(TEAMGRAM_HEADER), 'has the do-not-edit header')
  assert.ok(committed === generateTeamgram(ROOT), 'teamgram.ts is stale: run node dist/src/tl/gen/cli.js')
})

test('the table matches by name and suffix: flags to wrappers, same-name fields of other types to their suffix', () => {
  const t = buildTeamgramTable(ROOT)
  const fields = (name: string): Map<string, string> => new Map(t.entries.get(name)![2].split(',').map((f) => [f.split(':')[0]!, f.slice(f.indexOf(':') + 1)]))
  const signIn = fields('auth.signIn')
  assert.equal(signIn.get('phone_code'), '5:S') // phone_code_FLAGSTRING, not the older required phone_code_STRING
  const user = fields('user')
  assert.equal(user.get('access_hash'), '34:L')
  assert.equal(user.get('stories_max_id'), '47:m') // stories_max_id_FLAGRECENTSTORY
  assert.equal(user.get('self'), '4:t')
  assert.equal(fields('config').get('test_mode'), '10:B')
  assert.equal(t.entries.get('user')![1], -1313289085) // our id b1b8cc83 is Teamgram's
  assert.deepEqual(t.methods.get('help.getConfig'), ['RPCConfiguration', 'Config'])
  assert.ok(t.missing.includes('resPQ'), 'MTProto handshake objects are not Teamgram messages')
  // a field mtprotoc renamed (size → size2_INT64), one it wrapped over two lines
  assert.equal(fields('document').get('size'), '8:l')
  assert.match(fields('payments.paymentForm').get('saved_credentials')!, /^17:rm$/)
  // names Teamgram gives otherwise: a predicate, a method variant suffixed with its id
  assert.equal(t.entries.get('passwordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow')![3], 'passwordKdfAlgoModPow')
  assert.deepEqual(t.methods.get('help.getAppConfig'), ['RPCConfiguration', 'help_AppConfig', 'help_getAppConfig61E3F854'])
  assert.ok(!t.missing.includes('messages.report') && t.missing.length < 30, `only MTProto's own objects lack a Teamgram message: ${t.missing.join(' ')}`)
  for (const [name, [, , spec]] of t.entries) assert.ok(!spec.includes(':-'), `${name}: every argument has its Teamgram field (${spec})`)
})

test("constructors where Teamgram's layer differs from ours (another id under the same name) are named", () => {
  const t = buildTeamgramTable(ROOT)
  const ours = new Map(mainEntries().map((e) => [e.name, e.id | 0]))
  const differ = [...t.entries].filter(([name, [, ctor]]) => ours.get(name) !== ctor).map(([name]) => name)
  // Teamgram v0.230.0 speaks layer 230, whose ids equal layer 229's for every constructor both have;
  // an entry here is sent with Teamgram's newest id of the name and its fields matched by name
  assert.deepEqual(differ, [], `Teamgram has another id for: ${differ.join(', ')}`)
})
