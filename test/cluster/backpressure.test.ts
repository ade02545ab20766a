/**
 * Gateway backpressure toward a session node that stops reading its stream: the client connections
 * feeding the full stream are paused (not closed) and resumed when it drains; a stream that stays
 * full closes them after the pause timeout; a message that finds the queue full closes its
 * connection. The session node here is a gRPC server of our own service whose Connect handler stops
 * reading. Then the same through a real gateway node (etcd for its registration) and a raw client:
 * its socket is paused, nothing is lost, everything arrives once the node reads again.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import { bindServer } from '../../src/cluster/grpc.js'
import { protos } from '../../src/cluster/proto.js'
import { RemoteSessions, type ConnectionFlow } from '../../src/cluster/remote-sessions.js'
import type { WireGatewayFrame, WireSessionFrame } from '../../src/cluster/wire.js'
import type { GatewayLink, InboundMessage, OutboundMessage } from '../../src/session/api.js'
import { AuthKey } from '../../src/crypto/message.js'
import { rootLogger } from '../../src/util/log.js'
import { RawClient } from '../e2e/raw-client.js'
import { skipWithout, type EtcdInstance, startEtcd } from '../helpers/services.js'
import type { GatewayNode } from '../../src/cluster/gateway-node.js'
import { makeDataDir, startGateway, waitFor } from './harness.js'

class FakeLink implements GatewayLink {
  closed: { connId: string; reason: string }[] = []
  send(_connId: string, _out: OutboundMessage): void {}
  closeConnection(connId: string, reason: string): void {
    this.closed.push({ connId, reason })
  }
}

class FakeFlow implements ConnectionFlow {
  /** Pause depth per connection (calls nest like Connection.pause). */
  depth = new Map<string, number>()
  pauses = 0
  resumes = 0
  pauseConnection(connId: string): void {
    this.pauses++
    this.depth.set(connId, (this.depth.get(connId) ?? 0) + 1)
  }
  resumeConnection(connId: string): void {
    this.resumes++
    this.depth.set(connId, (this.depth.get(connId) ?? 0) - 1)
  }
  paused(connId: string): boolean {
    return (this.depth.get(connId) ?? 0) > 0
  }
}

/** A session node whose Connect stream stops reading until `reading(true)`. */
class StallingNode {
  server = new grpc.Server()
  address = ''
  calls: grpc.ServerDuplexStream<WireGatewayFrame, WireSessionFrame>[] = []
  items = 0

  async start(): Promise<void> {
    this.server.addService(protos().session, {
      Connect: (call: grpc.ServerDuplexStream<WireGatewayFrame, WireSessionFrame>) => {
        this.calls.push(call)
        call.on('data', (f: WireGatewayFrame) => (this.items += f.items.length))
        call.on('error', () => undefined)
        call.write({ items: [] }) // the stream is up
        call.pause()
      },
    } as unknown as grpc.UntypedServiceImplementation)
    const port = await bindServer(this.server, '127.0.0.1:0', grpc.ServerCredentials.createInsecure())
    this.address = `127.0.0.1:${port}`
  }

  reading(on: boolean): void {
    for (const c of this.calls) if (on) c.resume()
    else c.pause()
  }

  stop(): void {
    this.server.forceShutdown()
  }
}

const BODY = Buffer.alloc(64 * 1024, 7)
let seq = 0n
function msg(connId: string): InboundMessage {
  seq += 4n
  return { gatewayId: 'g', connId, clientAddr: '127.0.0.1:1', dcId: 2, transport: 'tcp', authKeyId: 1n, salt: 0n, sessionId: 1n, msgId: seq, seqNo: 1, body: BODY, receivedAt: Date.now() }
}

