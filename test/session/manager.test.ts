/**
 * SessionManager beyond one session: the per-permanent-key state in the store (user id, layer,
 * initConnection data: loaded with the key, saved on change only, never blocking a message), the
 * session control calls (createSession / closeSession) and forgetting keys that moved away.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { UnknownAuthKeyError } from '../../src/session/manager.js'
import { StoreError, type AuthKeyState } from '../../src/store/types.js'
import { encode, type TlObject } from '../../src/tl/index.js'
import { permKeyRecord, rig, settle, TestClient, unpack, type Got, type Rig } from './harness.js'

const nearest: TlObject = { _: 'help.getNearestDc' }
const nearestResult = (): { kind: 'result'; result: TlObject } => ({ kind: 'result', result: { _: 'nearestDc', country: 'NL', this_dc: 2, nearest_dc: 2 } })

function initConnection(apiId: number, query: TlObject, device = 'dev'): TlObject {
  return {
    _: 'initConnection',
    api_id: apiId,
    device_model: device,
    system_version: 'sys',
    app_version: '1.0',
    system_lang_code: 'en',
    lang_pack: '',
    lang_code: 'en',
    query,
  } as TlObject
}

const CLIENT = { apiId: 2040, deviceModel: 'stored', systemVersion: 'sys', appVersion: '1.0', systemLangCode: 'en', langPack: '', langCode: 'en' }

async function round(r: Rig): Promise<Got[]> {
  await settle()
  return unpack(r.link.take())
}

/** A client that learnt the salt and whose session exists (one ping answered). */
async function started(r: Rig, sessionId?: bigint, authKeyId?: bigint): Promise<TestClient> {
  const c = new TestClient(r, sessionId, authKeyId)
  await c.handshakeSalt()
  c.send({ _: 'ping', ping_id: 1n })
  await round(r)
  return c
}

/** A started client whose first call (layer 198, initConnection api_id 2040) a handler answers by binding user 7. */
async function signedIn(): Promise<{ r: Rig; c: TestClient }> {
  const r = await rig()
  r.dispatcher.handlers.set('help.getNearestDc', (call) => {
    call.ctx.userId = 7n
    return nearestResult()
  })
  const c = await started(r)
  c.send({ _: 'invokeWithLayer', layer: 198, query: initConnection(2040, nearest) } as TlObject)
  await round(r)
  await settle()
  return { r, c }
}

test('key state: loaded with the key — user id, layer and client info reach ctx; pushToUser finds the key', async () => {
  const r = await rig()
  await r.store.saveState(r.key.id, { userId: 42n, layer: 181, client: JSON.stringify(CLIENT) })
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  const c = await started(r)
  c.send(nearest)
  await round(r)
  const ctx = r.dispatcher.calls[0]!.ctx
  assert.equal(ctx.userId, 42n)
  assert.equal(ctx.layer, 181)
  assert.deepEqual(ctx.client, CLIENT)
  assert.equal(r.manager.userIdOf(r.key.id), 42n)
  assert.equal(r.manager.pushToUser(42n, encode({ _: 'updatesTooLong' })), 1)
  // loading the state wrote nothing back
  assert.equal(r.manager.stats.stateSaves, 0)
})

test('key state: saved when a handler binds / clears the user, and when layer or initConnection data change', async () => {
  const { r, c } = await signedIn()
  const s = (await r.store.loadState(r.key.id)) as AuthKeyState
  assert.equal(s.userId, 7n)
  assert.equal(s.layer, 198)
  assert.equal(JSON.parse(s.client!).apiId, 2040)
  assert.equal(r.manager.pushToUser(7n, encode({ _: 'updatesTooLong' })), 1)

  // a new device model → saved again
  c.send({ _: 'invokeWithLayer', layer: 198, query: initConnection(2040, nearest, 'other') } as TlObject)
  await round(r)
  await settle()
  assert.equal(JSON.parse((await r.store.loadState(r.key.id))!.client!).deviceModel, 'other')

  // sign-out: the handler clears the user
  r.dispatcher.handlers.set('help.getNearestDc', (call) => {
    call.ctx.userId = undefined
    return nearestResult()
  })
  c.send(nearest)
  await round(r)
  await settle()
  assert.equal((await r.store.loadState(r.key.id))!.userId, undefined)
  assert.equal(r.manager.pushToUser(7n, encode({ _: 'updatesTooLong' })), 0)
})

test('key state: not saved when nothing changed (same layer, same initConnection, same user)', async () => {
  const { r, c } = await signedIn()
  const saves = r.manager.stats.stateSaves
  assert.ok(saves >= 1 && saves <= 3, `saves: ${saves}`)
  for (let i = 0; i < 5; i++) {
    c.send({ _: 'invokeWithLayer', layer: 198, query: initConnection(2040, nearest) } as TlObject)
    c.send(nearest)
  }
  await round(r)
  await settle()
  assert.equal(r.dispatcher.calls.length, 11)
  assert.equal(r.manager.stats.stateSaves, saves)
})

