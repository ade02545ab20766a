/**
 * The Teamgram status reporter against a grpc-js stand-in of status.RPCStatus: online reports per
 * permanent key (temp keys count for theirs) with the gateway and an expiry a minute ahead,
 * refreshed while online, offline when the last key goes or the user changes; a status service
 * that is down is one warning, retried, never a crash; calls per tick are bounded.
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as grpc from '@grpc/grpc-js'
import { pino } from 'pino'
import type { BackendApiHost } from '../../../src/rpc/backend-api.js'
import { boolMessage } from '../../../src/rpc/teamgram/codec.js'
import { int64, readMessage, type PbValue } from '../../../src/rpc/teamgram/protobuf.js'
import { TeamgramStatusReporter } from '../../../src/rpc/teamgram/status-reporter.js'
import { Upstream } from '../../../src/rpc/upstream-targets.js'
import type { PresenceChange } from '../../../src/session/presence.js'
import { freePort } from '../../helpers/services.js'

const GATEWAY = '127.0.0.1:20450'

interface Call {
  method: 'online' | 'offline'
  userId: bigint
  authKeyId: bigint
  gateway?: string
  expired?: number
  permAuthKeyId?: bigint
  atMs: number
}

const num = (f: Map<number, PbValue[]>, n: number): bigint => {
  const v = f.get(n)?.at(-1)
  return v?.wire === 0 ? int64(v.v) : 0n
}

/** A status.RPCStatus stand-in on `port` recording the calls. */
async function standIn(port: number, delayMs = 0): Promise<{ calls: Call[]; close(): Promise<void> }> {
  const calls: Call[] = []
  const id = (b: Buffer): Buffer => b
  const def = (m: string): grpc.MethodDefinition<Buffer, Buffer> => ({ path: `/status.RPCStatus/${m}`, requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id })
  const server = new grpc.Server()
  const answer = (cb: grpc.sendUnaryData<Buffer>): void => void setTimeout(() => cb(null, boolMessage(true)), delayMs)
  server.addService({ status_setSessionOnline: def('status_setSessionOnline'), status_setSessionOffline: def('status_setSessionOffline') }, {
    status_setSessionOnline: ((call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const f = readMessage(call.request)
      const e = readMessage((f.get(4)![0] as { raw: Buffer }).raw)
      const gw = e.get(5)![0] as { raw: Buffer }
      calls.push({ method: 'online', userId: num(f, 3), authKeyId: num(e, 4), gateway: gw.raw.toString(), expired: Number(num(e, 6)), permAuthKeyId: num(e, 8), atMs: Date.now() })
      assert.equal(num(e, 3), num(f, 3))
      answer(cb)
    }) as grpc.handleUnaryCall<Buffer, Buffer>,
    status_setSessionOffline: ((call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const f = readMessage(call.request)
      calls.push({ method: 'offline', userId: num(f, 3), authKeyId: num(f, 4), atMs: Date.now() })
      answer(cb)
    }) as grpc.handleUnaryCall<Buffer, Buffer>,
  })
  await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())))
  return { calls, close: () => new Promise<void>((r) => server.tryShutdown(() => r())) }
}

/** A host whose presence the test drives. */
function fakeHost(snapshot: { userId?: bigint; authKeyId: bigint; permAuthKeyId?: bigint }[]): { host: BackendApiHost; emit(c: Omit<PresenceChange, 'atMs' | 'sessions'>): void } {
  let fn: ((c: PresenceChange & { nodeId: string }) => void) | undefined
  const host: BackendApiHost = {
    push: async () => 0,
    pushRpcResult: async () => false,
    online: async () => [],
    watch: (f) => {
      fn = f
      return { snapshot: snapshot.map((k) => ({ userId: k.userId, authKeyId: k.authKeyId, permAuthKeyId: k.permAuthKeyId, sessions: 1, nodeId: 'n' })), stop: () => (fn = undefined) }
    },
  }
  return { host, emit: (c) => fn?.({ ...c, sessions: c.online ? 1 : 0, atMs: Date.now(), nodeId: 'n' }) }
}

function upstream(port: number): Upstream {
  return new Upstream({ name: 'teamgram.status_service', kind: 'teamgram-bff', targets: [`127.0.0.1:${port}`], deadlineMs: 1000, maxInFlight: 100, resultTimeoutMs: 1000, stream: false })
}

