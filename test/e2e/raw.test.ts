/**
 * End-to-end checks through the whole server with our own minimal client (test/e2e/raw-client.ts),
 * for what real clients cannot be steered into deterministically: the answer to a query that
 * finished while its session had no connection is resent on the session's next connection;
 * quick acks; the load generator's query mode; unknown auth keys; the api_id allow-list; unknown
 * methods; failing handlers.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { AuthKey } from '../../src/crypto/message.js'
import { RpcError } from '../../src/rpc/errors.js'
import { encode } from '../../src/tl/index.js'
import { startE2eServer, waitFor, type E2eServer } from './harness.js'
import { isRpcError, RawClient, withInitConnection } from './raw-client.js'
import { COUNTRIES, installHandlers, type Observed } from './scenario.js'

async function newKey(e: E2eServer): Promise<AuthKey> {
  const key = new AuthKey(randomBytes(256))
  assert.equal(await e.server.store.put({ id: key.id, key: key.key, type: 0, createdAt: Math.floor(Date.now() / 1000) }), 'created')
  return key
}

const initConnection = (apiId: number, query: Record<string, unknown>): Buffer => withInitConnection(222, apiId, query)

describe('raw client through the whole server', () => {
  let e: E2eServer
  let seen: Observed
  const clients: RawClient[] = []
  const connect = async (o: Partial<Parameters<typeof RawClient.connect>[0]> & { key: AuthKey }) => {
    const c = await RawClient.connect({ host: e.host, port: e.tcpPort!, ...o })
    clients.push(c)
    return c
  }

  before(async () => {
    e = await startE2eServer({ host: '127.0.77.41', tcpPort: 10443, config: { api_ids: [4, 2040] } })
    seen = installHandlers(e, { countriesDelayMs: 300 })
    e.server.handle('help.getAppConfig', () => {
      throw new Error('handler bug')
    })
    e.server.handle('help.getPromoData', () => {
      throw new RpcError(420, 'FLOOD_WAIT_5')
    })
  })
  after(async () => {
    for (const c of clients) c.close()
    await e?.close()
  })

  it('initConnection, config, bad_server_salt on the first message (salt 0), new_session_created', async () => {
    const c = await connect({ key: await newKey(e) })
    const cfg = await c.invoke(initConnection(4, { _: 'help.getConfig' }))
    assert.ok(!Buffer.isBuffer(cfg) && cfg._ === 'config')
    assert.equal(c.log.badServerSalt, 1)
    assert.equal(c.log.newSessions, 1)
  })

  it('an answer finished while the session had no connection is resent on its next connection', async () => {
    const key = await newKey(e)
    const a = await connect({ key })
    await a.invoke(initConnection(4, { _: 'help.getConfig' }))
    const calls0 = seen.countriesCalls
    const pending = a.invoke({ _: 'help.getCountriesList', lang_code: 'en', hash: 0 })
    pending.catch(() => undefined)
    await waitFor(() => seen.countriesCalls === calls0 + 1, 5000, 'the query to run')
    a.close() // the connection drops while the handler runs
    await new Promise((r) => setTimeout(r, 500)) // the handler finishes with no connection
    // same auth key, same session, new connection: send anything (a ping)
    const b = await connect({ key, sessionId: a.sessionId, salt: a.salt })
    const got: Buffer[] = []
    b.onPush = (body) => got.push(body)
    await b.ping()
    await waitFor(() => b.log.pushes.length > 0 || got.length > 0 || b.resultsFor.size > 0, 5000, 'the resent answer')
    const resent = [...b.resultsFor.values()]
    assert.equal(resent.length, 1, 'one rpc_result arrived for a query this connection never sent')
    const r = resent[0]!
    assert.ok(!Buffer.isBuffer(r) && r._ === 'help.countriesList' && r.countries.length === COUNTRIES)
    assert.equal(seen.countriesCalls, calls0 + 1, 'not executed again')
  })

  it('sendQuery (the load generator\'s query mode): onAnswer once per rpc_result with its tag, an rpc_error as an error; invoke() answers alongside', async () => {
    const c = await connect({ key: await newKey(e) })
    assert.ok(!isRpcError(await c.invoke(initConnection(4, { _: 'help.getConfig' }))))
    const answers: Array<[number, string | undefined]> = []
    let done: () => void
    let wanted = 0
    const all = new Promise<void>((r) => (done = r))
    c.onAnswer = (tag, err) => {
      answers.push([tag, err?.message])
      if (answers.length === wanted) done()
    }
    c.taggedQueryBody = encode({ _: 'help.getConfig' })
    wanted = 6
    for (let tag = 10; tag < 15; tag++) c.sendQuery(tag)
    const other = c.invoke(encode({ _: 'help.getNearestDc' }))
    c.taggedQueryBody = encode({ _: 'help.getPromoData' })
    c.sendQuery(99)
    const nearest = await other
    assert.ok(!Buffer.isBuffer(nearest) && nearest._ === 'nearestDc')
    await all
    await new Promise((r) => setTimeout(r, 100)) // nothing more comes
    answers.sort((a, b) => a[0] - b[0])
    assert.deepEqual(answers.slice(0, 5), [10, 11, 12, 13, 14].map((t) => [t, undefined]))
    assert.equal(answers.length, 6)
    assert.equal(answers[5]![0], 99)
    assert.match(answers[5]![1]!, /FLOOD_WAIT_5/)
  })

  it('quick acks come back through the codec for every packet that asks', async () => {
    const c = await connect({ key: await newKey(e), quickAck: true })
    await c.invoke(initConnection(4, { _: 'help.getNearestDc' }))
    await c.ping()
    assert.ok(c.log.quickAcks.length >= 2, `got ${c.log.quickAcks.length} quick acks`)
    for (const t of c.log.quickAcks) assert.ok(t >= 0x80000000)
  })

  it('padded intermediate: the 0..15 random bytes after each encrypted message are ignored', async () => {
    const c = await connect({ key: await newKey(e), codec: 'padded' })
    for (let i = 0; i < 20; i++) {
      const r = await c.invoke(i === 0 ? initConnection(4, { _: 'help.getNearestDc' }) : encode({ _: 'help.getNearestDc' }))
      assert.ok(!Buffer.isBuffer(r) && r._ === 'nearestDc')
    }
    assert.equal(e.server.encrypted.stats.decryptFailed, 0)
  })

  it('api_id outside the allow-list → rpc_error 400 API_ID_INVALID', async () => {
    const c = await connect({ key: await newKey(e) })
    const r = await c.invoke(initConnection(12345, { _: 'help.getConfig' }))
    assert.ok(isRpcError(r))
    assert.equal(r.error_code, 400)
    assert.equal(r.error_message, 'API_ID_INVALID')
  })

  it('unknown method, unknown constructor, failing handler, RpcError: rpc_error answers, connection stays up', async () => {
    const c = await connect({ key: await newKey(e) })
    await c.invoke(initConnection(4, { _: 'help.getNearestDc' }))
    const noHandler = await c.invoke({ _: 'help.getTermsOfServiceUpdate' })
    assert.ok(isRpcError(noHandler) && noHandler.error_code === 400 && noHandler.error_message === 'INPUT_METHOD_INVALID')
    const unknownCtor = Buffer.from([0x78, 0x56, 0x34, 0x12, 1, 0, 0, 0])
    const u = await c.invoke(unknownCtor)
    assert.ok(isRpcError(u) && u.error_code === 400, `unknown constructor answered ${JSON.stringify(u)}`)
    const boom = await c.invoke({ _: 'help.getAppConfig', hash: 0 })
    assert.ok(isRpcError(boom) && boom.error_code === 500 && boom.error_message === 'INTERNAL')
    const flood = await c.invoke({ _: 'help.getPromoData' })
    assert.ok(isRpcError(flood) && flood.error_code === 420 && flood.error_message === 'FLOOD_WAIT_5')
    const ok = await c.invoke({ _: 'help.getNearestDc' })
    assert.ok(!Buffer.isBuffer(ok) && ok._ === 'nearestDc')
    assert.equal(c.isClosed, false)
  })

  it('destroy_auth_key (encrypted): the key is destroyed, then the gateway no longer knows the key (-404)', async () => {
    const key = await newKey(e)
    const c = await connect({ key })
    assert.equal((await c.ping()).readUInt32LE(0), 0x347773c5) // pong
    // Answered as a plain message (as TDLib handles it), not inside rpc_result.
    c.sendMessage(encode({ _: 'destroy_auth_key' }), true)
    for (let t0 = Date.now(); (await e.server.store.get(key.id)) !== undefined; ) {
      assert.ok(Date.now() - t0 < 5000, 'the key was not destroyed')
      await new Promise((r) => setTimeout(r, 20))
    }
    const again = await connect({ key })
    await assert.rejects(again.ping())
    assert.deepEqual(again.log.transportErrors, [-404])
  })

  it('unknown auth_key_id → transport error -404 and the connection is closed', async () => {
    const c = await connect({ key: new AuthKey(randomBytes(256)) })
    const p = c.ping()
    await assert.rejects(p)
    assert.deepEqual(c.log.transportErrors, [-404])
  })
})
