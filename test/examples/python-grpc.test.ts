/**
 * The Python example backend (examples/python/backend.py) over gRPC, as mtgate's upstream bridge
 * calls it: Invoke with newest-layer TL built and read by mtgate's codec, the key binding in the
 * reply, pushes received by a stand-in for mtgate's Mtgate service, the state file across a
 * restart, and --delay-ms past the call's deadline.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import type { InvokeReplyIn } from '../../src/rpc/upstream-wire.js'
import { upstreamProto, type UpstreamClient } from '../../src/rpc/upstream.js'
import { decode, decodeResult, encode, type TlObject } from '../../src/tl/index.js'
import { freePort } from '../helpers/services.js'
import { invokeRequest } from '../helpers/upstream.js'
import { waitFor } from '../helpers/wait.js'
import type { ExampleBackend } from './backend.js'
import { startPythonBackend } from './python-backend.js'

type Obj = Record<string, unknown> & { _: string }
const obj = (o: Record<string, unknown>) => o as unknown as TlObject

interface Pushed {
  userId: string
  exceptAuthKeyId: string
  updates: Obj
}

/** A stand-in for mtgate's Mtgate service: records Push calls, answers sessions = 1. */
async function startMtgateStub(): Promise<{ address: string; pushes: Pushed[]; stop(): void }> {
  const server = new grpc.Server()
  const pushes: Pushed[] = []
  server.addService(upstreamProto().mtgate, {
    Push: (call: grpc.ServerUnaryCall<{ userId: string; exceptAuthKeyId: string; updates: Buffer }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const { userId, exceptAuthKeyId, updates } = call.request
      pushes.push({ userId, exceptAuthKeyId, updates: decode(updates) as unknown as Obj })
      cb(null, { sessions: '1', delivered: false })
    },
  })
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))))
  return { address: `127.0.0.1:${port}`, pushes, stop: () => server.forceShutdown() }
}

const PHONE_A = '+15550100'
const PHONE_B = '+15550101'

