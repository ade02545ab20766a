/**
 * The upstream bridge (src/rpc/upstream.ts) as the RpcRouter's fallback, against real gRPC
 * backends (test/helpers/upstream.ts): routing, the metadata a backend gets, binding, and the
 * answers under trouble (backend down, slow, saturated, restarted).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseConfig } from '../../src/config/index.js'
import { RpcRouter } from '../../src/rpc/router.js'
import { UpstreamBridge } from '../../src/rpc/upstream.js'
import type { RpcCall, RpcContext } from '../../src/session/api.js'
import { decode, encode, NEWEST_LAYER, type TlObject } from '../../src/tl/index.js'
import { pino } from 'pino'
import { startUpstream, type UpstreamHandler } from '../helpers/upstream.js'
import { freePort } from '../helpers/services.js'
import { waitFor } from '../helpers/wait.js'

const nearest = { _: 'nearestDc', country: 'UP', this_dc: 2, nearest_dc: 3 } as const

function ctx(): RpcContext {
  return {
    authKeyId: -0x1122334455667788n,
    authKeyType: 0,
    permAuthKeyId: -0x1122334455667788n,
    sessionId: 42n,
    msgId: 0x5f0000000000000cn,
    layer: 198,
    client: { apiId: 4, deviceModel: 'dev', systemVersion: 'sys', appVersion: '1.2', systemLangCode: 'de', langPack: 'android', langCode: 'fr' },
    connection: { gatewayId: 'g1', connId: 'c1', clientAddr: '[::1]:5000', dcId: 4, transport: 'ws' },
    withoutUpdates: true,
    userId: undefined,
  }
}

function call(query: TlObject | undefined, method = query?._ ?? '#deadbeef', c: RpcContext = ctx()): RpcCall {
  return { method, constructorId: 0x1fb33026, query, raw: Buffer.alloc(4), ctx: c }
}

/** A router with the bridge as its fallback, over the YAML sections given (targets filled in). */
function bridgeOf(yaml: Record<string, unknown>): { router: RpcRouter; bridge: UpstreamBridge; logs: string[] } {
  const config = parseConfig({ data_dir: '/tmp', ...yaml }, {})
  const logs: string[] = []
  const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(line) })
  const bridge = new UpstreamBridge(config.upstream, { unknownMethodError: config.unknownMethodError, log })
  const router = new RpcRouter({ log })
  router.setFallback((c) => bridge.dispatch(c))
  return { router, bridge, logs }
}

