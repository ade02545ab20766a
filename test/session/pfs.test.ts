import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AuthKeyType } from '../../src/store/types.js'
import type { TlObject } from '../../src/tl/index.js'
import { buildBindMessage, permKeyRecord, rig, settle, TestClient, unpack } from './harness.js'

const nearest: TlObject = { _: 'help.getNearestDc' }

async function tempRig() {
  const r = await rig({}, AuthKeyType.temp)
  const perm = permKeyRecord(2)
  await r.store.put(perm)
  r.dispatcher.handlers.set('help.getNearestDc', () => ({ kind: 'result', result: { _: 'nearestDc', country: 'NL', this_dc: 2, nearest_dc: 2 } }))
  r.dispatcher.handlers.set('users.getFullUser', () => ({ kind: 'result', result: { _: 'boolTrue' } }))
  const c = new TestClient(r)
  await c.handshakeSalt()
  return { r, c, perm }
}

async function resultsOf(r: Awaited<ReturnType<typeof rig>>): Promise<TlObject[]> {
  await settle()
  return unpack(r.link.take())
    .filter((g) => g.reqMsgId !== undefined)
    .map((g) => g.obj)
}

test('an unbound temp key may only call bindTempAuthKey, help.getConfig, help.getNearestDc', async () => {
  const { r, c } = await tempRig()
  c.send(nearest)
  c.send({ _: 'users.getFullUser', id: { _: 'inputUserSelf' } })
  const got = await resultsOf(r)
  assert.equal(got.length, 2)
  assert.ok(got.some((o) => o._ === 'nearestDc'))
  assert.ok(got.some((o) => o._ === 'rpc_error' && o.error_code === 401 && o.error_message === 'AUTH_KEY_PERM_EMPTY'))
  assert.equal(r.dispatcher.calls.length, 1)
  assert.equal(r.dispatcher.calls[0]!.ctx.permAuthKeyId, undefined)
  assert.equal(r.dispatcher.calls[0]!.ctx.authKeyType, AuthKeyType.temp)
})

test('auth.bindTempAuthKey with a valid binding message binds temp → perm; later calls act for the perm key', async () => {
  const { r, c, perm } = await tempRig()
  const expiresAt = Math.floor(Date.now() / 1000) + 3600
  const msgId = c.nextMsgId()
  const em = await buildBindMessage(perm, r.key.id, c.sessionId, msgId, 777n, expiresAt)
  c.send({ _: 'auth.bindTempAuthKey', perm_auth_key_id: perm.id, nonce: 777n, expires_at: expiresAt, encrypted_message: em }, true, { msgId, seqNo: c.nextSeq(true) })
  assert.deepEqual(await resultsOf(r), [{ _: 'boolTrue' }])
  const b = await r.store.getBinding(r.key.id)
  assert.equal(b?.permId, perm.id)
  assert.equal(b?.expiresAt, r.key.expiresAt, 'the binding lasts as long as the temp key')
  c.send({ _: 'users.getFullUser', id: { _: 'inputUserSelf' } })
  assert.deepEqual(await resultsOf(r), [{ _: 'boolTrue' }])
  const call = r.dispatcher.calls[0]!
  assert.equal(call.ctx.permAuthKeyId, perm.id)
  assert.equal(call.ctx.authKeyId, r.key.id)
  // pushes addressed to the permanent key reach the temp key's session; so do user pushes bound via perm
  assert.equal(r.manager.pushToAuthKey(perm.id, Buffer.from([0x73, 0xf6, 0x03, 0xe3])), 1)
})

test('a binding message for another session (or a forged one) → ENCRYPTED_MESSAGE_INVALID, nothing bound', async () => {
  const { r, c, perm } = await tempRig()
  const expiresAt = Math.floor(Date.now() / 1000) + 3600
  const msgId = c.nextMsgId()
  const em = await buildBindMessage(perm, r.key.id, c.sessionId + 1n, msgId, 777n, expiresAt)
  c.send({ _: 'auth.bindTempAuthKey', perm_auth_key_id: perm.id, nonce: 777n, expires_at: expiresAt, encrypted_message: em }, true, { msgId, seqNo: c.nextSeq(true) })
  assert.deepEqual(await resultsOf(r), [{ _: 'rpc_error', error_code: 400, error_message: 'ENCRYPTED_MESSAGE_INVALID' }])
  assert.equal(await r.store.getBinding(r.key.id), undefined)
})

test('a temp key already bound to another permanent key → TEMP_AUTH_KEY_ALREADY_BOUND', async () => {
  const { r, c, perm } = await tempRig()
  const other = permKeyRecord(3)
  await r.store.put(other)
  await r.store.bind({ tempId: r.key.id, permId: other.id, type: AuthKeyType.temp, expiresAt: Math.floor(Date.now() / 1000) + 60 })
  const expiresAt = Math.floor(Date.now() / 1000) + 3600
  const msgId = c.nextMsgId()
  const em = await buildBindMessage(perm, r.key.id, c.sessionId, msgId, 1n, expiresAt)
  c.send({ _: 'auth.bindTempAuthKey', perm_auth_key_id: perm.id, nonce: 1n, expires_at: expiresAt, encrypted_message: em }, true, { msgId, seqNo: c.nextSeq(true) })
  assert.deepEqual(await resultsOf(r), [{ _: 'rpc_error', error_code: 400, error_message: 'TEMP_AUTH_KEY_ALREADY_BOUND' }])
})

test('a temp key bound before (store binding) acts for its permanent key after a restart', async () => {
  const r = await rig({}, AuthKeyType.temp)
  const perm = permKeyRecord(4)
  await r.store.put(perm)
  await r.store.bind({ tempId: r.key.id, permId: perm.id, type: AuthKeyType.temp, expiresAt: Math.floor(Date.now() / 1000) + 600 })
  r.dispatcher.handlers.set('users.getFullUser', () => ({ kind: 'result', result: { _: 'boolTrue' } }))
  const c = new TestClient(r)
  await c.handshakeSalt()
  c.send({ _: 'users.getFullUser', id: { _: 'inputUserSelf' } })
  assert.deepEqual(await resultsOf(r), [{ _: 'boolTrue' }])
  assert.equal(r.dispatcher.calls[0]!.ctx.permAuthKeyId, perm.id)
})

test('an expired temp key is forgotten (sessions dropped, gateway told), its messages are not processed', async () => {
  const r = await rig({}, AuthKeyType.temp)
  const c = new TestClient(r)
  await c.handshakeSalt()
  c.send(nearest)
  await settle()
  r.link.take()
  assert.equal(r.manager.sessionCount, 1)
  r.clock.set((r.key.expiresAt! + 1) * 1000)
  c.lastMsgId = 0n
  c.send(nearest)
  await settle()
  assert.deepEqual(r.link.take(), [])
  assert.equal(r.manager.sessionCount, 0)
  assert.deepEqual(r.link.forgotten, [r.key.id])
})
