import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { ResultCache } from '../../src/session/result-cache.js'
import type { OutEntry } from '../../src/session/outbox.js'

function answer(req: bigint, bytes: Buffer, msgId?: bigint): OutEntry {
  return { kind: 'result', body: bytes, response: true, reqMsgId: req, msgId, seqNo: msgId === undefined ? undefined : 7 }
}

test('an acknowledged answer comes back with its bytes, msg_id and seq_no', () => {
  const c = new ResultCache()
  const body = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff))
  const e = answer(4n, Buffer.from(body), 5n)
  c.set(4n, e)
  assert.equal(c.get(4n), e, 'unacknowledged: the outbox entry itself')
  c.acknowledged(e)
  const back = c.get(4n)!
  assert.notEqual(back, e)
  assert.deepEqual(back, { kind: 'result', body, msgId: 5n, seqNo: 7, reqMsgId: 4n, response: true })
  assert.equal(c.get(4n), back, 'made once, then kept until acknowledged again')
  c.acknowledged(back)
  assert.deepEqual(c.get(4n)!.body, body)
})

test('only a sent answer that is still remembered is packed', () => {
  const c = new ResultCache()
  const unsent = answer(4n, Buffer.from('abc'))
  c.set(4n, unsent)
  c.acknowledged(unsent)
  assert.equal(c.get(4n), unsent, 'no msg_id yet')
  const other = answer(4n, Buffer.from('xyz'), 9n)
  c.acknowledged(other)
  assert.equal(c.get(4n), unsent, 'not the remembered entry')
  c.acknowledged(answer(8n, Buffer.from('q'), 13n))
  assert.equal(c.get(8n), undefined)
})

test('bounded: the oldest answer is forgotten first; msg_ids map back to their queries', () => {
  const c = new ResultCache(3)
  for (let i = 1n; i <= 4n; i++) c.set(i * 4n, answer(i * 4n, Buffer.from([Number(i)]), i * 4n + 1n))
  c.acknowledged(c.get(12n)!)
  assert.equal(c.size, 3)
  assert.equal(c.get(4n), undefined)
  assert.deepEqual([...c.requestsByAnswerMsgId()], [[9n, 8n], [13n, 12n], [17n, 16n]])
  c.delete(8n)
  assert.equal(c.get(8n), undefined)
  assert.equal(c.size, 2)
})

test('an acknowledged answer no longer holds its Buffer', async () => {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const c = new ResultCache()
  let body: ArrayBuffer | undefined = new ArrayBuffer(1000)
  const ref = new WeakRef(body)
  let e: OutEntry | undefined = answer(4n, Buffer.from(body), 5n)
  body = undefined
  c.set(4n, e)
  c.acknowledged(e)
  e = undefined
  for (let i = 0; i < 5 && ref.deref() !== undefined; i++) {
    await new Promise((r) => setImmediate(r))
    gc()
  }
  assert.equal(ref.deref(), undefined, 'the ArrayBuffer was collected')
  assert.equal(c.get(4n)!.body.length, 1000)
})