/** Calls until one gets a result (the channel reconnects with a backoff), at most `ms`. */
async function untilResult(router: RpcRouter, ms: number): Promise<number> {
  const t0 = Date.now()
  for (;;) {
    if ((await router.dispatch(call({ _: 'help.getNearestDc' }))).kind === 'result') return Date.now() - t0
    if (Date.now() - t0 > ms) throw new Error(`no result within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const answer: UpstreamHandler = (req) => {
  const q = decode(req.query) as TlObject
  if (q._ === 'help.getNearestDc') return { result: encode(nearest) }
  if (q._ === 'account.updateStatus') return { result: encode({ _: 'boolTrue' }) }
  return { rpcError: { code: 400, message: 'NOT_HERE' } }
}

test('routes by prefix (longest wins, TS handlers win, unrouted gets INPUT_METHOD_INVALID); the backend gets the query in the newest layer and the metadata', async () => {
  const a = await startUpstream(answer)
  const b = await startUpstream(answer)
  const { router, bridge } = bridgeOf({
    upstreams: [{ name: 'a', targets: [a.address] }, { name: 'b', targets: [b.address], deadline_ms: 700 }],
    routes: { 'help.': 'a', 'help.getNearestDc': 'b', 'account.': { upstream: 'a', deadline_ms: 60000 } },
  })
  try {
    router.handle('help.getConfig', () => {
      throw new Error('not called: help.getNearestDc has no handler here')
    })
    const t0 = Date.now()
    assert.deepEqual(await router.dispatch(call({ _: 'help.getNearestDc' })), { kind: 'result', result: nearest, method: 'help.getNearestDc' })
    assert.equal(b.requests.length, 1)
    assert.equal(a.requests.length, 0)
    const r = b.requests[0]!
    assert.deepEqual(r.query, encode({ _: 'help.getNearestDc' }))
    assert.equal(r.method, 'help.getNearestDc')
    assert.equal(r.constructorId, 0x1fb33026)
    assert.equal(r.authKeyId, String(-0x1122334455667788n))
    assert.equal(r.permAuthKeyId, String(-0x1122334455667788n))
    assert.equal(r.sessionId, '42')
    assert.equal(r.msgId, String(0x5f0000000000000cn))
    assert.equal(r.userId, '0')
    assert.equal(r.layer, 198)
    assert.deepEqual({ ...r.client }, { apiId: 4, deviceModel: 'dev', systemVersion: 'sys', appVersion: '1.2', systemLangCode: 'de', langPack: 'android', langCode: 'fr' })
    assert.equal(r.clientIp, '::1')
    assert.equal(r.clientPort, 5000)
    assert.equal(r.dcId, 4)
    assert.equal(r.transport, 'TRANSPORT_WEBSOCKET')
    assert.equal(r.gatewayId, 'g1')
    assert.equal(r.withoutUpdates, true)
    const deadline = Number(r.deadlineMs)
    assert.ok(deadline >= t0 + 700 && deadline <= Date.now() + 700, `deadline ${deadline - t0} ms after the call`)

    // a bare result (Bool) through the 'account.' route of upstream a; its route deadline
    assert.deepEqual(await router.dispatch(call({ _: 'account.updateStatus', offline: true })), { kind: 'result', result: true, method: 'account.updateStatus' })
    assert.ok(Number(a.requests[0]!.deadlineMs) - Date.now() > 50_000)
    assert.equal(bridge.routeOf('account.updateStatus')?.deadlineMs, 60000)
    assert.deepEqual(bridge.routeOf('help.getAppConfig'), { upstream: 'a', deadlineMs: 5000 })

    // the backend's rpc_error is passed through
    assert.deepEqual(await router.dispatch(call({ _: 'help.getAppConfig', hash: 0 })), { kind: 'error', code: 400, message: 'NOT_HERE' })
    // no route, no `unrouted`: unknown_method_error
    assert.deepEqual(await router.dispatch(call({ _: 'users.getUsers', id: [] })), { kind: 'error', code: 400, message: 'INPUT_METHOD_INVALID' })
    // a handler registered in code wins over the route
    router.handle('help.getNearestDc', () => ({ ...nearest, country: 'TS' }))
    const out = await router.dispatch(call({ _: 'help.getNearestDc' }))
    assert.equal(out.kind === 'result' && (out.result as { country: string }).country, 'TS')
    assert.equal(b.requests.length, 1)
    // a query no schema decodes, routed by `unrouted` or not: 400
    assert.deepEqual(await router.dispatch(call(undefined, 'help.#deadbeef')), { kind: 'error', code: 400, message: 'INPUT_REQUEST_INVALID' })
  } finally {
    bridge.close()
    await a.stop()
    await b.stop()
  }
})

test('unrouted: an upstream name sends every method without a route there; targets are called round-robin', async () => {
  const a = await startUpstream(answer)
  const b = await startUpstream(answer)
  const { router, bridge } = bridgeOf({ upstreams: [{ name: 'all', targets: [a.address, b.address] }], unrouted: 'all' })
  try {
    await waitFor(() => bridge.connectedTargets('all') === 2, 3000, 'both targets connected')
    for (let i = 0; i < 4; i++) assert.equal((await router.dispatch(call({ _: 'help.getNearestDc' }))).kind, 'result')
    assert.equal(a.requests.length, 2)
    assert.equal(b.requests.length, 2)
  } finally {
    bridge.close()
    await a.stop()
    await b.stop()
  }
})

test('a target that is down is passed over while another is up; it gets calls again once it is back', async () => {
  const gone = await startUpstream(answer)
  const deadPort = gone.port
  await gone.stop()
  const live = await startUpstream(answer)
  const { router, bridge } = bridgeOf({ upstreams: [{ name: 'u', targets: [`127.0.0.1:${deadPort}`, live.address] }], unrouted: 'u' })
  let back: Awaited<ReturnType<typeof startUpstream>> | undefined
  try {
    await waitFor(() => bridge.connectedTargets('u') === 1, 3000, 'the live target connected')
    for (let i = 0; i < 6; i++) assert.equal((await router.dispatch(call({ _: 'help.getNearestDc' }))).kind, 'result')
    assert.equal(live.requests.length, 6)
    back = await startUpstream(answer, '127.0.0.1', deadPort)
    await waitFor(() => bridge.connectedTargets('u') === 2, 5000, 'the target that came back connected')
    for (let i = 0; i < 4; i++) assert.equal((await router.dispatch(call({ _: 'help.getNearestDc' }))).kind, 'result')
    assert.equal(back.requests.length, 2)
  } finally {
    bridge.close()
    await live.stop()
    await back?.stop()
  }
})

test('bind_user_id sets ctx.userId (later calls carry it); unbind_user clears it', async () => {
  const up = await startUpstream((req) => {
    const q = decode(req.query) as TlObject
    if (q._ === 'auth.logOut') return { result: encode({ _: 'auth.loggedOut', flags: 0 } as unknown as TlObject), unbindUser: true }
    return { result: encode(nearest), bindUserId: req.userId === '0' ? 777n : 0n }
  })
  const { router, bridge } = bridgeOf({ upstreams: [{ name: 'u', targets: [up.address] }], unrouted: 'u' })
  try {
    const c = ctx()
    await router.dispatch(call({ _: 'help.getNearestDc' }, undefined, c))
    assert.equal(c.userId, 777n)
    await router.dispatch(call({ _: 'help.getNearestDc' }, undefined, c))
    assert.equal(up.requests[1]!.userId, '777')
    assert.equal(c.userId, 777n, 'bind_user_id 0 leaves it')
    assert.equal((await router.dispatch(call({ _: 'auth.logOut' }, undefined, c))).kind, 'result')
    assert.equal(c.userId, undefined)
  } finally {
    bridge.close()
    await up.stop()
  }
})

test('a reply that is not a result of the method, or a malformed rpc_error, or a failing backend: 500 INTERNAL', async () => {
  const up = await startUpstream((req) => {
    const q = decode(req.query) as TlObject
    if (q._ === 'help.getNearestDc') return { result: Buffer.from([1, 2, 3]) }
    if (q._ === 'help.getConfig') throw new Error('backend bug')
    return { rpcError: { code: 400, message: 'not an error message' } }
  })
  const { router, bridge } = bridgeOf({ upstreams: [{ name: 'u', targets: [up.address] }], unrouted: 'u' })
  try {
    const internal = { kind: 'error', code: 500, message: 'INTERNAL' }
    assert.deepEqual(await router.dispatch(call({ _: 'help.getNearestDc' })), internal)
    assert.deepEqual(await router.dispatch(call({ _: 'help.getConfig' })), internal)
    assert.deepEqual(await router.dispatch(call({ _: 'help.getAppConfig', hash: 0 })), internal)
  } finally {
    bridge.close()
    await up.stop()
  }
})

for (const stream of [false, true]) {
  test(`a reply that is not a well-formed InvokeReply fails its call${stream ? ' (and the stream it came on)' : ''}: 500 INTERNAL, logged; the next call succeeds`, async () => {
    let broken = true
    const up = await startUpstream((req) => (broken ? { wire: Buffer.from([0x0a, 0x05, 1, 2]) } : answer(req)))
    const { router, bridge, logs } = bridgeOf({ upstreams: [{ name: 'u', targets: [up.address], stream }], unrouted: 'u' })
    try {
      assert.deepEqual(await router.dispatch(call({ _: 'help.getNearestDc' })), { kind: 'error', code: 500, message: 'INTERNAL' })
      assert.ok(
        logs.some((l) => l.includes('Response message parsing error') && l.includes('truncated length-delimited field')),
        logs.join('\n'),
      )
      broken = false
      assert.deepEqual(await router.dispatch(call({ _: 'help.getNearestDc' })), { kind: 'result', result: nearest, method: 'help.getNearestDc' })
    } finally {
      bridge.close()
      await up.stop()
    }
  })
}

test('a client in the newest layer gets the backend\'s result bytes as they are, once they read as a result of the method and are of its type', async () => {
  const good = encode(nearest)
  const up = await startUpstream((req) => {
    const q = decode(req.query) as TlObject
    if (q._ === 'help.getNearestDc') return { result: good }
    // a well-formed object of another type
    if (q._ === 'help.getConfig') return { result: good }
    return { result: Buffer.concat([good, Buffer.from([0, 0, 0, 0])]) }
  })
  const { router, bridge } = bridgeOf({ upstreams: [{ name: 'u', targets: [up.address] }], unrouted: 'u' })
  const newest = (): RpcContext => ({ ...ctx(), layer: NEWEST_LAYER })
  try {
    const out = await router.dispatch(call({ _: 'help.getNearestDc' }, undefined, newest()))
    assert.deepEqual(out, { kind: 'raw', body: good })
    // trailing bytes: not a result of the method, in any layer
    assert.deepEqual(await router.dispatch(call({ _: 'help.getAppConfig', hash: 0 }, undefined, newest())), { kind: 'error', code: 500, message: 'INTERNAL' })
    // a nearestDc is not a Config, in any layer
    assert.deepEqual(await router.dispatch(call({ _: 'help.getConfig' }, undefined, newest())), { kind: 'error', code: 500, message: 'INTERNAL' })
    assert.deepEqual(await router.dispatch(call({ _: 'help.getConfig' })), { kind: 'error', code: 500, message: 'INTERNAL' })
    // an older layer still gets the decoded object (the session converts it)
    assert.deepEqual(await router.dispatch(call({ _: 'help.getNearestDc' })), { kind: 'result', result: nearest, method: 'help.getNearestDc' })
  } finally {
    bridge.close()
    await up.stop()
  }
})

test('backend down: 500 INTERNAL at once; backend back on its address: calls succeed again', async () => {
  const first = await startUpstream(answer)
  const { address, port } = first
  await first.stop()
  const { router, bridge, logs } = bridgeOf({ upstreams: [{ name: 'u', targets: [address], deadline_ms: 3000 }], unrouted: 'u' })
  try {
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now()
      assert.deepEqual(await router.dispatch(call({ _: 'help.getNearestDc' })), { kind: 'error', code: 500, message: 'INTERNAL' })
      assert.ok(Date.now() - t0 < 1000, `answered in ${Date.now() - t0} ms`)
    }
    assert.ok(logs.some((l) => l.includes('upstream unreachable: answering 500 INTERNAL') && l.includes(address)), logs.join(''))
    const again = await startUpstream(answer, '127.0.0.1', port)
    try {
      await untilResult(router, 5000)
      assert.equal(router.inFlight, 0)
    } finally {
      await again.stop()
    }
  } finally {
    bridge.close()
  }
})

test('slow backend: -503 Timeout at the deadline (not later); the next fast answer gets through', async () => {
  let delay = 2000
  const up = await startUpstream(async (req) => {
    await new Promise((r) => setTimeout(r, delay))
    return answer(req)
  })
  const { router, bridge, logs } = bridgeOf({ upstreams: [{ name: 'u', targets: [up.address], deadline_ms: 300 }], unrouted: 'u' })
  try {
    const t0 = Date.now()
    assert.deepEqual(await router.dispatch(call({ _: 'help.getNearestDc' })), { kind: 'error', code: -503, message: 'Timeout' })
    const took = Date.now() - t0
    assert.ok(took >= 290 && took < 800, `answered after ${took} ms`)
    assert.ok(logs.some((l) => l.includes('did not answer within the deadline')), logs.join(''))
    delay = 0
    assert.equal((await router.dispatch(call({ _: 'help.getNearestDc' }))).kind, 'result')
    assert.equal(bridge.inFlight('u'), 0)
  } finally {
    bridge.close()
    await up.stop()
  }
})

test('max_in_flight: calls beyond it get -503 Timeout at once, without reaching the backend', async () => {
  let release: () => void = () => undefined
  const gate = new Promise<void>((r) => (release = r))
  const up = await startUpstream(async (req) => {
    await gate
    return answer(req)
  })
  const { router, bridge } = bridgeOf({ upstreams: [{ name: 'u', targets: [up.address], max_in_flight: 2 }], unrouted: 'u' })
  try {
    const held = [router.dispatch(call({ _: 'help.getNearestDc' })), router.dispatch(call({ _: 'help.getNearestDc' }))]
    await waitFor(() => up.requests.length === 2, 3000)
    assert.equal(bridge.inFlight('u'), 2)
    const t0 = Date.now()
    assert.deepEqual(await router.dispatch(call({ _: 'help.getNearestDc' })), { kind: 'error', code: -503, message: 'Timeout' })
    assert.ok(Date.now() - t0 < 100)
    assert.equal(up.requests.length, 2)
    release()
    for (const out of await Promise.all(held)) assert.equal(out.kind, 'result')
    assert.equal((await router.dispatch(call({ _: 'help.getNearestDc' }))).kind, 'result')
  } finally {
    bridge.close()
    await up.stop()
  }
})

test('a call that could not be delivered (no connection to its target) goes to the next target', async () => {
  const live = await startUpstream(answer)
  const dead = `127.0.0.1:${await freePort()}`
  // both channels are still connecting at the first call: the first target (the dead one) is picked
  const { router, bridge, logs } = bridgeOf({ upstreams: [{ name: 'u', targets: [dead, live.address] }], unrouted: 'u' })
  try {
    assert.deepEqual(await router.dispatch(call({ _: 'help.getNearestDc' })), { kind: 'result', result: nearest, method: 'help.getNearestDc' })
    assert.equal(live.requests.length, 1)
    assert.ok(logs.some((l) => l.includes('call not delivered: trying another target') && l.includes(dead)), logs.join('\n'))
  } finally {
    bridge.close()
    await live.stop()
  }
})

test('a call that may have reached a backend (its connection dropped mid-call) is not sent again: 500 INTERNAL', async () => {
  let first: (() => Promise<void>) | undefined
  const a = await startUpstream(async () => {
    await first?.()
    return { result: encode(nearest) }
  })
  first = () => a.stop().then(() => new Promise(() => undefined))
  const b = await startUpstream(answer)
  const { router, bridge } = bridgeOf({ upstreams: [{ name: 'u', targets: [a.address, b.address] }], unrouted: 'u' })
  try {
    const t0 = Date.now()
    assert.deepEqual(await router.dispatch(call({ _: 'help.getNearestDc' })), { kind: 'error', code: 500, message: 'INTERNAL' })
    assert.ok(Date.now() - t0 < 2000, `answered after ${Date.now() - t0} ms`)
    assert.equal(a.requests.length, 1)
    assert.equal(b.requests.length, 0, 'not re-sent to the other target')
  } finally {
    bridge.close()
    await b.stop()
  }
})

test('service discovery: setTargets replaces the targets (channels of kept addresses stay)', async () => {
  const a = await startUpstream(answer)
  const b = await startUpstream(answer)
  const { router, bridge } = bridgeOf({ upstreams: [{ name: 'u', targets: [a.address] }], unrouted: 'u' })
  try {
    assert.equal((await router.dispatch(call({ _: 'help.getNearestDc' }))).kind, 'result')
    bridge.setTargets('u', [b.address])
    for (let i = 0; i < 3; i++) assert.equal((await router.dispatch(call({ _: 'help.getNearestDc' }))).kind, 'result')
    assert.deepEqual([a.requests.length, b.requests.length], [1, 3])
    bridge.setTargets('u', [])
    assert.deepEqual(await router.dispatch(call({ _: 'help.getNearestDc' })), { kind: 'error', code: 500, message: 'INTERNAL' })
  } finally {
    bridge.close()
    await a.stop()
    await b.stop()
  }
})

test('stream: true — calls on one InvokeStream: answers matched by call_id out of order, -503 at the deadline, 500 when the stream breaks, a new stream after it', async () => {
  let slowMs = 0
  let crash: (() => void) | undefined
  const up = await startUpstream(async (req) => {
    const q = decode(req.query) as TlObject
    if (q._ === 'account.updateStatus') await new Promise((r) => setTimeout(r, 200)) // answered after the next one
    if (slowMs > 0) await new Promise((r) => setTimeout(r, slowMs))
    crash?.()
    return answer(req)
  })
  const { router, bridge } = bridgeOf({ upstreams: [{ name: 'u', targets: [up.address], deadline_ms: 500, stream: true }], unrouted: 'u' })
  let back: Awaited<ReturnType<typeof startUpstream>> | undefined
  try {
    const [slow, fast] = await Promise.all([router.dispatch(call({ _: 'account.updateStatus', offline: true })), router.dispatch(call({ _: 'help.getNearestDc' }))])
    assert.deepEqual(slow, { kind: 'result', result: true, method: 'account.updateStatus' })
    assert.deepEqual(fast, { kind: 'result', result: nearest, method: 'help.getNearestDc' })
    assert.deepEqual(
      up.requests.map((r) => r.callId),
      ['1', '2'],
      'one call_id each',
    )
    slowMs = 1000
    const t0 = Date.now()
    assert.deepEqual(await router.dispatch(call({ _: 'help.getNearestDc' })), { kind: 'error', code: -503, message: 'Timeout' })
    assert.ok(Date.now() - t0 < 800, `answered after ${Date.now() - t0} ms`)
    slowMs = 0
    assert.equal((await router.dispatch(call({ _: 'help.getNearestDc' }))).kind, 'result', 'the late answer is dropped; the stream carries on')
    const port = up.port
    crash = () => void up.stop()
    const t1 = Date.now()
    assert.deepEqual(await router.dispatch(call({ _: 'help.getNearestDc' })), { kind: 'error', code: 500, message: 'INTERNAL' })
    assert.ok(Date.now() - t1 < 400, `answered after ${Date.now() - t1} ms`)
    back = await startUpstream(answer, '127.0.0.1', port)
    assert.ok((await untilResult(router, 5000)) < 5000)
    assert.ok(back.requests.length >= 1)
  } finally {
    bridge.close()
    await back?.stop()
  }
})

test('stream: true — a stream that gets no connection fails its calls as undelivered: the next target answers', async () => {
  const live = await startUpstream(answer)
  const dead = `127.0.0.1:${await freePort()}`
  const { router, bridge } = bridgeOf({ upstreams: [{ name: 'u', targets: [dead, live.address], stream: true }], unrouted: 'u' })
  try {
    assert.deepEqual(await router.dispatch(call({ _: 'help.getNearestDc' })), { kind: 'result', result: nearest, method: 'help.getNearestDc' })
    assert.equal(live.requests.length, 1)
  } finally {
    bridge.close()
    await live.stop()
  }
})
