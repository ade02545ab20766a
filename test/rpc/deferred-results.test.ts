import { test } from 'node:test'
import assert from 'node:assert/strict'
import { DeferredResults } from '../../src/rpc/deferred-results.js'
import type { RpcOutcome } from '../../src/session/api.js'

const timeout: RpcOutcome = { kind: 'error', code: -503, message: 'Timeout' }
const finish = (r: { result: Buffer } | { rpcError: { code: number; message: string } }): RpcOutcome =>
  'result' in r ? { kind: 'raw', body: r.result } : { kind: 'error', ...r.rpcError }
const key = (msgId: bigint) => ({ authKeyId: 1n, sessionId: 2n, msgId })

test('deferred results: completed once by key; a timeout; a re-sent query replaces the wait; the oldest goes first past max', async () => {
  const d = new DeferredResults(2)
  const a = d.wait(key(4n), 10_000, finish, () => timeout)
  assert.equal(d.complete({ ...key(4n), sessionId: 3n }, { result: Buffer.from('x') }), false, 'another session')
  assert.equal(d.complete(key(4n), { rpcError: { code: 400, message: 'NO' } }), true)
  assert.deepEqual(await a, { kind: 'error', code: 400, message: 'NO' })
  assert.equal(d.complete(key(4n), { result: Buffer.from('x') }), false, 'answered already')

  const t0 = Date.now()
  const alive = setTimeout(() => undefined, 1000) // the wait's own timer does not hold the process
  assert.deepEqual(await d.wait(key(8n), 50, finish, () => timeout), timeout)
  clearTimeout(alive)
  assert.ok(Date.now() - t0 >= 45)

  const first = d.wait(key(12n), 10_000, finish, () => timeout)
  const again = d.wait(key(12n), 10_000, finish, () => timeout)
  assert.deepEqual(await first, timeout)
  const other = d.wait(key(16n), 10_000, finish, () => timeout)
  const third = d.wait(key(20n), 10_000, finish, () => timeout) // over max: the oldest (12) times out
  assert.deepEqual(await again, timeout)
  assert.equal(d.size, 2)
  d.cancelAll(timeout)
  assert.deepEqual(await Promise.all([other, third]), [timeout, timeout])
  assert.equal(d.size, 0)
})
