import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MAX_WRAPPER_DEPTH, unwrapQuery } from '../../src/session/unwrap.js'
import { encode, type TlObject } from '../../src/tl/index.js'
import { gzipPacked, rig, settle, TestClient } from './harness.js'
import { start, round, results, getConfig, nearest, nearestResult, initConnection, type RpcCallLike } from './session-helpers.js'

test('a gzip_packed query is unpacked before dispatch', async () => {
  const { r, c } = await start()
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  c.send(gzipPacked(nearest))
  const got = results(await round(r))
  assert.equal(got[0]!.obj._, 'nearestDc')
  assert.equal(r.dispatcher.calls[0]!.method, 'help.getNearestDc')
})

test('invokeWithLayer(initConnection(q)): layer and client info reach ctx and stick to the key', async () => {
  const { r, c } = await start()
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  c.send({ _: 'invokeWithLayer', layer: 198, query: initConnection(2040, nearest) } as TlObject)
  const got = results(await round(r))
  assert.equal(got[0]!.obj._, 'nearestDc')
  const call = r.dispatcher.calls[0]!
  assert.equal(call.method, 'help.getNearestDc')
  assert.equal(call.ctx.layer, 198)
  assert.deepEqual(call.ctx.client, {
    apiId: 2040,
    deviceModel: 'dev',
    systemVersion: 'sys',
    appVersion: '1.0',
    systemLangCode: 'en',
    langPack: '',
    langCode: 'en',
    proxy: { address: 'proxy.example', port: 443 },
    params: { tz: 1 },
  })
  // a second session of the same key inherits layer and client info
  const c2 = new TestClient(r, 999n)
  c2.salt = c.salt
  c2.send(nearest)
  await round(r)
  assert.equal(r.dispatcher.calls[1]!.ctx.layer, 198)
  assert.equal(r.dispatcher.calls[1]!.ctx.client?.apiId, 2040)
})

test('initConnection with an api_id the configuration rejects → 400 API_ID_INVALID, not dispatched', async () => {
  const { r, c } = await start({ allowApiId: (id) => id === 1 })
  c.send(initConnection(5, nearest))
  const got = results(await round(r))
  assert.deepEqual(got[0]!.obj, { _: 'rpc_error', error_code: 400, error_message: 'API_ID_INVALID' })
  assert.equal(r.dispatcher.calls.length, 0)
})

test('invokeAfterMsg waits for the awaited query; a failed one gives MSG_WAIT_FAILED', async () => {
  const { r, c } = await start()
  let release: () => void = () => {}
  const gate = new Promise<void>((res) => (release = res))
  const order: string[] = []
  r.dispatcher.handlers.set('help.getConfig', async () => {
    await gate
    order.push('first')
    return { kind: 'error', code: 420, message: 'FLOOD_WAIT_1' }
  })
  r.dispatcher.handlers.set('help.getNearestDc', () => {
    order.push('second')
    return nearestResult()
  })
  const first = c.send(getConfig)
  c.send({ _: 'invokeAfterMsg', msg_id: first, query: nearest } as TlObject)
  const c2 = c.send({ _: 'invokeAfterMsgs', msg_ids: [first], query: nearest } as TlObject)
  await settle()
  assert.deepEqual(order, [])
  release()
  const got = results(await round(r))
  assert.deepEqual(order, ['first'])
  const waited = got.find((g) => g.reqMsgId === c2)!
  assert.deepEqual(waited.obj, { _: 'rpc_error', error_code: 400, error_message: 'MSG_WAIT_FAILED' })
  // after a successful one, the waiting query runs
  r.dispatcher.handlers.set('help.getConfig', () => nearestResult())
  const ok = c.send(getConfig)
  c.send({ _: 'invokeAfterMsg', msg_id: ok, query: nearest } as TlObject)
  const got2 = results(await round(r))
  assert.equal(got2.filter((g) => g.obj._ === 'nearestDc').length, 2)
  assert.deepEqual(order, ['first', 'second'])
})

