/**
 * Clients of one user at different layers (GramJS 198, mtcute 227) on one server: one push reaches
 * each client's update handler in its own layer (`message` has another constructor id in each), and
 * a bare Vector<User> result (`user` differs between 198 and 227) is written in each client's layer.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { gramjs, gramjsClient, type GramClient, type GramObject } from '../helpers/gramjs.js'
import { mtcuteClient, type MtcuteClient } from '../helpers/mtcute.js'
import { startE2eServer, waitFor, type E2eServer } from './harness.js'
import { newMessagePush } from './scenario.js'

const { Api, Raw } = gramjs()
const USER = 7n

type MtUpdate = { _: string; update?: { _: string; message?: { _: string; message?: string } } }

describe('a push reaches clients of different layers, each in its own', () => {
  let e: E2eServer
  let gram: GramClient
  let mt: MtcuteClient
  const layers: number[] = []

  before(async () => {
    e = await startE2eServer({ host: '127.0.77.51' })
    e.server.handle('account.updateStatus', (_req, ctx) => {
      ctx.userId = USER
      layers.push(ctx.layer!)
      return true
    })
    e.server.handle('users.getUsers', () => [{ _: 'user' as const, id: USER, first_name: 'Layered' }])
    gram = gramjsClient({ host: e.host, key: e, transport: 'full' })
    await gram.connect()
    // mtcute's update machinery (on: sessions with updates off get no pushes) asks for the state first
    e.server.handle('updates.getState', () => ({ _: 'updates.state' as const, pts: 1, qts: 0, date: Math.floor(Date.now() / 1000), seq: 0, unread_count: 0 }))
    mt = await mtcuteClient({ host: e.host, port: 80, pem: e.publicPem, updates: true })
    const account = (Api as unknown as { account: { UpdateStatus: new (a: object) => object } }).account
    await gram.invoke(new account.UpdateStatus({ offline: false }))
    await mt.call({ _: 'account.updateStatus', offline: false })
  })
  after(async () => {
    await gram?.destroy()
    await mt?.destroy()
    await e?.close()
  })

  it('both keys belong to the user, at layers 198 and 227', () => {
    assert.deepEqual(layers.sort(), [198, 227])
    assert.ok(e.server.sessions.loadedKeys().length >= 2)
  })

  it('users.getUsers (Vector<User>, a bare result) parses in both', async () => {
    const users = (Api as unknown as { users: { GetUsers: new (a: object) => object } }).users
    const g = await gram.invoke<GramObject[]>(new users.GetUsers({ id: [] }))
    assert.deepEqual(g.map((u) => [u.className, u.firstName]), [['User', 'Layered']])
    const m = (await mt.call({ _: 'users.getUsers', id: [] })) as unknown as Array<{ _: string; firstName: string }>
    assert.deepEqual(m.map((u) => [u._, u.firstName]), [['user', 'Layered']])
  })

  it("GramJS's and mtcute's handlers each parse the message", async () => {
    const gramGot: GramObject[] = []
    gram.addEventHandler((u) => gramGot.push(u), new Raw({}))
    const mtGot: MtUpdate[] = []
    ;(mt._client as unknown as { onServerUpdate: { add(cb: (u: MtUpdate) => void): void } }).onServerUpdate.add((u) => mtGot.push(u))
    assert.equal(e.server.push({ userId: USER }, newMessagePush('one push, two layers')), 2)
    await waitFor(() => gramGot.some((u) => u.className === 'UpdateNewMessage'), 10_000, 'UpdateNewMessage in GramJS')
    const g = gramGot.find((u) => u.className === 'UpdateNewMessage')!
    assert.equal((g.message as GramObject).message, 'one push, two layers')
    await waitFor(() => mtGot.some((u) => u.update?._ === 'updateNewMessage'), 10_000, 'updateNewMessage in mtcute')
    const m = mtGot.find((u) => u.update?._ === 'updateNewMessage')!
    assert.deepEqual([m.update!.message!._, m.update!.message!.message], ['message', 'one push, two layers'])
  })
})
