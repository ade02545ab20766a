/**
 * OpenTelemetry traces (src/admin/tracing.ts): a whole `mtgate serve` composition with tracing to a
 * test OTLP/HTTP receiver, a real mtcute client and a real gRPC upstream backend; and RpcTracing on
 * its own (off, sampling, a dispatcher that throws).
 */
import assert from 'node:assert/strict'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { authKeyIdHash, RpcTracing } from '../../src/admin/tracing.js'
import type { PbInvokeRequest } from '../../src/cluster/generated/proto.js'
import { TRACING_DEFAULTS } from '../../src/config/tracing.js'
import type { RpcCall } from '../../src/session/api.js'
import { decode, encode, type TlObject } from '../../src/tl/index.js'
import { recordRpcs, startE2eServer } from '../e2e/harness.js'
import { mtcuteClient, type TlResult } from '../helpers/mtcute.js'
import { startOtlpReceiver, type ReceivedSpan } from '../helpers/otlp.js'
import { startUpstream, type Reply } from '../helpers/upstream.js'

const silent = pino({ level: 'silent' })

/** users.getUsers answers one user; anything else an rpc_error. */
function backend(req: PbInvokeRequest): Reply {
  const q = decode(req.query) as TlObject
  if (q._ !== 'users.getUsers') return { rpcError: { code: 400, message: 'USER_ID_INVALID' } }
  const user = encode({ _: 'user', id: 1001n, access_hash: 7n, first_name: 'T' } as unknown as TlObject)
  const head = Buffer.alloc(8)
  head.writeUInt32LE(0x1cb5c415, 0)
  head.writeUInt32LE(1, 4)
  return { result: Buffer.concat([head, user]) }
}

/** How many of each key `items` has. */
function tally<T>(items: readonly T[], key: (x: T) => string): Map<string, number> {
  const m = new Map<string, number>()
  for (const x of items) m.set(key(x), (m.get(key(x)) ?? 0) + 1)
  return new Map([...m].sort(([a], [b]) => (a < b ? -1 : 1)))
}