describe('gateway backpressure toward a session node that stops reading', () => {
  let node: StallingNode
  before(async () => {
    node = new StallingNode()
    await node.start()
  })
  after(() => node.stop())

  const setup = async (pauseTimeoutMs: number, streamQueueMax = 64): Promise<{ remote: RemoteSessions; link: FakeLink; flow: FakeFlow }> => {
    const remote = new RemoteSessions({ gatewayId: 'g', log: rootLogger, tls: undefined, callTimeoutMs: 2000, streamQueueMax, pauseTimeoutMs })
    const link = new FakeLink()
    const flow = new FakeFlow()
    remote.attach(link)
    remote.attachFlow(flow)
    remote.setMembers([{ id: 'stall', address: node.address }])
    await waitFor(() => remote.ring.size === 1, 5000, 'stream up')
    return { remote, link, flow }
  }

  /** Sends from `conns` (round robin, one message per turn like socket reads) until one is paused. */
  const fill = async (remote: RemoteSessions, flow: FakeFlow, conns: string[]): Promise<void> => {
    for (let i = 0; i < 20_000 && !conns.some((c) => flow.paused(c)); i++) {
      remote.sendData(msg(conns[i % conns.length]!))
      if (i % 4 === 3) await new Promise((r) => setImmediate(r))
    }
  }

  it('full stream: the feeding connections are paused, not closed; resumed when the node reads again', async () => {
    node.reading(false)
    const { remote, link, flow } = await setup(30_000)
    try {
      await fill(remote, flow, ['c1', 'c2'])
      assert.ok(flow.paused('c1') || flow.paused('c2'), 'a connection was paused')
      // a paused connection sends nothing more (its socket is not read); the other one may still
      // send a few before it is paused too
      remote.sendData(msg('c2'))
      assert.ok(flow.paused('c2'))
      assert.deepEqual(link.closed, [], 'nothing closed')
      assert.equal(remote.stats.refused, 0)
      node.reading(true)
      await waitFor(() => !flow.paused('c1') && !flow.paused('c2'), 10_000, 'connections resumed')
      assert.equal(flow.pauses, flow.resumes, 'every pause undone once')
      assert.ok(remote.stats.resumed >= 1)
      assert.deepEqual(link.closed, [])
      await waitFor(() => remote.queued === 0, 10_000, 'queue drained')
    } finally {
      remote.close()
      node.reading(true)
    }
  })

  it('a stream that stays full: the paused connections are closed after the pause timeout (logged)', async () => {
    node.reading(false)
    const { remote, link, flow } = await setup(300)
    try {
      await fill(remote, flow, ['d1'])
      assert.ok(flow.paused('d1'))
      assert.deepEqual(link.closed, [])
      // the client keeps sending whenever its socket is read (the stream may take a little now and then)
      const t0 = Date.now()
      while (link.closed.length === 0 && Date.now() - t0 < 5000) {
        if (!flow.paused('d1')) remote.sendData(msg('d1'))
        await new Promise((r) => setTimeout(r, 1))
      }
      assert.deepEqual(link.closed, [{ connId: 'd1', reason: 'session stream full' }])
      assert.equal(flow.paused('d1'), false, 'its pause was undone before the close')
      assert.equal(remote.stats.closedOnPauseTimeout, 1)
    } finally {
      remote.close()
      node.reading(true)
    }
  })

  it('the queue bound still holds: a message that finds the queue full closes its connection', async () => {
    node.reading(false)
    const { remote, link, flow } = await setup(30_000, 16)
    try {
      // many connections at once in one turn: more than the queue takes
      for (let i = 0; i < 400; i++) remote.sendData(msg(`e${i}`))
      await waitFor(() => link.closed.length > 0, 5000, 'a close')
      assert.ok(remote.stats.refused > 0)
      assert.ok(link.closed.every((c) => c.reason === 'session stream full'))
      assert.ok(flow.pauses > 0)
    } finally {
      remote.close()
      node.reading(true)
    }
  })
})

describe('gateway backpressure end to end: a real gateway node, a raw client, a stalling session node', { skip: skipWithout('etcd') }, () => {
  let etcd: EtcdInstance
  let gw: GatewayNode
  const node = new StallingNode()
  before(async () => {
    etcd = await startEtcd()
    await node.start()
    gw = await startGateway({ nodeId: 'g-bp', etcd: etcd.endpoint, prefix: '/bp/', dataDir: makeDataDir(), clusterExtra: { stream_queue_max: 64, stream_pause_timeout_ms: 60_000 } })
  })
  after(async () => {
    await gw.stop()
    node.stop()
    await etcd.destroy()
  })

  it('the client connection is paused (not closed) while the stream is full; every message arrives after the node reads again', async () => {
    // the stalling node is not in etcd: hand it to the gateway directly (no other node ever joins here)
    gw.remote.setMembers([{ id: 'stall', address: node.address }])
    await waitFor(() => gw.remote.ring.size === 1, 5000, 'stream up')
    node.reading(false)
    const key = new AuthKey(randomBytes(256))
    gw.encrypted.warm({ id: key.id, key: key.key })
    const port = gw.addresses.find((a) => a.kind === 'tcp')!.port
    const c = await RawClient.connect({ host: '127.0.0.1', port, key })
    try {
      const N = 300
      const body = Buffer.alloc(48 * 1024, 1)
      for (let i = 0; i < N; i++) c.sendMessage(body, true)
      await waitFor(() => gw.remote.stats.paused >= 1, 10_000, 'the connection paused')
      await new Promise((r) => setTimeout(r, 300))
      assert.equal(c.isClosed, false, 'not closed')
      assert.equal(gw.connectionCount, 1)
      assert.equal(gw.remote.stats.refused, 0)
      assert.ok(node.items < N, `the node has not read everything (${node.items})`)
      node.reading(true)
      await waitFor(() => node.items === N, 20_000, `all ${N} messages at the session node`)
      assert.ok(gw.remote.stats.resumed >= 1)
      assert.equal(c.isClosed, false)
    } finally {
      c.close()
    }
  })
})
