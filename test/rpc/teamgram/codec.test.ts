import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { decodeObject, decodeQuery, decodeResult, encodeObject, encodeQuery, encodeResult, grpcPath, teamgramDrops } from '../../../src/rpc/teamgram/codec.js'
import { TEAMGRAM_ENTRIES, TEAMGRAM_METHODS } from '../../../src/tl/generated/teamgram.js'
import { encode, encodeResult as encodeTlResult, NEWEST_LAYER, type TlAnyObject, type TlMethodName } from '../../../src/tl/index.js'
import { config, message, sendMessageRequest, updatesBurst, user } from '../../tl/corpus.js'
import { startGoChecker, type GoChecker } from './go-codec.js'

interface Case {
  /** Teamgram's message the value travels as. */
  message: string
  /** Our protobuf of the value, and the value back from protobuf bytes. */
  toPb(): Buffer
  fromPb(pb: Buffer): unknown
  /** Our TL bytes of the value. */
  tl(): Buffer
}

const object = (o: TlAnyObject): Case => ({ message: TEAMGRAM_ENTRIES[o._]![0], toPb: () => encodeObject(o)!, fromPb: (b) => decodeObject(b), tl: () => encode(o) })
const query = (q: TlAnyObject): Case => ({ message: TEAMGRAM_ENTRIES[q._]![0], toPb: () => encodeQuery(q), fromPb: (b) => decodeQuery(q._, b), tl: () => encode(q) })
const result = (method: TlMethodName, v: unknown): Case => ({
  message: TEAMGRAM_METHODS[method]![1],
  toPb: () => encodeResult(method, v),
  fromPb: (b) => decodeResult(method, b),
  tl: () => encodeTlResult(method, v as never),
})

const me = user(6)
const authorization = { _: 'auth.authorization', user: me, tmp_sessions: 3 }
const CORPUS: Record<string, Case> = {
  config: object(config() as unknown as TlAnyObject),
  user: object(me),
  message: object(message(4)),
  updates: object(updatesBurst(4)),
  updateShortMessage: object({ _: 'updateShortMessage', out: true, id: 77, user_id: 100001n, message: 'hi', pts: 10, pts_count: 1, date: 1764000000, entities: [{ _: 'messageEntityBold', offset: 0, length: 2 }] } as TlAnyObject),
  updateShortSentMessage: object({ _: 'updateShortSentMessage', out: true, id: 78, pts: 11, pts_count: 1, date: 1764000001, ttl_period: 0 } as TlAnyObject),
  'auth.sentCode': object({ _: 'auth.sentCode', type: { _: 'auth.sentCodeTypeSms', length: 5 }, phone_code_hash: 'abc123', next_type: { _: 'auth.codeTypeCall' }, timeout: 60 } as TlAnyObject),
  'auth.sentCodeSuccess': object({ _: 'auth.sentCodeSuccess', authorization } as TlAnyObject),
  'auth.authorization': object(authorization as TlAnyObject),
  'users.userFull': object({
    _: 'users.userFull',
    full_user: {
      _: 'userFull',
      phone_calls_available: true,
      id: me.id,
      about: 'about me',
      settings: { _: 'peerSettings' },
      notify_settings: { _: 'peerNotifySettings', mute_until: 0 },
      common_chats_count: 2,
      pinned_msg_id: 5,
    },
    chats: [],
    users: [me, user(7)],
  } as TlAnyObject),
  'Vector<User> (users.getUsers)': result('users.getUsers', [me, user(8), { _: 'userEmpty', id: 9n }]),
  'Bool (account.updateStatus)': result('account.updateStatus', true),
  'Bool false (account.updateStatus)': result('account.updateStatus', false),
  'help.getConfig': query({ _: 'help.getConfig' }),
  'auth.signIn': query({ _: 'auth.signIn', phone_number: '+15550001', phone_code_hash: 'abc123', phone_code: '12345' } as TlAnyObject),
  'messages.sendMessage': query(sendMessageRequest() as unknown as TlAnyObject),
  // Teamgram names these otherwise: passwordKdfAlgoModPow, TL_help_getAppConfig61E3F854
  'account.password': object({ _: 'account.password', new_algo: { _: 'passwordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow', salt1: Buffer.alloc(8, 1), salt2: Buffer.alloc(16, 2), g: 3, p: Buffer.alloc(256, 3) }, new_secure_algo: { _: 'securePasswordKdfAlgoPBKDF2HMACSHA512iter100000', salt: Buffer.alloc(8, 4) }, secure_random: Buffer.alloc(32, 5) } as TlAnyObject),
  'help.getAppConfig': query({ _: 'help.getAppConfig', hash: 7 } as TlAnyObject),
}

let go: GoChecker
before(() => {
  go = startGoChecker()
})
after(() => go.close())

test("our protobuf, decoded and TL-encoded by Teamgram's own code, is our TL bytes", async () => {
  for (const [name, c] of Object.entries(CORPUS)) {
    const pb = c.toPb()
    const theirs = await go.toTl(c.message, NEWEST_LAYER, pb)
    assert.equal(theirs.toString('hex'), c.tl().toString('hex'), `${name}: Teamgram's TL of our ${c.message}`)
  }
})

test("our TL bytes, decoded by Teamgram and marshalled by protobuf, decode to the same object", async () => {
  for (const [name, c] of Object.entries(CORPUS)) {
    const pb = await go.toPb(c.message, c.tl())
    const back = c.fromPb(pb)
    // same TL bytes: the same object up to how absent optional fields are written
    const original = c.tl()
    const again = c.message.startsWith('Vector_') || c.message === 'Bool' ? encodeResultOf(name, back) : encode(back as TlAnyObject)
    assert.equal(again.toString('hex'), original.toString('hex'), `${name}: our decoding of Teamgram's ${c.message}`)
  }
})

function encodeResultOf(name: string, v: unknown): Buffer {
  const method = /\((.+)\)/.exec(name)![1] as TlMethodName
  return encodeTlResult(method, v as never)
}

test('nothing of the corpus was dropped; a field Teamgram lacks is dropped and counted, not thrown', () => {
  assert.deepEqual([...teamgramDrops.keys()], [])
  const pb = encodeObject({ _: 'user', id: 5n, no_such_field: 1 } as TlAnyObject)!
  assert.deepEqual(decodeObject(pb), { _: 'user', id: 5n })
  // a predicate our layer lacks: a neutral object of the expected type, counted
  const foreign = Buffer.from('0a0b75736572556e6b6e6f776e', 'hex') // predicate_name "userUnknown"
  assert.deepEqual(decodeObject(foreign, 'User'), { _: 'userEmpty', id: 0n })
  assert.ok([...teamgramDrops.keys()].some((k) => k.startsWith('predicate userUnknown')))
})

test('gRPC paths and reply messages come from Teamgram services', () => {
  assert.equal(grpcPath('help.getConfig'), '/mtproto.RPCConfiguration/help_getConfig')
  assert.equal(grpcPath('auth.signIn'), '/mtproto.RPCAuthorization/auth_signIn')
  assert.equal(grpcPath('messages.sendMessage'), '/mtproto.RPCMessages/messages_sendMessage')
  assert.deepEqual(TEAMGRAM_METHODS['users.getUsers'], ['RPCUsers', 'Vector_User'])
  assert.equal(grpcPath('invokeWithLayer'), undefined)
  assert.equal(grpcPath('help.getAppConfig'), '/mtproto.RPCConfiguration/help_getAppConfig61E3F854')
})