describe('tracing through mtgate serve', () => {
  for (const stream of [false, true])
  it(`one span per RPC named after the inner method, with its attributes and outcome; the upstream gets its traceparent (${stream ? 'InvokeStream' : 'unary Invoke'})`, async () => {
    const otlp = await startOtlpReceiver()
    const up = await startUpstream(backend)
    const e = await startE2eServer({
      host: '127.0.0.1',
      tcpPort: 0,
      config: {
        upstreams: [{ name: 'bff', targets: [up.address], deadline_ms: 3000, stream }],
        routes: { 'users.': 'bff' },
        tracing: { otlp_endpoint: otlp.url, service_name: 'mtgate-test' },
      },
    })
    const rpcs = recordRpcs(e.server)
    const tg = await mtcuteClient({ host: e.host, port: e.tcpPort!, pem: e.publicPem })
    const call = (req: Record<string, unknown>): Promise<TlResult> => (tg.call as (r: Record<string, unknown>, p: Record<string, unknown>) => Promise<TlResult>)(req, { maxRetryCount: 0 })
    try {
      await tg.connect()
      assert.equal((await call({ _: 'help.getConfig' }))._, 'config')
      const users = (await call({ _: 'users.getUsers', id: [{ _: 'inputUserSelf' }] })) as unknown as TlResult[]
      assert.equal(users[0]!._, 'user')
      await assert.rejects(call({ _: 'users.getFullUser', id: { _: 'inputUserSelf' } }), /USER_ID_INVALID/)
      await assert.rejects(call({ _: 'account.getPassword' }), /INPUT_METHOD_INVALID/)
    } finally {
      await tg.destroy()
      await e.close() // flushes the spans
      await up.stop()
      await otlp.close()
    }

    const spans = otlp.spans
    // exactly the calls the router dispatched: wrappers (invokeWithLayer, initConnection) are none of them
    assert.deepEqual(tally(spans, (s) => s.name), tally(rpcs, (r) => r.method))
    assert.deepEqual(tally(spans, (s) => `${s.name} ${s.attributes['mtproto.outcome']}`), tally(rpcs, (r) => `${r.method} ${r.ok ? 'ok' : 'rpc_error'}`))
    assert.ok(!spans.some((s) => /^(invokeWith|initConnection|invokeAfter)/.test(s.name)))
    for (const m of ['help.getConfig', 'users.getUsers', 'users.getFullUser', 'account.getPassword']) assert.ok(spans.some((s) => s.name === m), `a ${m} span`)

    const key = rpcs[0]!.authKeyId
    const layer = up.requests[0]!.layer
    assert.ok(layer > 100, `mtcute's layer ${layer}`)
    for (const s of spans) {
      assert.equal(s.kind, 2, 'SERVER')
      assert.equal(s.parentSpanId, '', 'a root span')
      assert.equal(s.resource['service.name'], 'mtgate-test')
      assert.equal(s.attributes['rpc.system'], 'mtproto')
      assert.equal(s.attributes['rpc.method'], s.name)
      assert.equal(s.attributes['mtproto.auth_key_id_hash'], authKeyIdHash(key))
      assert.match(String(s.attributes['mtproto.auth_key_id_hash']), /^[0-9a-f]{16}$/)
      assert.equal(s.attributes['mtproto.layer'], layer)
      assert.equal(s.attributes['mtproto.auth_key_type'], 'perm')
      assert.equal(s.attributes['mtproto.transport'], 'tcp')
      assert.equal(s.attributes['mtproto.dc_id'], 2)
      const raw = [key.toString(16), BigInt.asUintN(64, key).toString(16), key.toString(), BigInt.asUintN(64, key).toString()]
      assert.ok(!Object.values(s.attributes).some((v) => raw.some((r) => String(v).includes(r))), 'no raw auth_key_id')
    }
    assert.equal(new Set(spans.map((s) => s.traceId)).size, spans.length, 'a trace per RPC')

    const one = (name: string): ReceivedSpan => spans.find((s) => s.name === name)!
    assert.deepEqual(one('help.getConfig').status, { code: 0 })
    const failed = one('users.getFullUser')
    assert.equal(failed.status.code, 2, 'ERROR')
    assert.equal(failed.status.message, '400 USER_ID_INVALID')
    assert.equal(failed.attributes['mtproto.error_code'], 400)
    assert.equal(failed.attributes['mtproto.error_message'], 'USER_ID_INVALID')
    assert.equal(one('account.getPassword').attributes['mtproto.error_message'], 'INPUT_METHOD_INVALID')

    // each upstream call carries the trace context of its RPC's span: in the request, and for a
    // unary call also in its metadata
    assert.equal(up.requests.length, 2)
    assert.equal(up.metadata.length, stream ? 0 : 2)
    up.requests.forEach((req, i) => {
      const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(req.traceparent)
      assert.ok(m, `traceparent ${req.traceparent}`)
      const span = one(req.method)
      assert.equal(m[1], span.traceId)
      assert.equal(m[2], span.spanId)
      assert.equal(req.tracestate, '')
      if (!stream) {
        assert.deepEqual(up.metadata[i]!.get('traceparent'), [req.traceparent])
        assert.deepEqual(up.metadata[i]!.get('tracestate'), [])
      }
    })
  })
})

function rpcCall(method: string): RpcCall {
  return {
    method,
    constructorId: 0,
    query: undefined,
    raw: Buffer.alloc(4),
    ctx: {
      authKeyId: -0x1122334455667788n,
      authKeyType: 1,
      permAuthKeyId: undefined,
      sessionId: 1n,
      msgId: 4n,
      layer: undefined,
      client: undefined,
      connection: { gatewayId: 'g', connId: 'c', clientAddr: '127.0.0.1:1', dcId: 4, transport: 'ws' },
      withoutUpdates: false,
      userId: undefined,
    },
  }
}