describe('examples/python/backend.py over gRPC', () => {
  let dir: string
  let mtgate: Awaited<ReturnType<typeof startMtgateStub>>
  let backend: ExampleBackend
  let client: UpstreamClient
  let msgId = 1n

  /** One Invoke as the bridge makes it: `userId` is the key's bound user (0n = none); the key's id is 100 + userId. */
  function invoke(userId: bigint, query: TlObject, deadlineMs = 5000): Promise<InvokeReplyIn> {
    const q = encode(query)
    const req = invokeRequest({
      authKeyId: 100n + userId,
      permAuthKeyId: 100n + userId,
      sessionId: 7n,
      msgId: msgId++,
      userId,
      layer: 229,
      clientIp: '127.0.0.1',
      clientPort: 40000,
      dcId: 2,
      deadlineMs: Date.now() + deadlineMs,
      method: (query as unknown as Obj)._,
      constructorId: q.readUInt32LE(0),
      query: q,
      transport: 'TRANSPORT_TCP',
      gatewayId: 'test',
    })
    return new Promise((resolve, reject) =>
      client.Invoke(req, new grpc.Metadata(), { deadline: new Date(Date.now() + deadlineMs) }, (err, res) => (err ? reject(err) : resolve(res!))),
    )
  }

  /** The result of a successful call, decoded as the method's result. */
  async function call(userId: bigint, query: Record<string, unknown> & { _: string }): Promise<Obj> {
    const reply = await invoke(userId, obj(query))
    assert.equal(reply.outcome, 'result', `${query._}: ${JSON.stringify(reply.rpcError)}`)
    return decodeResult(query._ as never, reply.result!) as unknown as Obj
  }

  async function rpcError(userId: bigint, query: Record<string, unknown>): Promise<string> {
    const reply = await invoke(userId, obj(query))
    assert.equal(reply.outcome, 'rpcError')
    return `${reply.rpcError!.code} ${reply.rpcError!.message}`
  }

  async function signIn(phone: string): Promise<{ reply: InvokeReplyIn; user: Obj }> {
    const sent = await call(0n, { _: 'auth.sendCode', phone_number: phone, api_id: 4, api_hash: 'h', settings: { _: 'codeSettings' } })
    const reply = await invoke(0n, obj({ _: 'auth.signIn', phone_number: phone, phone_code_hash: sent['phone_code_hash'], phone_code: '12345' }))
    const auth = decodeResult('auth.signIn', reply.result!) as unknown as Obj
    return { reply, user: auth['user'] as Obj }
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mtgate-py-backend-'))
    mtgate = await startMtgateStub()
    const listen = `127.0.0.1:${await freePort()}`
    backend = await startPythonBackend({ listen, mtgate: mtgate.address, stateFile: join(dir, 'state.json') })
    client = new (upstreamProto().Client)(listen, grpc.credentials.createInsecure())
  })
  after(async () => {
    client?.close()
    await backend?.stop()
    mtgate?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('a key with no user, or with a user the backend does not know: 401 AUTH_KEY_UNREGISTERED for every method of the table but sign-in and help.getAppConfig; 400 INPUT_METHOD_INVALID for one outside it', async () => {
    assert.equal(await rpcError(0n, { _: 'users.getUsers', id: [{ _: 'inputUserSelf' }] }), '401 AUTH_KEY_UNREGISTERED')
    assert.equal(await rpcError(0n, { _: 'updates.getState' }), '401 AUTH_KEY_UNREGISTERED')
    assert.equal(await rpcError(0n, { _: 'help.getCountriesList', lang_code: 'en', hash: 0 }), '400 INPUT_METHOD_INVALID')
    assert.equal(await rpcError(1000n, { _: 'updates.getState' }), '401 AUTH_KEY_UNREGISTERED')
    assert.equal(await rpcError(0n, { _: 'auth.sendCode', phone_number: '+', api_id: 4, api_hash: 'h', settings: { _: 'codeSettings' } }), '400 PHONE_NUMBER_INVALID')
  })

  it('help.getAppConfig: the fixed help.appConfig (2064 bytes of TL), signed in or not, whatever the hash', async () => {
    for (const [userId, hash] of [[0n, 0], [0n, 0x6d746761], [4242n, 7]] as const) {
      const reply = await invoke(userId, obj({ _: 'help.getAppConfig', hash }))
      assert.equal(reply.outcome, 'result')
      assert.equal(reply.result!.length, 2064)
      const cfg = decodeResult('help.getAppConfig', reply.result!) as unknown as Obj
      assert.equal(cfg._, 'help.appConfig')
      assert.equal(cfg['hash'], 0x6d746761)
      const values = (cfg['config'] as Obj)['value'] as Obj[]
      assert.equal(values.length, 42)
      assert.deepEqual(values[2], { _: 'jsonObjectValue', key: 'emojies_send_dice', value: { _: 'jsonArray', value: ['🎲', '🎯', '🏀', '⚽', '🎰', '🎳'].map((v) => ({ _: 'jsonString', value: v })) } })
      assert.deepEqual(values[6], { _: 'jsonObjectValue', key: 'stickers_emoji_suggest_only_api', value: { _: 'jsonBool', value: false } })
      assert.deepEqual(values[7], { _: 'jsonObjectValue', key: 'stickers_emoji_cache_time', value: { _: 'jsonNumber', value: 86400 } })
    }
  })

  it('sign-in: wrong code, wrong hash, then the user with bind_user_id; the same phone signs in as the same user', async () => {
    const sent = await call(0n, { _: 'auth.sendCode', phone_number: PHONE_A, api_id: 4, api_hash: 'h', settings: { _: 'codeSettings' } })
    assert.equal(sent._, 'auth.sentCode')
    assert.deepEqual(sent['type'], { _: 'auth.sentCodeTypeApp', length: 5 })
    assert.match(sent['phone_code_hash'] as string, /^[0-9a-f]+$/)
    const signIn0 = (hash: unknown, code: string) => rpcError(0n, { _: 'auth.signIn', phone_number: PHONE_A, phone_code_hash: hash, phone_code: code })
    assert.equal(await signIn0(sent['phone_code_hash'], '54321'), '400 PHONE_CODE_INVALID')
    assert.equal(await signIn0('beef', '12345'), '400 PHONE_CODE_EXPIRED')

    const a = await signIn(PHONE_A)
    assert.equal(a.reply.bindUserId, 1000n)
    assert.equal(a.reply.unbindUser, false)
    assert.equal(a.user._, 'user')
    assert.equal(a.user['self'], true)
    assert.equal(a.user['id'], 1000n)
    assert.equal(a.user['access_hash'], 1000n * 7919n)
    assert.equal(a.user['phone'], PHONE_A.slice(1))
    assert.equal(a.user['first_name'], 'User 1000')

    const b = await signIn(PHONE_B)
    assert.equal(b.reply.bindUserId, 1001n)
    assert.equal((await signIn(PHONE_A.slice(1))).reply.bindUserId, 1000n)
    assert.equal(await rpcError(1000n, { _: 'help.getCountriesList', lang_code: 'en', hash: 0 }), '400 INPUT_METHOD_INVALID')
  })

  it('users.getUsers / users.getFullUser: self, another user by access_hash, unknown ids left out', async () => {
    const users = (await call(1000n, {
      _: 'users.getUsers',
      id: [{ _: 'inputUserSelf' }, { _: 'inputUser', user_id: 1001n, access_hash: 1001n * 7919n }, { _: 'inputUser', user_id: 4242n, access_hash: 1n }],
    })) as unknown as Obj[]
    assert.deepEqual(users.map((u) => [u['id'], u['self'], u['phone']]), [[1000n, true, PHONE_A.slice(1)], [1001n, false, undefined]])
    assert.equal(await rpcError(1000n, { _: 'users.getUsers', id: [{ _: 'inputUser', user_id: 1001n, access_hash: 1n }] }), '400 USER_ID_INVALID')
    const full = await call(1001n, { _: 'users.getFullUser', id: { _: 'inputUser', user_id: 1000n, access_hash: 1000n * 7919n } })
    assert.equal((full['full_user'] as Obj)['id'], 1000n)
    assert.equal(((full['users'] as Obj[])[0]!)['id'], 1000n)
    assert.equal(await rpcError(1001n, { _: 'users.getFullUser', id: { _: 'inputUser', user_id: 1000n, access_hash: 5n } }), '400 USER_ID_INVALID')
  })

  it('messages.sendMessage: updateShortSentMessage to the sender, updateShortMessage pushed to the recipient; pts per user, from 1', async () => {
    const peerB = { _: 'inputPeerUser', user_id: 1001n, access_hash: 1001n * 7919n }
    // a new user's pts is 1: an update's pts - pts_count is never below 1
    assert.equal((await call(1001n, { _: 'updates.getState' }))['pts'], 1)
    assert.equal(await rpcError(1000n, { _: 'messages.sendMessage', peer: { ...peerB, access_hash: 3n }, message: 'x', random_id: 1n }), '400 PEER_ID_INVALID')
    assert.equal(await rpcError(1000n, { _: 'messages.sendMessage', peer: peerB, message: '', random_id: 1n }), '400 MESSAGE_EMPTY')
    const sent = await call(1000n, { _: 'messages.sendMessage', peer: peerB, message: 'hello B', random_id: 2n })
    assert.equal(sent._, 'updateShortSentMessage')
    assert.equal(sent['out'], true)
    assert.equal(sent['pts'], 2)
    assert.equal(sent['pts_count'], 1)
    await waitFor(() => mtgate.pushes.length === 1, 5000, 'the push to B')
    const push = mtgate.pushes[0]!
    assert.equal(push.userId, '1001')
    assert.equal(push.updates._, 'updateShortMessage')
    assert.equal(push.updates['user_id'], 1000n)
    assert.equal(push.updates['out'], false)
    assert.equal(push.updates['message'], 'hello B')
    assert.equal(push.updates['id'], 1)
    assert.equal(push.updates['pts'], 2)
    assert.equal(push.exceptAuthKeyId, '0')

    // to oneself: one message, one pts step; pushed to the user's other keys
    const own = await call(1001n, { _: 'messages.sendMessage', peer: { _: 'inputPeerSelf' }, message: 'note', random_id: 3n })
    assert.equal(own['pts'], 3)
    assert.equal(own['id'], 2)
    await waitFor(() => mtgate.pushes.length === 2, 5000, 'the push to B itself')
    const self = mtgate.pushes[1]!
    assert.deepEqual([self.userId, self.exceptAuthKeyId], ['1001', '1101'])
    assert.deepEqual([self.updates['out'], self.updates['user_id'], self.updates['pts']], [true, 1001n, 3])
    assert.equal((await call(1001n, { _: 'updates.getState' }))['pts'], 3)
    assert.equal((await call(1000n, { _: 'updates.getState' }))['pts'], 2)
  })

  it('updates.getDifference: the messages after a pts, from the caller’s side; differenceEmpty when none', async () => {
    const diff = await call(1001n, { _: 'updates.getDifference', pts: 1, date: 0, qts: 0 })
    assert.equal(diff._, 'updates.difference')
    const messages = diff['new_messages'] as Obj[]
    assert.deepEqual(
      messages.map((m) => [m['message'], m['out'], (m['peer_id'] as Obj)['user_id']]),
      [
        ['hello B', false, 1000n],
        ['note', true, 1001n],
      ],
    )
    assert.deepEqual((diff['users'] as Obj[]).map((u) => u['id']), [1001n, 1000n])
    assert.equal((diff['state'] as Obj)['pts'], 3)
    const after1 = (await call(1001n, { _: 'updates.getDifference', pts: 2, date: 0, qts: 0 }))['new_messages'] as Obj[]
    assert.deepEqual(after1.map((m) => m['message']), ['note'])
    assert.equal((await call(1001n, { _: 'updates.getDifference', pts: 3, date: 0, qts: 0 }))._, 'updates.differenceEmpty')
  })

  it('restarted, it knows everyone from the state file; auth.logOut unbinds', async () => {
    await backend.kill()
    await backend.restart()
    const users = (await call(1001n, { _: 'users.getUsers', id: [{ _: 'inputUser', user_id: 1000n, access_hash: 1000n * 7919n }] })) as unknown as Obj[]
    assert.equal(users[0]!['first_name'], 'User 1000')
    assert.equal((await call(1000n, { _: 'updates.getState' }))['pts'], 2)
    assert.equal((await signIn(PHONE_B)).reply.bindUserId, 1001n)
    assert.equal((await call(1000n, { _: 'account.updateStatus', offline: false })) as unknown, true)
    const out = await invoke(1000n, obj({ _: 'auth.logOut' }))
    assert.equal(out.unbindUser, true)
    assert.equal(out.bindUserId, 0n)
    assert.equal((decodeResult('auth.logOut', out.result!) as unknown as Obj)._, 'auth.loggedOut')
  })

  it('--delay-ms past the deadline: the call ends at its deadline and has no effect', async () => {
    await backend.restart({ delayMs: 800 })
    const peerA = { _: 'inputPeerUser', user_id: 1000n, access_hash: 1000n * 7919n }
    const t0 = Date.now()
    await assert.rejects(
      invoke(1001n, obj({ _: 'messages.sendMessage', peer: peerA, message: 'late', random_id: 4n }), 300),
      (e: grpc.ServiceError) => e.code === grpc.status.DEADLINE_EXCEEDED,
    )
    assert.ok(Date.now() - t0 < 700)
    assert.equal((await call(1001n, { _: 'updates.getState' }))['pts'], 3)
    await backend.restart({ delayMs: 0 })
    assert.equal((await call(1000n, { _: 'updates.getState' }))['pts'], 2)
  })
})