test('key state: a failing save is logged and counted, the answer still goes out; a later change saves again', async () => {
  const r = await rig()
  let fail = true
  const realSave = r.store.saveState.bind(r.store)
  r.store.saveState = async (id, st) => {
    if (fail) throw new StoreError('unavailable', 'database down')
    return realSave(id, st)
  }
  r.dispatcher.handlers.set('help.getNearestDc', (call) => {
    call.ctx.userId = (call.ctx.userId ?? 0n) + 1n
    return nearestResult()
  })
  const c = await started(r)
  c.send(nearest)
  const got = await round(r)
  assert.equal(got.filter((g) => g.reqMsgId !== undefined).length, 1)
  await settle()
  assert.equal(r.manager.stats.stateSaveFailures, 1)
  fail = false
  c.send(nearest)
  await round(r)
  await settle()
  assert.equal((await r.store.loadState(r.key.id))!.userId, 2n)
})

test('key state: a store that cannot load the state fails the key load (a save must not overwrite what it could not read)', async () => {
  const r = await rig()
  await r.store.saveState(r.key.id, { userId: 42n })
  r.store.loadState = async () => {
    throw new StoreError('unavailable', 'database down')
  }
  const c = new TestClient(r)
  c.send(nearest)
  await round(r)
  assert.equal(r.manager.sessionCount, 0)
  assert.equal(r.manager.stats.stateSaves, 0)
  assert.equal((await r.store.get(r.key.id))?.id, r.key.id)
})

test('key state: a stored client that is not a ClientInfo is ignored (logged), the rest is used', async () => {
  const r = await rig()
  await r.store.saveState(r.key.id, { userId: 5n, client: '{"nope":1}' })
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  const c = await started(r)
  c.send(nearest)
  await round(r)
  assert.equal(r.dispatcher.calls[0]!.ctx.userId, 5n)
  assert.equal(r.dispatcher.calls[0]!.ctx.client, undefined)
})

test('createSession: loads the key, creates the session once (true, then false); the client then gets no second new_session_created', async () => {
  const r = await rig()
  assert.equal(await r.manager.createSession(r.key.id, 55n), true)
  assert.equal(await r.manager.createSession(r.key.id, 55n), false)
  assert.equal(r.manager.sessionCount, 1)
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  const c = new TestClient(r, 55n)
  c.salt = r.manager.saltOf(r.key.id)!
  c.send(nearest)
  const got = await round(r)
  const created = got.filter((g) => g.obj._ === 'new_session_created')
  assert.equal(created.length, 1)
  assert.equal((created[0]!.obj as { first_msg_id: bigint }).first_msg_id, 0n)
  assert.equal(got.filter((g) => g.reqMsgId !== undefined).length, 1)
  assert.equal(r.manager.sessionCount, 1)
})

test('createSession on an unknown key rejects with UnknownAuthKeyError; closeSession forgets one session only', async () => {
  const r = await rig()
  await assert.rejects(r.manager.createSession(permKeyRecord(99).id, 1n), UnknownAuthKeyError)
  const a = await started(r, 1n)
  await started(r, 2n)
  assert.equal(r.manager.sessionCount, 2)
  assert.equal(r.manager.closeSession(r.key.id, 1n), true)
  assert.equal(r.manager.closeSession(r.key.id, 1n), false)
  assert.equal(r.manager.closeSession(permKeyRecord(99).id, 1n), false)
  assert.equal(r.manager.sessionCount, 1)
  assert.equal(r.manager.session(r.key.id, 2n)?.id, 2n)
  // no connection closed
  assert.deepEqual(r.link.closed, [])
  // the closed session's next message starts a new one
  a.send(nearest)
  const got = await round(r)
  assert.equal(got.filter((g) => g.obj._ === 'new_session_created').length, 1)
})

test('forgetKeys: drops the keys not kept (sessions, info, user index) without telling the gateway; a reload starts clean', async () => {
  const r = await rig()
  const other = permKeyRecord(2)
  await r.store.put(other)
  r.dispatcher.handlers.set('help.getNearestDc', (call) => {
    call.ctx.userId = 9n
    return nearestResult()
  })
  const c = await started(r)
  c.send(nearest)
  await round(r)
  await settle()
  await started(r, 5n, other.id)
  assert.equal(r.manager.sessionCount, 2)
  const dropped = r.manager.forgetKeys((id) => id === other.id)
  assert.deepEqual(dropped, { keys: 1, sessions: 1 })
  assert.deepEqual(r.manager.loadedKeys(), [other.id])
  assert.equal(r.manager.pushToUser(9n, encode({ _: 'updatesTooLong' })), 0)
  assert.deepEqual(r.link.forgotten, [])
  // back again: a new session (new_session_created), and the user id comes from the store
  c.send(nearest)
  const got = await round(r)
  assert.equal(got.filter((g) => g.obj._ === 'new_session_created').length, 1)
  assert.equal(r.manager.userIdOf(r.key.id), 9n)
})
