/**
 * The Python example backend's TL module (examples/python/tl.py) against mtgate's own codec: every
 * result the backend writes is byte for byte what src/tl encodes for the same object in the newest
 * layer, and every query mtgate sends it (src/tl-encoded) reads back to the fields it was made of.
 * One python3 process runs all the cases (JSON on stdin and stdout).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { encode, encodeResult, type TlObject } from '../../src/tl/index.js'
import { PYTHON_EXAMPLE_DIR } from './python-backend.js'

const DRIVER = `
import json, sys
import tl

def plain(v):
    """JSON can carry: ints past 2**53 as strings."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**53:
        return str(v)
    return v

def read(h):
    try:
        return plain(tl.read_query(bytes.fromhex(h)))
    except tl.TlError as e:
        return {'error': str(e)}

req = json.load(sys.stdin)
json.dump({
    'encoded': [getattr(tl, c['fn'])(*c['args']).hex() for c in req['encode']],
    'read': [read(h) for h in req['read']],
}, sys.stdout)
`

interface EncodeCase {
  fn: string
  args: unknown[]
  /** What mtgate encodes for it. */
  mtgate: Buffer
}

function runPython(encodeCases: EncodeCase[], queries: Buffer[]): { encoded: string[]; read: Record<string, unknown>[] } {
  const input = JSON.stringify({ encode: encodeCases.map(({ fn, args }) => ({ fn, args })), read: queries.map((q) => q.toString('hex')) })
  return JSON.parse(execFileSync('python3', ['-c', DRIVER], { cwd: PYTHON_EXAMPLE_DIR, input, encoding: 'utf8' })) as { encoded: string[]; read: Record<string, unknown>[] }
}

/** A user as tl.write_user takes it (the phone only for the user itself), and as mtgate's codec does. */
const pyUser = (id: number, self: boolean) => ({ id, access_hash: id * 7919, first_name: `User ${id}`, phone: self ? `1555${id}` : null, self })
const tsUser = (id: number, self: boolean) =>
  ({ _: 'user', self, id: BigInt(id), access_hash: BigInt(id * 7919), first_name: `User ${id}`, ...(self ? { phone: `1555${id}` } : {}) }) as Record<string, unknown>
/** A box message (state.deliver), and the `message` mtgate's codec makes of it. */
const pyMessage = (id: number, out: boolean, from: number, peer: number, date: number, text: string) => ({ id, pts: id, out, from, peer, date, text })
const tsMessage = (id: number, out: boolean, fromId: number, peerId: number, date: number, message: string) =>
  ({ _: 'message', out, id, from_id: { _: 'peerUser', user_id: BigInt(fromId) }, peer_id: { _: 'peerUser', user_id: BigInt(peerId) }, date, message }) as Record<string, unknown>
const tsState = (pts: number, date: number) => ({ _: 'updates.state', pts, qts: 0, date, seq: 0, unread_count: 0 }) as Record<string, unknown>
const obj = (o: Record<string, unknown>) => o as unknown as TlObject
/** mtgate's encoding of a method's result (a bare Vector / Bool as the schema writes it). */
const result = encodeResult as (method: string, value: unknown) => Buffer

const LONG_TEXT = 'Grüße, 世界 '.repeat(40) // past 253 bytes: the 0xfe length form

