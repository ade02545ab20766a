/**
 * Teamgram's session service (config teamgram.session_service) of `mtgate serve`, called with
 * Teamgram's messages by a grpc-js client as Teamgram's sync service does, with a real mtcute
 * client behind a teamgram-bff upstream: pushUpdatesData to the permanent key, pushSessionUpdatesData
 * to one session, pushRpcResultData completing a call the BFF answered 700; gateway-side methods
 * UNIMPLEMENTED; a bad request INVALID_ARGUMENT.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as grpc from '@grpc/grpc-js'
import { boolMessage, encodeObject, encodeResult } from '../../../src/rpc/teamgram/codec.js'
import { int64, PbWriter, readMessage } from '../../../src/rpc/teamgram/protobuf.js'
import { teamgramSessionService } from '../../../src/rpc/teamgram/session-service.js'
import { encode, type TlObject } from '../../../src/tl/index.js'
import { mtcuteClient, type MtcuteClient, type TlResult } from '../../helpers/mtcute.js'
import { startFakeBff, type BffCall, type FakeBff } from '../../helpers/teamgram-bff.js'
import { startE2eServer, waitFor, type E2eServer } from '../../e2e/harness.js'

const now = (): number => Math.floor(Date.now() / 1000)
const statusUpdate = (expires: number): TlObject =>
  ({ _: 'updateShort', update: { _: 'updateUserStatus', user_id: 501n, status: { _: 'userStatusOnline', expires } }, date: now() }) as TlObject

/** session.TLConstructor values of the push requests (session.tl.proto). */
const CTOR = { pushUpdatesData: -1519069143, pushSessionUpdatesData: 1173618080, pushRpcResultData: 1262947465 }

type SessionClient = grpc.Client & Record<string, (req: Buffer, cb: (e: grpc.ServiceError | null, r?: Buffer) => void) => void>

/** The caller's RpcMetadata a BFF call carried: perm key (22), auth key (4), session (5), msg_id (12). */
function metaOf(c: BffCall): { perm: bigint; authKey: bigint; session: bigint; msgId: bigint } {
  const m = readMessage(Buffer.from(c.metadata.get('rpc_metadata')[0] as string, 'base64'))
  const l = (n: number): bigint => int64((m.get(n)![0] as { v: bigint }).v)
  return { perm: l(22), authKey: l(4), session: l(5), msgId: l(12) }
}

describe("Teamgram's session.RPCSession served by mtgate serve", () => {
  let bff: FakeBff
  let e: E2eServer
  let tg: MtcuteClient
  let session: SessionClient
  const seen: TlResult[] = []
  const call = (rpc: string, req: Buffer): Promise<Buffer> => new Promise((resolve, reject) => session[rpc]!(req, (err, r) => (err ? reject(err) : resolve(r!))))
  const gotStatus = (expires: number): boolean => seen.some((u) => (u as { update?: { status?: { expires?: number } } }).update?.status?.expires === expires)

  before(async () => {
    bff = await startFakeBff({
      'account.updateStatus': () => ({ reply: encodeResult('account.updateStatus', true) }),
      'messages.sendMessage': () => ({ code: 700, details: 'NOTRETURN_CLIENT' }),
    })
    e = await startE2eServer({
      host: '127.0.0.1',
      tcpPort: 0,
      config: {
        teamgram: { session_service: '127.0.0.1:0' },
        upstreams: [{ name: 'bff', kind: 'teamgram-bff', targets: [bff.address], result_timeout_ms: 5000 }],
        routes: { 'account.updateStatus': 'bff', 'messages.sendMessage': 'bff' },
      },
    })
    const Client = grpc.makeGenericClientConstructor(teamgramSessionService, 'RPCSession') as unknown as new (a: string, c: grpc.ChannelCredentials) => SessionClient
    session = new Client(e.server.teamgramSessionAddress!, grpc.credentials.createInsecure())
    tg = await mtcuteClient({ host: e.host, port: e.tcpPort!, pem: e.publicPem, updates: true })
    ;(tg._client as unknown as { onServerUpdate: { add(cb: (u: TlResult) => void): void } }).onServerUpdate.add((u) => seen.push(u))
    await tg.connect()
    await tg.call({ _: 'account.updateStatus', offline: false })
  })
  after(async () => {
    session?.close()
    await tg?.destroy()
    await e?.close()
    await bff?.close()
  })

  it('pushUpdatesData (Teamgram protobuf Updates) reaches every session of the permanent key; the answer is boolTrue', async () => {
    const { perm } = metaOf(bff.calls.find((c) => c.method === 'account.updateStatus')!)
    const expires = now() + 100
    const req = new PbWriter().uint(1, CTOR.pushUpdatesData).uint(3, perm).uint(4, true).bytes(5, encodeObject(statusUpdate(expires))!).finish()
    assert.deepEqual(await call('session_pushUpdatesData', req), boolMessage(true))
    await waitFor(() => gotStatus(expires), 10_000, 'the pushed update in the client')
  })

  it('pushSessionUpdatesData reaches that session; another session id reaches none', async () => {
    const { perm, authKey, session: sid } = metaOf(bff.calls.find((c) => c.method === 'account.updateStatus')!)
    const expires = now() + 200
    const to = (s: bigint, exp: number): Buffer =>
      new PbWriter().uint(1, CTOR.pushSessionUpdatesData).uint(3, perm).uint(4, authKey).uint(5, s).bytes(6, encodeObject(statusUpdate(exp))!).finish()
    assert.deepEqual(await call('session_pushSessionUpdatesData', to(12345n, expires + 1)), boolMessage(true))
    assert.deepEqual(await call('session_pushSessionUpdatesData', to(sid, expires)), boolMessage(true))
    await waitFor(() => gotStatus(expires), 10_000, 'the session push in the client')
    assert.equal(gotStatus(expires + 1), false, 'not the push to another session')
  })

  it('pushRpcResultData completes the call the BFF answered 700 (NotReturnClient)', async () => {
    const pending = tg.call({ _: 'messages.sendMessage', peer: { _: 'inputPeerSelf' }, message: 'hi', randomId: 7n } as never)
    await waitFor(() => bff.calls.some((c) => c.method === 'messages.sendMessage'), 5000, 'the call reached the BFF')
    const m = metaOf(bff.calls.find((c) => c.method === 'messages.sendMessage')!)
    const sent = encode({ _: 'updateShortSentMessage', id: 9, pts: 3, pts_count: 1, date: now() } as TlObject)
    const req = new PbWriter().uint(1, CTOR.pushRpcResultData).uint(3, m.perm).uint(4, m.perm).uint(5, m.session).uint(6, m.msgId).bytes(7, sent).finish()
    assert.deepEqual(await call('session_pushRpcResultData', req), boolMessage(true))
    const r = (await pending) as { _: string; id: number }
    assert.equal(r._, 'updateShortSentMessage')
    assert.equal(r.id, 9)
  })

  it("gateway-side methods are UNIMPLEMENTED; updates that are no Updates are INVALID_ARGUMENT", async () => {
    await assert.rejects(call('session_queryAuthKey', new PbWriter().uint(3, 1n).finish()), (err: grpc.ServiceError) => err.code === grpc.status.UNIMPLEMENTED)
    const notUpdates = new PbWriter().uint(1, CTOR.pushUpdatesData).uint(3, 5n).bytes(5, encodeObject({ _: 'userEmpty', id: 1n } as TlObject)!).finish()
    await assert.rejects(call('session_pushUpdatesData', notUpdates), (err: grpc.ServiceError) => err.code === grpc.status.INVALID_ARGUMENT && err.details.includes('userEmpty'))
  })
})