describe('RpcTracing', () => {
  it('is not started without an endpoint', async () => {
    assert.equal(await RpcTracing.start(TRACING_DEFAULTS, silent), undefined)
  })

  it('sample_ratio 0: nothing is exported, yet a call still has a (not sampled) trace context while dispatched', async () => {
    const otlp = await startOtlpReceiver()
    const t = (await RpcTracing.start({ otlpEndpoint: otlp.url, serviceName: 's', sampleRatio: 0 }, silent))!
    try {
      const c = rpcCall('help.getConfig')
      let during: ReturnType<RpcTracing['headersOf']>
      const out = await t.trace(c, { dispatch: async (x) => ((during = t.headersOf(x)), { kind: 'result', result: true }) })
      assert.deepEqual(out, { kind: 'result', result: true })
      assert.match(during!.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/)
      assert.equal(t.headersOf(c), undefined, 'none once answered')
      await t.flush()
    } finally {
      await t.shutdown()
      await otlp.close()
    }
    assert.equal(otlp.spans.length, 0)
  })

  it('a refused export is logged (the endpoint and how many spans were lost), once a minute at most', async () => {
    const otlp = await startOtlpReceiver()
    const lines: string[] = []
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) })
    // the receiver answers 415 on any other path
    const t = (await RpcTracing.start({ otlpEndpoint: otlp.url + '/wrong', serviceName: 's', sampleRatio: 1 }, log))!
    try {
      const inner = { dispatch: async () => ({ kind: 'result' as const, result: true }) }
      await t.trace(rpcCall('help.getConfig'), inner)
      await t.trace(rpcCall('help.getConfig'), inner)
      await t.flush()
      await t.trace(rpcCall('help.getConfig'), inner)
      await t.flush()
    } finally {
      await t.shutdown()
      await otlp.close()
    }
    assert.equal(otlp.spans.length, 0)
    const warned = lines.map((l) => JSON.parse(l) as { msg: string; endpoint: string; spansLost: number })
    assert.equal(warned.length, 1, lines.join(''))
    assert.equal(warned[0]!.msg, 'tracing: span export failed')
    assert.equal(warned[0]!.endpoint, otlp.url + '/wrong')
    assert.equal(warned[0]!.spansLost, 2)
  })

  it('a collector that never answers holds shutdown up for exportTimeoutMs at most, with a warning', async () => {
    const sockets = new Set<Socket>()
    const hang = createServer((c) => void sockets.add(c))
    await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve))
    const lines: string[] = []
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) })
    const url = `http://127.0.0.1:${(hang.address() as AddressInfo).port}/v1/traces`
    try {
      const t = (await RpcTracing.start({ otlpEndpoint: url, serviceName: 's', sampleRatio: 1 }, log, { exportTimeoutMs: 300 }))!
      await t.trace(rpcCall('help.getConfig'), { dispatch: async () => ({ kind: 'result', result: true }) })
      const t0 = Date.now()
      await t.shutdown()
      const took = Date.now() - t0
      assert.ok(took >= 280 && took < 2000, `shutdown took ${took} ms`)
    } finally {
      for (const c of sockets) c.destroy()
      await new Promise((resolve) => hang.close(resolve))
    }
    assert.ok(sockets.size >= 1, 'the exporter connected')
    assert.ok(lines.some((l) => (JSON.parse(l) as { msg: string }).msg === 'tracing: the collector did not take the last spans in time'), lines.join(''))
  })

  it('a dispatcher that throws: the error goes on, the span says exception with status ERROR', async () => {
    const otlp = await startOtlpReceiver()
    const t = (await RpcTracing.start({ otlpEndpoint: otlp.url, serviceName: 's', sampleRatio: 1 }, silent))!
    try {
      await assert.rejects(t.trace(rpcCall('auth.sendCode'), { dispatch: async () => Promise.reject(new Error('boom')) }), /boom/)
      await t.flush()
      assert.equal(otlp.spans.length, 1)
      const [s] = otlp.spans
      assert.equal(s!.name, 'auth.sendCode')
      assert.equal(s!.attributes['mtproto.outcome'], 'exception')
      assert.equal(s!.attributes['mtproto.auth_key_type'], 'temp')
      assert.equal(s!.attributes['mtproto.transport'], 'ws')
      assert.equal(s!.attributes['mtproto.layer'], undefined, 'no layer told')
      assert.deepEqual(s!.status, { code: 2, message: 'boom' })
    } finally {
      await t.shutdown()
      await otlp.close()
    }
  })
})