async function until(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const t0 = Date.now()
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('Teamgram status reporter', () => {
  const cleanup: (() => Promise<void> | void)[] = []
  after(async () => {
    for (const c of cleanup.reverse()) await c()
  })

  it('reports a permanent key online with the gateway, refreshes it, and offline when its last key goes', async () => {
    const port = await freePort()
    const s = await standIn(port)
    const up = upstream(port)
    const { host, emit } = fakeHost([{ userId: 7n, authKeyId: 100n, permAuthKeyId: 100n }, { authKeyId: 300n, permAuthKeyId: 300n }])
    const r = new TeamgramStatusReporter(up, { gateway: GATEWAY, refreshMs: 300, tickMs: 50 }, pino({ level: 'silent' }))
    cleanup.push(() => up.close(), () => s.close())
    r.start(host)
    await until(() => s.calls.length >= 1, 'the first online report')
    const first = s.calls[0]!
    assert.deepEqual({ ...first, atMs: 0, expired: 0 }, { method: 'online', userId: 7n, authKeyId: 100n, gateway: GATEWAY, expired: 0, permAuthKeyId: 100n, atMs: 0 })
    assert.ok(Math.abs(first.expired! - (Date.now() / 1000 + 60)) < 3, 'expires a minute ahead')
    // a temp key bound to the same permanent key: no entry of its own
    emit({ userId: 7n, authKeyId: 101n, permAuthKeyId: 100n, online: true })
    await until(() => s.calls.length >= 3, 'two refreshes')
    assert.ok(s.calls.every((c) => c.method === 'online' && c.authKeyId === 100n), 'only key 100 reported (key 300 has no user)')
    assert.ok(s.calls[1]!.atMs - first.atMs >= 250, 'refreshed after refreshMs, not at once')
    emit({ userId: 7n, authKeyId: 100n, permAuthKeyId: 100n, online: false })
    await new Promise((res) => setTimeout(res, 150))
    assert.ok(!s.calls.some((c) => c.method === 'offline'), 'still online through the temp key')
    emit({ userId: 7n, authKeyId: 101n, permAuthKeyId: 100n, online: false })
    await until(() => s.calls.some((c) => c.method === 'offline'), 'the offline report')
    assert.deepEqual(s.calls.filter((c) => c.method === 'offline').map((c) => [c.userId, c.authKeyId]), [[7n, 100n]])
    const n = s.calls.length
    await new Promise((res) => setTimeout(res, 400))
    assert.equal(s.calls.length, n, 'no refresh after offline')
    assert.deepEqual(r.onlineKeys, [])
    // a user change (sign-out and in as another user) is the old user's offline and the new one's online
    emit({ userId: 8n, authKeyId: 200n, permAuthKeyId: 200n, online: true })
    await until(() => s.calls.some((c) => c.userId === 8n), "user 8's online report")
    emit({ userId: 8n, authKeyId: 200n, permAuthKeyId: 200n, online: false })
    emit({ userId: 9n, authKeyId: 200n, permAuthKeyId: 200n, online: true })
    await until(() => s.calls.some((c) => c.userId === 9n) && s.calls.some((c) => c.method === 'offline' && c.userId === 8n), 'the switch')
    await r.stop()
    assert.ok(s.calls.some((c) => c.method === 'offline' && c.userId === 9n && c.authKeyId === 200n), 'stop reports the online entries offline')
  })

  it('a status service that is down: one warning, retried, no crash; reported once it is up', async () => {
    const port = await freePort()
    const lines: string[] = []
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) })
    const up = upstream(port)
    const { host } = fakeHost([{ userId: 7n, authKeyId: 100n, permAuthKeyId: 100n }])
    const r = new TeamgramStatusReporter(up, { gateway: GATEWAY, retryMs: 100, tickMs: 30, callTimeoutMs: 300 }, log)
    cleanup.push(() => up.close())
    r.start(host)
    await until(() => r.stats.failures >= 3, 'three failed reports')
    const warnings = lines.filter((l) => l.includes('report failed'))
    assert.equal(warnings.length, 1, 'one warning for the outage')
    assert.equal((JSON.parse(warnings[0]!) as { level: number }).level, 40)
    const s = await standIn(port)
    cleanup.push(() => s.close())
    await until(() => s.calls.length >= 1, 'the report once the service is up', 10_000)
    await until(() => lines.some((l) => l.includes('reachable again')), 'the recovery line')
    await r.stop()
  })

  it('makes at most maxCallsPerTick calls a tick', async () => {
    const port = await freePort()
    const s = await standIn(port, 50)
    const up = upstream(port)
    const keys = [1n, 2n, 3n, 4n, 5n].map((k) => ({ userId: k, authKeyId: k, permAuthKeyId: k }))
    const { host } = fakeHost(keys)
    const r = new TeamgramStatusReporter(up, { gateway: GATEWAY, tickMs: 400, maxCallsPerTick: 2 }, pino({ level: 'silent' }))
    cleanup.push(() => up.close(), () => s.close())
    r.start(host)
    await until(() => s.calls.length >= 2, 'the first tick')
    await new Promise((res) => setTimeout(res, 200))
    assert.equal(s.calls.length, 2, 'two calls in the first tick')
    await until(() => s.calls.length >= 5, 'every key reported over the next ticks', 5000)
    assert.deepEqual(new Set(s.calls.map((c) => c.authKeyId)), new Set([1n, 2n, 3n, 4n, 5n]))
    await r.stop()
  })
})
