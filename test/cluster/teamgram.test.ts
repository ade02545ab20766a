/**
 * Teamgram on a cluster session node (real etcd): an mtcute client through a gateway, a
 * teamgram-bff upstream, and the node's Teamgram session service (teamgram.session_service):
 * pushUpdatesData reaches the client, pushRpcResultData completes a call the BFF answered 700.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import type { GatewayNode } from '../../src/cluster/gateway-node.js'
import type { SessionNode } from '../../src/cluster/session-node.js'
import { boolMessage, encodeObject, encodeResult } from '../../src/rpc/teamgram/codec.js'
import { int64, PbWriter, readMessage } from '../../src/rpc/teamgram/protobuf.js'
import { teamgramSessionService } from '../../src/rpc/teamgram/session-service.js'
import { encode, type TlObject } from '../../src/tl/index.js'
import { skipWithout, type EtcdInstance, startEtcd } from '../helpers/services.js'
import { startFakeBff, type BffCall, type FakeBff } from '../helpers/teamgram-bff.js'
import { makeDataDir, mtcuteClient, publicKeyOf, startGateway, startSession, waitFor, type MtcuteClient, type TlResult } from './harness.js'

type SessionClient = grpc.Client & Record<string, (req: Buffer, cb: (e: grpc.ServiceError | null, r?: Buffer) => void) => void>

const meta = (c: BffCall): Map<number, bigint> => {
  const m = readMessage(Buffer.from(c.metadata.get('rpc_metadata')[0] as string, 'base64'))
  return new Map([...m].filter(([, v]) => v[0]!.wire === 0).map(([n, v]) => [n, int64((v[0] as { v: bigint }).v)]))
}

describe('Teamgram BFF and session service on a cluster session node (real etcd)', { skip: skipWithout('etcd') }, () => {
  let etcd: EtcdInstance
  let bff: FakeBff
  let session: SessionNode
  let gateway: GatewayNode
  let tg: MtcuteClient
  let rpc: SessionClient
  const got: TlResult[] = []
  const call = (m: string, req: Buffer): Promise<Buffer> => new Promise((resolve, reject) => rpc[m]!(req, (err, r) => (err ? reject(err) : resolve(r!))))

  before(async () => {
    etcd = await startEtcd()
    bff = await startFakeBff({
      'account.updateStatus': () => ({ reply: encodeResult('account.updateStatus', true) }),
      'messages.sendMessage': () => ({ code: 700, details: 'NOTRETURN_CLIENT' }),
    })
    const base = { etcd: etcd.endpoint, prefix: '/teamgram/', dataDir: makeDataDir() }
    session = await startSession({
      ...base,
      nodeId: 's1',
      extra: {
        teamgram: { session_service: '127.0.0.1:0' },
        upstreams: [{ name: 'bff', kind: 'teamgram-bff', targets: [bff.address] }],
        routes: { 'account.': 'bff', 'messages.': 'bff' },
      },
    })
    gateway = await startGateway({ ...base, nodeId: 'g1' })
    await waitFor(() => gateway.remote.ring.size === 1, 10_000, 'the gateway sees the session node')
    const port = gateway.addresses.find((a) => a.kind === 'tcp')!.port
    tg = await mtcuteClient('127.0.0.1', port, publicKeyOf(base.dataDir).pem, true)
    ;(tg._client as unknown as { onServerUpdate: { add(cb: (u: TlResult) => void): void } }).onServerUpdate.add((u) => got.push(u))
    const Client = grpc.makeGenericClientConstructor(teamgramSessionService, 'RPCSession') as unknown as new (a: string, c: grpc.ChannelCredentials) => SessionClient
    rpc = new Client(session.teamgram!.session.address, grpc.credentials.createInsecure())
  })
  after(async () => {
    rpc?.close()
    await tg?.destroy().catch(() => undefined)
    await gateway?.stop()
    await session?.stop()
    await bff?.close()
    await etcd?.destroy()
  })

  it('pushUpdatesData to the permanent key reaches the client', async () => {
    assert.equal(await (tg.call({ _: 'account.updateStatus', offline: false }) as Promise<unknown>), true)
    const perm = meta(bff.calls.at(-1)!).get(22)!
    const date = Math.floor(Date.now() / 1000)
    const updates = { _: 'updateShort', update: { _: 'updateUserStatus', user_id: 31n, status: { _: 'userStatusOnline', expires: date + 77 } }, date } as TlObject
    const req = new PbWriter().uint(1, -1519069143).uint(3, perm).bytes(5, encodeObject(updates)!).finish()
    assert.deepEqual(await call('session_pushUpdatesData', req), boolMessage(true))
    await waitFor(() => got.some((u) => (u as { update?: { status?: { expires?: number } } }).update?.status?.expires === date + 77), 10_000, 'the push in mtcute')
  })

  it('pushRpcResultData completes the call deferred with 700', async () => {
    const pending = tg.call({ _: 'messages.sendMessage', peer: { _: 'inputPeerSelf' }, message: 'hi', randomId: 3n } as never)
    await waitFor(() => bff.calls.some((c) => c.method === 'messages.sendMessage'), 5000, 'the call reached the BFF')
    const m = meta(bff.calls.find((c) => c.method === 'messages.sendMessage')!)
    const sent = encode({ _: 'updateShortSentMessage', id: 4, pts: 2, pts_count: 1, date: Math.floor(Date.now() / 1000) } as TlObject)
    const req = new PbWriter().uint(1, 1262947465).uint(3, m.get(22)!).uint(4, m.get(22)!).uint(5, m.get(5)!).uint(6, m.get(12)!).bytes(7, sent).finish()
    assert.deepEqual(await call('session_pushRpcResultData', req), boolMessage(true))
    assert.equal(((await pending) as unknown as { id: number }).id, 4)
  })
})