test('invokeWithTakeout and invokeWithMessagesRange get reasoned rpc_errors', async () => {
  const { r, c } = await start()
  c.send({ _: 'invokeWithTakeout', takeout_id: 1n, query: nearest } as TlObject)
  c.send({ _: 'invokeWithMessagesRange', range: { _: 'messageRange', min_id: 1, max_id: 2 }, query: nearest } as TlObject)
  const got = results(await round(r)).map((g) => g.obj)
  assert.deepEqual(got, [
    { _: 'rpc_error', error_code: 400, error_message: 'TAKEOUT_INVALID' },
    { _: 'rpc_error', error_code: 400, error_message: 'RANGES_INVALID' },
  ])
  assert.equal(r.dispatcher.calls.length, 0)
})

test('invokeWithoutUpdates: sessions that only use it get no pushes; ctx says so', async () => {
  const r = await rig()
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  const a = new TestClient(r, 1n)
  await a.handshakeSalt()
  const b = new TestClient(r, 2n)
  b.salt = a.salt
  b.connId = 'c2'
  a.send({ _: 'invokeWithoutUpdates', query: nearest } as TlObject)
  b.send(nearest)
  await round(r)
  assert.equal(r.dispatcher.calls.find((x) => x.ctx.sessionId === 1n)!.ctx.withoutUpdates, true)
  const n = r.manager.pushToAuthKey(r.key.id, encode({ _: 'updatesTooLong' }))
  assert.equal(n, 1)
  const got = await round(r)
  const pushes = got.filter((g) => g.obj._ === 'updatesTooLong')
  assert.equal(pushes.length, 1)
  assert.equal(pushes[0]!.sessionId, 2n)
  assert.equal(pushes[0]!.msgId & 3n, 3n, 'not a response: ≡ 3 mod 4')
  assert.equal(pushes[0]!.seqNo % 2, 1)
})

test('the call keeps its own copy of the query: the gateway may reuse its buffer after sendData', async () => {
  const { r, c } = await start()
  let seen: RpcCallLike | undefined
  r.dispatcher.handlers.set('help.getNearestDc', async (call) => {
    await settle()
    seen = { raw: Buffer.from(call.raw), query: call.query }
    return nearestResult()
  })
  r.dispatcher.handlers.set('help.getConfig', async () => {
    await settle()
    return nearestResult()
  })
  const first = c.send(getConfig)
  const body = encode({ _: 'invokeAfterMsg', msg_id: first, query: nearest } as TlObject)
  c.send(body)
  body.fill(0)
  for (let i = 0; i < 4 && !seen; i++) await round(r)
  assert.deepEqual(seen?.raw, encode(nearest))
  assert.deepEqual(seen?.query, nearest)
})

test('invokeAfterMsg on a query that already failed earlier → MSG_WAIT_FAILED; on a finished good one it runs', async () => {
  const { r, c } = await start()
  r.dispatcher.handlers.set('help.getNearestDc', nearestResult)
  const bad = c.send(getConfig) // no handler: METHOD_INVALID
  const good = c.send(nearest)
  await round(r)
  const a = c.send({ _: 'invokeAfterMsg', msg_id: bad, query: nearest } as TlObject)
  const b = c.send({ _: 'invokeAfterMsg', msg_id: good, query: nearest } as TlObject)
  const got = results(await round(r))
  assert.deepEqual(got.find((g) => g.reqMsgId === a)!.obj, { _: 'rpc_error', error_code: 400, error_message: 'MSG_WAIT_FAILED' })
  assert.equal(got.find((g) => g.reqMsgId === b)!.obj._, 'nearestDc')
})


// ---------------------------------------------------------------------------------------------
// unwrapQuery
// ---------------------------------------------------------------------------------------------

const everyApiId = (): boolean => true

test('unwrapQuery: a bare query comes back as it is, nothing announced', () => {
  const body = encode(getConfig)
  const u = unwrapQuery(body, everyApiId)
  assert.equal(u.error, undefined)
  assert.deepEqual(u.raw, body)
  assert.equal(u.layer, undefined)
  assert.equal(u.client, undefined)
  assert.equal(u.withoutUpdates, false)
  assert.equal(u.waitFor, undefined)
})