const ENCODE_CASES: EncodeCase[] = [
  { fn: 'sent_code', args: ['0123456789abcdef'], mtgate: encode(obj({ _: 'auth.sentCode', type: { _: 'auth.sentCodeTypeApp', length: 5 }, phone_code_hash: '0123456789abcdef' })) },
  { fn: 'authorization', args: [pyUser(1000, true)], mtgate: encode(obj({ _: 'auth.authorization', user: tsUser(1000, true) })) },
  { fn: 'logged_out', args: [], mtgate: encode(obj({ _: 'auth.loggedOut' })) },
  { fn: 'users_vector', args: [[pyUser(1000, true), pyUser(1001, false)]], mtgate: result('users.getUsers', [tsUser(1000, true), tsUser(1001, false)]) },
  { fn: 'users_vector', args: [[]], mtgate: result('users.getUsers', []) },
  {
    fn: 'user_full',
    args: [pyUser(1001, false)],
    mtgate: encode(
      obj({ _: 'users.userFull', full_user: { _: 'userFull', id: 1001n, settings: { _: 'peerSettings' }, notify_settings: { _: 'peerNotifySettings' }, common_chats_count: 0 }, chats: [], users: [tsUser(1001, false)] }),
    ),
  },
  { fn: 'state', args: [7, 1_700_000_000], mtgate: encode(obj(tsState(7, 1_700_000_000))) },
  {
    fn: 'difference',
    args: [
      [pyMessage(1, true, 1000, 1001, 1_700_000_001, 'hi'), pyMessage(2, false, 1001, 1001, 1_700_000_002, LONG_TEXT)],
      [pyUser(1000, true), pyUser(1001, false)],
      2,
      1_700_000_003,
    ],
    mtgate: encode(
      obj({
        _: 'updates.difference',
        new_messages: [tsMessage(1, true, 1000, 1001, 1_700_000_001, 'hi'), tsMessage(2, false, 1001, 1001, 1_700_000_002, LONG_TEXT)],
        new_encrypted_messages: [],
        other_updates: [],
        chats: [],
        users: [tsUser(1000, true), tsUser(1001, false)],
        state: tsState(2, 1_700_000_003),
      }),
    ),
  },
  { fn: 'difference_empty', args: [1_700_000_004], mtgate: encode(obj({ _: 'updates.differenceEmpty', date: 1_700_000_004, seq: 0 })) },
  { fn: 'update_short_sent_message', args: [3, 9, 1_700_000_005], mtgate: encode(obj({ _: 'updateShortSentMessage', out: true, id: 3, pts: 9, pts_count: 1, date: 1_700_000_005 })) },
  {
    fn: 'update_short_message',
    args: [pyMessage(5, false, 1000, 1000, 1_700_000_006, 'hello')],
    mtgate: encode(obj({ _: 'updateShortMessage', out: false, id: 5, user_id: 1000n, message: 'hello', pts: 5, pts_count: 1, date: 1_700_000_006 })),
  },
  {
    fn: 'update_short_message',
    args: [pyMessage(6, true, 1000, 1001, 1_700_000_007, LONG_TEXT)],
    mtgate: encode(obj({ _: 'updateShortMessage', out: true, id: 6, user_id: 1001n, message: LONG_TEXT, pts: 6, pts_count: 1, date: 1_700_000_007 })),
  },
  { fn: 'bool_true', args: [], mtgate: result('account.updateStatus', true) },
]

