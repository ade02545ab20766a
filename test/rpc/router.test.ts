import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RpcError, RpcRouter } from '../../src/rpc/index.js'
import type { ClientInfo, RpcCall, RpcContext } from '../../src/session/api.js'
import type { TlObject } from '../../src/tl/index.js'

function ctx(client?: Partial<ClientInfo>): RpcContext {
  return {
    authKeyId: 0x1122334455667788n,
    authKeyType: 0,
    permAuthKeyId: 0x1122334455667788n,
    sessionId: 42n,
    msgId: 0x5f0000000000000cn,
    layer: 222,
    client:
      client === undefined
        ? undefined
        : {
            apiId: 4,
            deviceModel: 'd',
            systemVersion: 's',
            appVersion: 'a',
            systemLangCode: 'en',
            langPack: '',
            langCode: 'en',
            ...client,
          },
    connection: { gatewayId: 'g1', connId: 'c1', clientAddr: '127.0.0.1:5000', dcId: 2, transport: 'tcp' },
    withoutUpdates: false,
    userId: undefined,
  }
}

function call(query: TlObject | undefined, c: RpcContext = ctx({}), method = query?._ ?? '#deadbeef'): RpcCall {
  return { method, constructorId: 0, query, raw: Buffer.alloc(4), ctx: c }
}

const nearest = { _: 'nearestDc', country: 'ZZ', this_dc: 2, nearest_dc: 2 } as const

test('a registered handler gets the typed query and context; its result is the outcome', async () => {
  const r = new RpcRouter()
  let seen: RpcContext | undefined
  r.handle('help.getNearestDc', async (req, c) => {
    assert.equal(req._, 'help.getNearestDc')
    seen = c
    return nearest
  })
  const c = ctx({})
  const out = await r.dispatch(call({ _: 'help.getNearestDc' }, c))
  assert.deepEqual(out, { kind: 'result', result: nearest, method: 'help.getNearestDc' })
  assert.equal(seen, c)
})

test('a method whose result is bare (Bool, Vector<User>) may return the bare value; a boxed one may not', async () => {
  const user = { _: 'userEmpty', id: 5n } as const
  const r = new RpcRouter()
    .handle('account.updateStatus', () => true)
    .handle('users.getUsers', () => [user])
    .handle('help.getNearestDc', () => true as never)
  assert.deepEqual(await r.dispatch(call({ _: 'account.updateStatus', offline: false })), { kind: 'result', result: true, method: 'account.updateStatus' })
  assert.deepEqual(await r.dispatch(call({ _: 'users.getUsers', id: [] })), { kind: 'result', result: [user], method: 'users.getUsers' })
  assert.deepEqual(await r.dispatch(call({ _: 'help.getNearestDc' })), { kind: 'error', code: 500, message: 'INTERNAL' })
})

test('synchronous handlers work too, and handlers may set ctx.userId', async () => {
  const r = new RpcRouter().handle('help.getNearestDc', (_req, c) => {
    c.userId = 777n
    return nearest
  })
  const c = ctx({})
  const out = await r.dispatch(call({ _: 'help.getNearestDc' }, c))
  assert.equal(out.kind, 'result')
  assert.equal(c.userId, 777n)
})

test('RpcError thrown by a handler becomes rpc_error with its code and message', async () => {
  const r = new RpcRouter().handle('help.getNearestDc', () => {
    throw new RpcError(400, 'SOME_ERROR')
  })
  assert.deepEqual(await r.dispatch(call({ _: 'help.getNearestDc' })), { kind: 'error', code: 400, message: 'SOME_ERROR' })
  const f = new RpcRouter().handle('help.getNearestDc', async () => {
    throw RpcError.floodWait(2.5)
  })
  assert.deepEqual(await f.dispatch(call({ _: 'help.getNearestDc' })), { kind: 'error', code: 420, message: 'FLOOD_WAIT_3' })
})

