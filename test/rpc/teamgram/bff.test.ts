/**
 * The teamgram-bff upstream kind against a gRPC server standing in for Teamgram's BFF: the path,
 * rpc_metadata and request bytes it gets (the request checked with Teamgram's Go decoder), results,
 * Teamgram's error codes, 700 deferral, deadlines, user binding and the fake results.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { parseConfig } from '../../../src/config/index.js'
import { RpcRouter } from '../../../src/rpc/router.js'
import { encodeResult, grpcPath } from '../../../src/rpc/teamgram/codec.js'
import { readMessage, int64, int32 } from '../../../src/rpc/teamgram/protobuf.js'
import { UpstreamBridge } from '../../../src/rpc/upstream.js'
import type { RpcCall, RpcContext } from '../../../src/session/api.js'
import { encode, encodeResult as encodeTlResult, NEWEST_LAYER, type TlMethodName, type TlObject } from '../../../src/tl/index.js'
import { TEAMGRAM_FAKE_RESULTS, teamgramFakeResult } from '../../../src/rpc/teamgram/fake-results.js'
import { config as corpusConfig, user } from '../../tl/corpus.js'
import { startFakeBff, type BffHandler, type FakeBff } from '../../helpers/teamgram-bff.js'
import { startGoChecker, type GoChecker } from './go-codec.js'

const PERM = -0x1122334455667788n

function ctx(): RpcContext {
  return {
    authKeyId: 0x0102030405060708n,
    authKeyType: 1,
    permAuthKeyId: PERM,
    sessionId: 42n,
    msgId: 0x5f0000000000000cn,
    layer: 198,
    client: { apiId: 4, deviceModel: 'dev', systemVersion: 'sys', appVersion: '1.2', systemLangCode: 'de', langPack: 'android', langCode: 'fr' },
    connection: { gatewayId: 'g1', connId: 'c1', clientAddr: '10.1.2.3:5000', dcId: 2, transport: 'tcp' },
    withoutUpdates: false,
    userId: undefined,
  }
}

const call = (query: TlObject, c: RpcContext = ctx()): RpcCall => ({ method: query._, constructorId: encode(query).readUInt32LE(0), query, raw: encode(query), ctx: c })

function bridgeOf(yaml: Record<string, unknown>): { router: RpcRouter; bridge: UpstreamBridge; logs: string[] } {
  const config = parseConfig({ data_dir: '/tmp', ...yaml }, {})
  const logs: string[] = []
  const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(line) })
  const bridge = new UpstreamBridge(config.upstream, { unknownMethodError: config.unknownMethodError, log, serverId: 'gw-test' })
  const router = new RpcRouter({ log })
  router.setFallback((c) => bridge.dispatch(c))
  return { router, bridge, logs }
}

const me = user(6)
const authorization = { _: 'auth.authorization', user: me } as const
const reply = (method: string, v: unknown): { reply: Buffer } => ({ reply: encodeResult(method, v) })

const handlers: Record<string, BffHandler> = {
  'help.getConfig': () => reply('help.getConfig', corpusConfig()),
  'auth.signIn': (c) => (c.request.includes(Buffer.from('00000')) ? { code: 400, details: 'PHONE_CODE_INVALID' } : reply('auth.signIn', authorization)),
  'auth.sendCode': () => ({ code: 401, details: 'SESSION_PASSWORD_NEEDED_777' }),
  'auth.logOut': () => reply('auth.logOut', { _: 'auth.loggedOut' }),
  'users.getUsers': () => reply('users.getUsers', [me, { _: 'userEmpty', id: 9n }]),
  'messages.sendMessage': () => ({ code: 700, details: 'NOTRETURN_CLIENT' }),
  'messages.sendMedia': (c) => reply('messages.sendMedia', { _: 'updates', updates: [], users: [], chats: [], date: Math.round(c.deadlineInMs), seq: 0 }),
  'account.updateStatus': () => new Promise((r) => setTimeout(() => r(reply('account.updateStatus', true)), 1500)),
  'help.getNearestDc': () => ({ code: 13, details: 'boom' }),
}

let bff: FakeBff
let go: GoChecker
before(async () => {
  bff = await startFakeBff(handlers)
  go = startGoChecker()
})
after(async () => {
  go.close()
  await bff.close()
})

const yaml = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  upstreams: [{ name: 'bff', kind: 'teamgram-bff', targets: [bff.address] }],
  routes: { 'help.': 'bff', 'auth.': 'bff', 'users.': 'bff', 'messages.': 'bff', 'account.updateStatus': { upstream: 'bff', deadline_ms: 300 } },
  ...extra,
})

test('a call goes to /mtproto.<Service>/<method> with rpc_metadata; Teamgram decodes the request; the reply comes back as TL', async () => {
  const { router, bridge } = bridgeOf(yaml())
  try {
    const r = await router.dispatch(call({ _: 'help.getConfig' }))
    assert.deepEqual(r, { kind: 'result', result: corpusConfig(), method: 'help.getConfig' })
    const c = bff.calls.at(-1)!
    assert.equal(c.path, '/mtproto.RPCConfiguration/help_getConfig')
    const md = readMessage(Buffer.from(c.metadata.get('rpc_metadata')[0] as string, 'base64'))
    const v = (n: number) => md.get(n)?.[0]
    const s = (n: number) => (v(n) as { raw: Buffer }).raw.toString()
    const l = (n: number) => int64((v(n) as { v: bigint }).v)
    assert.equal(s(1), 'gw-test')
    assert.equal(s(3), '10.1.2.3')
    assert.equal(l(4), 0x0102030405060708n)
    assert.equal(l(5), 42n)
    assert.ok(Math.abs(Number(l(8)) - Date.now() / 1000) < 5, 'receive_time in seconds')
    assert.equal(l(12), 0x5f0000000000000cn)
    assert.equal(int32((v(14) as { v: bigint }).v), 198)
    assert.equal(s(15), 'android')
    assert.equal(s(21), 'android')
    assert.equal(l(22), PERM)
    assert.equal(s(23), 'fr')
    assert.equal(v(11), undefined, 'no user yet')
    assert.ok(c.deadlineInMs > 4000 && c.deadlineInMs <= 5000, `Teamgram's 5 s deadline (${c.deadlineInMs})`)

    const signIn = { _: 'auth.signIn', phone_number: '+15550001', phone_code_hash: 'abc', phone_code: '12345' } as TlObject
    const sc = ctx()
    const out = await router.dispatch(call(signIn, sc))
    assert.equal(out.kind, 'result')
    assert.equal(sc.userId, me.id, 'auth.authorization binds its user')
    const req = bff.calls.at(-1)!
    assert.equal(req.path, grpcPath('auth.signIn'))
    assert.equal((await go.toTl('TL_auth_signIn', NEWEST_LAYER, req.request)).toString('hex'), encode(signIn).toString('hex'), "Teamgram's decoding of the request is the query")

    const users = await router.dispatch(call({ _: 'users.getUsers', id: [{ _: 'inputUserSelf' }] } as TlObject, sc))
    assert.equal(users.kind, 'result')
    assert.deepEqual(encodeTlResult('users.getUsers', (users as unknown as { result: never }).result), encodeTlResult('users.getUsers', [me, { _: 'userEmpty', id: 9n }]))
    const md2 = readMessage(Buffer.from(bff.calls.at(-1)!.metadata.get('rpc_metadata')[0] as string, 'base64'))
    assert.equal(int64((md2.get(11)![0] as { v: bigint }).v), me.id, 'user_id of the bound user')

    assert.equal((await router.dispatch(call({ _: 'auth.logOut' }, sc))).kind, 'result')
    assert.equal(sc.userId, undefined, 'auth.logOut unbinds')
  } finally {
    bridge.close()
  }
})

test("Teamgram's status codes are rpc_errors (SESSION_PASSWORD_NEEDED_<id> rewritten); others 500; deadlines -503 and 60 s for sendMedia", async () => {
  const { router, bridge, logs } = bridgeOf(yaml())
  try {
    const bad = { _: 'auth.signIn', phone_number: '+1', phone_code_hash: 'h', phone_code: '00000' } as TlObject
    assert.deepEqual(await router.dispatch(call(bad)), { kind: 'error', code: 400, message: 'PHONE_CODE_INVALID' })
    const send = { _: 'auth.sendCode', phone_number: '+1', api_id: 4, api_hash: 'x', settings: { _: 'codeSettings' } } as TlObject
    assert.deepEqual(await router.dispatch(call(send)), { kind: 'error', code: 401, message: 'SESSION_PASSWORD_NEEDED' })
    assert.deepEqual(await router.dispatch(call({ _: 'help.getNearestDc' })), { kind: 'error', code: 500, message: 'INTERNAL' })
    assert.ok(logs.some((l) => l.includes('upstream call failed')))
    const t0 = Date.now()
    assert.deepEqual(await router.dispatch(call({ _: 'account.updateStatus', offline: false } as TlObject)), { kind: 'error', code: -503, message: 'Timeout' })
    assert.ok(Date.now() - t0 < 1200, 'the route deadline (300 ms) wins')
    const media = { _: 'messages.sendMedia', peer: { _: 'inputPeerSelf' }, media: { _: 'inputMediaEmpty' }, message: '', random_id: 1n } as TlObject
    const r = await router.dispatch(call(media))
    assert.equal(r.kind, 'result')
    const date = ((r as { result: { date: number } }).result).date
    assert.ok(date > 55_000 && date <= 60_000, `messages.sendMedia gets 60 s (${date})`)
  } finally {
    bridge.close()
  }
})

test('700 NotReturnClient: the answer waits for pushRpcResultData (the TL result bytes), keyed by the permanent key', async () => {
  const { router, bridge } = bridgeOf(yaml({ upstreams: [{ name: 'bff', kind: 'teamgram-bff', targets: [bff.address], result_timeout_ms: 400 }] }))
  try {
    const q = { _: 'messages.sendMessage', peer: { _: 'inputPeerSelf' }, message: 'hi', random_id: 5n } as TlObject
    const c = ctx()
    const pending = router.dispatch(call(q, c))
    await new Promise((r) => setTimeout(r, 100))
    assert.equal(bridge.deferredCount, 1)
    const sent = { _: 'updateShortSentMessage', id: 5, pts: 2, pts_count: 1, date: 1764000000 } as TlObject
    assert.equal(bridge.completeDeferred({ authKeyId: PERM, sessionId: c.sessionId, msgId: c.msgId }, { result: encode(sent) }), true)
    const done = await pending
    assert.equal(done.kind, 'result')
    assert.deepEqual(encode((done as { result: TlObject }).result), encode(sent))
    // an rpc_error pushed as TL, and a push that never comes
    const p2 = router.dispatch(call(q, c))
    await new Promise((r) => setTimeout(r, 100))
    bridge.completeDeferred({ authKeyId: PERM, sessionId: c.sessionId, msgId: c.msgId }, { result: encode({ _: 'rpc_error', error_code: 400, error_message: 'PEER_ID_INVALID' } as TlObject) })
    assert.deepEqual(await p2, { kind: 'error', code: 400, message: 'PEER_ID_INVALID' })
    assert.deepEqual(await router.dispatch(call(q, c)), { kind: 'error', code: -503, message: 'Timeout' })
  } finally {
    bridge.close()
  }
})

test("methods no route matches get Teamgram's fake results when unrouted is none or teamgram-bff, else go to unrouted", async () => {
  const fake = bridgeOf(yaml())
  try {
    assert.deepEqual(await fake.router.dispatch(call({ _: 'langpack.getLanguages', lang_pack: 'android' } as TlObject)), { kind: 'result', result: [], method: 'langpack.getLanguages' })
    const pw = await fake.router.dispatch(call({ _: 'account.getPassword' } as TlObject))
    assert.equal(pw.kind, 'result')
    assert.equal(((pw as { result: { new_algo: { g: number } } }).result).new_algo.g, 3)
    assert.deepEqual(await fake.router.dispatch(call({ _: 'contacts.getContacts', hash: 0n } as TlObject)), { kind: 'error', code: 400, message: 'INPUT_METHOD_INVALID' })
  } finally {
    fake.bridge.close()
  }
  const other = bridgeOf({ ...yaml(), upstreams: [{ name: 'bff', kind: 'teamgram-bff', targets: [bff.address] }, { name: 'own', targets: ['127.0.0.1:1'], deadline_ms: 300 }], unrouted: 'own' })
  try {
    assert.deepEqual(await other.router.dispatch(call({ _: 'langpack.getLanguages', lang_pack: 'android' } as TlObject)), { kind: 'error', code: 500, message: 'INTERNAL' })
  } finally {
    other.bridge.close()
  }
})

test('every fake result is a result of its method in the newest layer', () => {
  for (const method of Object.keys(TEAMGRAM_FAKE_RESULTS)) {
    const v = teamgramFakeResult(method, { lang_code: 'en', from_version: 3 })
    assert.ok(encodeTlResult(method as TlMethodName, v as never).length >= 4, method)
  }
})