/** A query as mtgate sends it, and the fields tl.read_query gives the backend (longs past 2^53 as strings). */
const QUERIES: { query: TlObject; read: Record<string, unknown> }[] = [
  {
    query: obj({ _: 'auth.sendCode', phone_number: '+15550001', api_id: 4, api_hash: 'x'.repeat(32), settings: { _: 'codeSettings', allow_flashcall: true, logout_tokens: [Buffer.from('tok')] } }),
    read: { _: 'auth.sendCode', phone_number: '+15550001', api_id: 4, api_hash: 'x'.repeat(32) },
  },
  {
    query: obj({ _: 'auth.signIn', phone_number: '+15550001', phone_code_hash: 'abc', phone_code: '12345' }),
    read: { _: 'auth.signIn', phone_number: '+15550001', phone_code_hash: 'abc', phone_code: '12345' },
  },
  { query: obj({ _: 'auth.signIn', phone_number: '+1', phone_code_hash: 'abc' }), read: { _: 'auth.signIn', phone_number: '+1', phone_code_hash: 'abc', phone_code: null } },
  { query: obj({ _: 'auth.logOut' }), read: { _: 'auth.logOut' } },
  {
    query: obj({ _: 'users.getUsers', id: [{ _: 'inputUserSelf' }, { _: 'inputUser', user_id: 1001n, access_hash: -0x7edcba9876543210n }, { _: 'inputUserEmpty' }] }),
    read: { _: 'users.getUsers', id: [{ _: 'inputUserSelf' }, { _: 'inputUser', user_id: 1001, access_hash: String(-0x7edcba9876543210n) }, { _: 'inputUserEmpty' }] },
  },
  { query: obj({ _: 'users.getFullUser', id: { _: 'inputUser', user_id: 1002n, access_hash: 7937838n } }), read: { _: 'users.getFullUser', id: { _: 'inputUser', user_id: 1002, access_hash: 7937838 } } },
  { query: obj({ _: 'updates.getState' }), read: { _: 'updates.getState' } },
  {
    query: obj({ _: 'updates.getDifference', pts: 12, pts_total_limit: 5000, date: 1_700_000_000, qts: 0 }),
    read: { _: 'updates.getDifference', pts: 12, pts_total_limit: 5000, date: 1_700_000_000, qts: 0 },
  },
  {
    query: obj({ _: 'updates.getDifference', pts: 1, pts_limit: 10, date: 2, qts: 3, qts_limit: 4 }),
    read: { _: 'updates.getDifference', pts: 1, pts_limit: 10, date: 2, qts: 3 },
  },
  {
    query: obj({ _: 'messages.sendMessage', silent: true, clear_draft: true, peer: { _: 'inputPeerUser', user_id: 1001n, access_hash: 7926919n }, message: LONG_TEXT, random_id: -0x123456789abcdefn }),
    read: { _: 'messages.sendMessage', peer: { _: 'inputPeerUser', user_id: 1001, access_hash: 7926919 }, message: LONG_TEXT, random_id: String(-0x123456789abcdefn) },
  },
  {
    query: obj({ _: 'messages.sendMessage', peer: { _: 'inputPeerSelf' }, message: 'note', random_id: 1n, schedule_date: 5 }),
    read: { _: 'messages.sendMessage', peer: { _: 'inputPeerSelf' }, message: 'note', random_id: 1 },
  },
  { query: obj({ _: 'account.updateStatus', offline: true }), read: { _: 'account.updateStatus', offline: true } },
  { query: obj({ _: 'account.updateStatus', offline: false }), read: { _: 'account.updateStatus', offline: false } },
  // outside the slice: tl.TlError, which the backend answers 400 INPUT_REQUEST_INVALID
  {
    query: obj({ _: 'messages.sendMessage', peer: { _: 'inputPeerSelf' }, reply_to: { _: 'inputReplyToMessage', reply_to_msg_id: 1 }, message: 'x', random_id: 2n }),
    read: { error: 'reply_to is not in the slice' },
  },
  { query: obj({ _: 'users.getFullUser', id: { _: 'inputUserFromMessage', peer: { _: 'inputPeerSelf' }, msg_id: 1, user_id: 5n } }), read: { error: 'constructor 0x1da448e2 is not in the slice' } },
  { query: obj({ _: 'help.getConfig' }), read: { error: 'constructor 0xc4f9186b is not in the slice' } },
]

describe('examples/python/tl.py against mtgate’s TL codec (newest layer)', () => {
  const truncated = encode(obj({ _: 'auth.signIn', phone_number: '+15550001', phone_code_hash: 'abc', phone_code: '12345' })).subarray(0, 20)
  const py = runPython(
    ENCODE_CASES,
    [...QUERIES.map((q) => encode(q.query)), truncated],
  )

  it('writes every result of the slice byte for byte as mtgate encodes it', () => {
    assert.equal(py.encoded.length, ENCODE_CASES.length)
    ENCODE_CASES.forEach((c, i) => assert.equal(py.encoded[i], c.mtgate.toString('hex'), `${c.fn}(${JSON.stringify(c.args).slice(0, 80)})`))
  })

  it('reads every query of the slice as mtgate encodes it; rejects what is outside the slice', () => {
    QUERIES.forEach((q, i) => assert.deepEqual(py.read[i], q.read, (q.query as { _: string })._))
    assert.deepEqual(py.read.at(-1), { error: 'truncated' })
  })
})