test('unwrapQuery: invokeWithLayer(initConnection(invokeWithoutUpdates(invokeAfterMsgs(invokeAfterMsg(q)))))', () => {
  const body = encode({
    _: 'invokeWithLayer',
    layer: 198,
    query: initConnection(7, {
      _: 'invokeWithoutUpdates',
      query: { _: 'invokeAfterMsgs', msg_ids: [4n, 8n], query: { _: 'invokeAfterMsg', msg_id: 12n, query: nearest } },
    } as TlObject),
  } as TlObject)
  const u = unwrapQuery(body, everyApiId)
  assert.equal(u.error, undefined)
  assert.deepEqual(u.raw, encode(nearest))
  assert.equal(u.layer, 198)
  assert.equal(u.withoutUpdates, true)
  assert.deepEqual(u.waitFor, [4n, 8n, 12n])
  assert.deepEqual(u.client, {
    apiId: 7,
    deviceModel: 'dev',
    systemVersion: 'sys',
    appVersion: '1.0',
    systemLangCode: 'en',
    langPack: '',
    langCode: 'en',
    proxy: { address: 'proxy.example', port: 443 },
    params: { tz: 1 },
  })
})

test('unwrapQuery: a gzip_packed query and a gzip_packed wrapped query are inflated', () => {
  const inner = encode(nearest)
  assert.deepEqual(unwrapQuery(gzipPacked(nearest), everyApiId).raw, inner)
  const v = unwrapQuery(gzipPacked({ _: 'invokeWithLayer', layer: 5, query: nearest } as TlObject), everyApiId)
  assert.equal(v.layer, 5)
  assert.deepEqual(v.raw, inner)
})

test('unwrapQuery: refusals carry the rpc_error and keep what the outer wrappers announced', () => {
  const denied = unwrapQuery(encode({ _: 'invokeWithLayer', layer: 198, query: initConnection(9, nearest) } as TlObject), (id) => id !== 9)
  assert.deepEqual({ code: denied.error?.code, message: denied.error?.message }, { code: 400, message: 'API_ID_INVALID' })
  assert.equal(denied.layer, 198)
  assert.equal(denied.client, undefined)
  assert.equal(unwrapQuery(Buffer.alloc(0), everyApiId).error?.message, 'INPUT_REQUEST_INVALID')
  assert.equal(unwrapQuery(encode({ _: 'invokeWithTakeout', takeout_id: 1n, query: nearest } as TlObject), everyApiId).error?.message, 'TAKEOUT_INVALID')
  const truncated = encode({ _: 'invokeAfterMsg', msg_id: 1n, query: nearest } as TlObject).subarray(0, 8)
  const bad = unwrapQuery(truncated, everyApiId)
  assert.equal(bad.error?.message, 'INPUT_REQUEST_INVALID')
  assert.match(bad.error!.reason, /^malformed wrapper/)
  let deep: TlObject = nearest
  for (let i = 0; i <= MAX_WRAPPER_DEPTH; i++) deep = { _: 'invokeWithoutUpdates', query: deep } as TlObject
  assert.equal(unwrapQuery(encode(deep), everyApiId).error?.reason, 'too many nested wrappers')
  let ok: TlObject = nearest
  for (let i = 0; i < MAX_WRAPPER_DEPTH; i++) ok = { _: 'invokeWithoutUpdates', query: ok } as TlObject
  assert.equal(unwrapQuery(encode(ok), everyApiId).error, undefined)
})

test('initConnection params: an object of another type where a jsonObjectValue belongs is skipped, not a crash', () => {
  const body = encode({
    _: 'initConnection',
    api_id: 4,
    device_model: 'd',
    system_version: 's',
    app_version: 'a',
    system_lang_code: 'en',
    lang_pack: '',
    lang_code: 'en',
    params: { _: 'jsonObject', value: [{ _: 'help.getConfig' } as never, { _: 'jsonObjectValue', key: 'k', value: { _: 'jsonNumber', value: 1 } }] },
    query: { _: 'help.getConfig' },
  })
  const u = unwrapQuery(body, () => true)
  assert.equal(u.error, undefined)
  assert.deepEqual(u.client?.params, { k: 1 })
})