test('unexpected exceptions and non-TL results become 500 INTERNAL, never a rejection', async () => {
  const r = new RpcRouter()
    .handle('help.getNearestDc', () => {
      throw new Error('boom')
    })
    .handle('help.getConfig', async () => {
      await Promise.resolve()
      throw 'a string'
    })
  assert.deepEqual(await r.dispatch(call({ _: 'help.getNearestDc' })), { kind: 'error', code: 500, message: 'INTERNAL' })
  assert.deepEqual(await r.dispatch(call({ _: 'help.getConfig' })), { kind: 'error', code: 500, message: 'INTERNAL' })
  const bad = new RpcRouter().handle('help.getNearestDc', (() => undefined) as never)
  assert.deepEqual(await bad.dispatch(call({ _: 'help.getNearestDc' })), { kind: 'error', code: 500, message: 'INTERNAL' })
})

test('no handler: configured rpc_error (default 400 INPUT_METHOD_INVALID); unknown constructors too', async () => {
  const r = new RpcRouter()
  assert.deepEqual(await r.dispatch(call({ _: 'help.getConfig' })), { kind: 'error', code: 400, message: 'INPUT_METHOD_INVALID' })
  assert.deepEqual(await r.dispatch(call(undefined)), { kind: 'error', code: 400, message: 'INPUT_METHOD_INVALID' })
  const c = new RpcRouter({ unknownMethodError: { code: 501, message: 'METHOD_NOT_IMPL' } })
  assert.deepEqual(await c.dispatch(call({ _: 'help.getConfig' })), { kind: 'error', code: 501, message: 'METHOD_NOT_IMPL' })
})

test('no handler with a fallback: the fallback answers (upstream forwarding)', async () => {
  const r = new RpcRouter()
  const seen: string[] = []
  r.setFallback(async (c) => {
    seen.push(c.method)
    return { kind: 'raw', body: Buffer.from([1, 2, 3, 4]) }
  })
  assert.deepEqual(await r.dispatch(call({ _: 'help.getConfig' })), { kind: 'raw', body: Buffer.from([1, 2, 3, 4]) })
  assert.deepEqual(await r.dispatch(call(undefined)), { kind: 'raw', body: Buffer.from([1, 2, 3, 4]) })
  assert.deepEqual(seen, ['help.getConfig', '#deadbeef'])
  r.setFallback(async () => {
    throw new Error('upstream down')
  })
  assert.deepEqual(await r.dispatch(call({ _: 'help.getConfig' })), { kind: 'error', code: 500, message: 'INTERNAL' })
})

test('api_id allow-list: other api_ids get 400 API_ID_INVALID, missing initConnection 400 CONNECTION_NOT_INITED', async () => {
  const r = new RpcRouter({ apiIds: [4, 2040] }).handle('help.getNearestDc', () => nearest)
  assert.equal((await r.dispatch(call({ _: 'help.getNearestDc' }, ctx({ apiId: 2040 })))).kind, 'result')
  assert.deepEqual(await r.dispatch(call({ _: 'help.getNearestDc' }, ctx({ apiId: 5 }))), {
    kind: 'error',
    code: 400,
    message: 'API_ID_INVALID',
  })
  assert.deepEqual(await r.dispatch(call({ _: 'help.getNearestDc' }, ctx())), {
    kind: 'error',
    code: 400,
    message: 'CONNECTION_NOT_INITED',
  })
  // an empty list allows any api_id
  const any = new RpcRouter({ apiIds: [] }).handle('help.getNearestDc', () => nearest)
  assert.equal((await any.dispatch(call({ _: 'help.getNearestDc' }, ctx()))).kind, 'result')
})

test('RpcError validates its arguments', () => {
  assert.throws(() => new RpcError(400, 'lower case'), RangeError)
  assert.throws(() => new RpcError(1.5, 'X'), RangeError)
  assert.equal(new RpcError(303, 'USER_MIGRATE_4').message, '303 USER_MIGRATE_4')
})
