import { test } from 'node:test'
import assert from 'node:assert/strict'
import { encode, OLDEST_LAYER, registryForLayer, type TlAnyObject, type TlObject } from '../../src/tl/index.js'
import { round, results, start } from './session-helpers.js'

test('invokeWithLayer older than the oldest vendored layer → 400 LAYER_INVALID, not dispatched, layer not kept', async () => {
  const { r, c } = await start()
  c.send({ _: 'invokeWithLayer', layer: OLDEST_LAYER - 1, query: { _: 'help.getConfig' } } as TlObject)
  const got = results(await round(r))
  assert.deepEqual(got[0]!.obj, { _: 'rpc_error', error_code: 400, error_message: 'LAYER_INVALID' })
  assert.equal(r.dispatcher.calls.length, 0)
  c.send({ _: 'help.getNearestDc' })
  await round(r)
  assert.equal(r.dispatcher.calls[0]!.ctx.layer, undefined)
})

test('a layer-130 client: its query is read in 130 and handed on in the newest shape; its result is written in 130', async () => {
  const { r, c } = await start()
  const seen: TlAnyObject[] = []
  r.dispatcher.handlers.set('users.getUsers', (call) => {
    seen.push(call.query as TlAnyObject)
    return { kind: 'error', code: 400, message: 'USER_ID_INVALID' }
  })
  r.dispatcher.handlers.set('contacts.resolveUsername', () => ({
    kind: 'result',
    method: 'contacts.resolveUsername',
    result: { _: 'contacts.resolvedPeer', peer: { _: 'peerUser', user_id: 5n }, chats: [], users: [{ _: 'user', id: 5n, first_name: 'Old', username: 'old' }] },
  }))
  const reg130 = registryForLayer(130)
  // inputUser.user_id is an int in layer 130, a long in the newest
  const old = { _: 'invokeWithLayer', layer: 130, query: { _: 'users.getUsers', id: [{ _: 'inputUser', user_id: 5, access_hash: 7n }] } }
  c.send(encode(old as TlAnyObject, reg130))
  await round(r)
  assert.deepEqual(seen, [{ _: 'users.getUsers', id: [{ _: 'inputUser', user_id: 5n, access_hash: 7n }] }])
  c.send(encode({ _: 'contacts.resolveUsername', username: 'old' }, reg130))
  const got = results(await round(r))
  const res = got[0]!.obj as unknown as { _: string; peer: { user_id: unknown }; users: { _: string; id: unknown; first_name: string }[] }
  assert.equal(res._, 'contacts.resolvedPeer')
  assert.equal(res.peer.user_id, 5, 'peerUser of layer 130 (user_id:int)')
  assert.deepEqual(
    res.users.map((u) => [u._, u.id, u.first_name]),
    [['user', 5, 'Old']],
  )
  assert.equal(r.dispatcher.calls[1]!.ctx.layer, 130)
})
