/**
 * Traces on a cluster session node (real etcd): RPCs through a gateway node are spans of the session
 * node that dispatches them, sent to its OTLP endpoint when it stops; a call it forwards to an
 * upstream backend carries the span's traceparent.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { GatewayNode } from '../../src/cluster/gateway-node.js'
import type { SessionNode } from '../../src/cluster/session-node.js'
import { MemoryAuthKeyStore } from '../../src/store/memory.js'
import { encode } from '../../src/tl/index.js'
import { startOtlpReceiver } from '../helpers/otlp.js'
import { skipWithout, startEtcd } from '../helpers/services.js'
import { startUpstream } from '../helpers/upstream.js'
import { httpClientThrough, makeDataDir, startGateway, startSession, waitFor } from './harness.js'

describe('tracing on a cluster session node (real etcd)', { skip: skipWithout('etcd') }, () => {
  it('spans come from the session node; the upstream gets the traceparent', async () => {
    const etcd = await startEtcd()
    const otlp = await startOtlpReceiver()
    const up = await startUpstream(() => ({ rpcError: { code: 403, message: 'CHAT_WRITE_FORBIDDEN' } }))
    const base = { etcd: etcd.endpoint, prefix: '/tracing/', dataDir: makeDataDir() }
    let session: SessionNode | undefined
    let gateway: GatewayNode | undefined
    try {
      const extra = { upstreams: [{ name: 'bff', targets: [up.address] }], routes: { 'messages.': 'bff' }, tracing: { otlp_endpoint: otlp.url, service_name: 'session-s1' } }
      session = await startSession({ ...base, nodeId: 's1', extra }, new MemoryAuthKeyStore())
      gateway = await startGateway({ ...base, nodeId: 'g1', extra: { ws_port: 0, tracing: { otlp_endpoint: otlp.url, service_name: 'gateway-g1' } } })
      await waitFor(() => gateway!.remote.ring.size === 1, 10_000, 'the gateway sees the session node')
      const http = await httpClientThrough(gateway)
      try {
        const sent = await http.send(encode({ _: 'messages.getDialogFilters' }), true)
        await http.until(sent.messages, (m) => m.result?._ === 'rpc_error')
      } finally {
        http.close()
      }
    } finally {
      await gateway?.stop()
      await session?.stop() // flushes the spans
      await up.stop()
      await otlp.close()
      await etcd.destroy()
    }
    assert.deepEqual(
      otlp.spans.map((s) => [s.name, s.resource['service.name'], s.attributes['mtproto.outcome'], s.attributes['mtproto.transport']]),
      [
        ['help.getNearestDc', 'session-s1', 'ok', 'http'],
        ['messages.getDialogFilters', 'session-s1', 'rpc_error', 'http'],
      ],
    )
    const failed = otlp.spans[1]!
    assert.equal(failed.attributes['mtproto.error_code'], 403)
    assert.equal(up.metadata.length, 1)
    assert.deepEqual(up.metadata[0]!.get('traceparent'), [`00-${failed.traceId}-${failed.spanId}-01`])
  })
})
