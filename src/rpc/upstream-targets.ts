/**
 * One configured upstream: a gRPC channel per target address, picked round-robin among those with
 * a connection up, and a bound on the calls in flight. The targets are the configured list, or
 * what service discovery last found (setTargets: channels of addresses that stay are kept).
 */
import * as grpc from '@grpc/grpc-js'
import { CHANNEL_OPTIONS } from '../cluster/grpc.js'
import type { UpstreamSettings } from '../config/types.js'
import type { InvokeReplyIn, InvokeRequestIn } from './upstream-wire.js'
import { upstreamProto, type UpstreamClient } from './upstream-proto.js'
import { StreamInvoker } from './upstream-stream.js'

/**
 * Channels to backends: big messages and quick reconnects as between mtgate nodes, but keepalive
 * pings no more often than the 5 minutes gRPC servers accept by default (Go's and C-core's
 * enforcement answers more frequent pings with GOAWAY too_many_pings), and only during calls.
 * No channelz bookkeeping (per-call counters and traces nobody reads: mtgate serves no channelz).
 */
export const UPSTREAM_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  ...CHANNEL_OPTIONS,
  'grpc.keepalive_time_ms': 300_000,
  'grpc.keepalive_timeout_ms': 20_000,
  'grpc.keepalive_permit_without_calls': 0,
  'grpc.enable_channelz': 0,
}

export interface UpstreamTarget {
  target: string
  client: UpstreamClient
  /**
   * The call, on the target's stream (config `stream`) or as one unary Invoke. The request's trace
   * context also goes into a unary call's metadata (a stream's metadata is the stream's, not a call's).
   */
  invoke(req: InvokeRequestIn): Promise<InvokeReplyIn>
  close(): void
}

/** One unary Invoke with the request's deadline as the gRPC deadline. */
function unary(client: UpstreamClient, req: InvokeRequestIn): Promise<InvokeReplyIn> {
  const md = new grpc.Metadata()
  if (req.traceparent !== '') {
    md.set('traceparent', req.traceparent)
    if (req.tracestate !== '') md.set('tracestate', req.tracestate)
  }
  return new Promise((resolve, reject) => {
    client.Invoke(req, md, { deadline: new Date(Number(req.deadlineMs)) }, (err, res) => (err ? reject(err) : resolve(res!)))
  })
}

function target(address: string, stream: boolean): UpstreamTarget {
  const client = new (upstreamProto().Client)(address, grpc.credentials.createInsecure(), UPSTREAM_CHANNEL_OPTIONS)
  // connect now, so that the first calls find out which targets are up
  client.getChannel().getConnectivityState(true)
  if (!stream) return { target: address, client, invoke: (req) => unary(client, req), close: () => client.close() }
  const s = new StreamInvoker(client)
  return {
    target: address,
    client,
    invoke: (req) => s.invoke(req),
    close: () => {
      s.close()
      client.close()
    },
  }
}

export class Upstream {
  clients: UpstreamTarget[] = []
  private next = 0
  inFlight = 0

  constructor(readonly settings: UpstreamSettings) {
    this.setTargets(settings.targets)
  }

  /** Replaces the target list: new addresses get a channel (connecting now), gone ones are closed. */
  setTargets(targets: readonly string[]): void {
    const old = new Map(this.clients.map((c) => [c.target, c]))
    this.clients = [...new Set(targets)].map((address) => {
      const kept = old.get(address)
      old.delete(address)
      return kept ?? target(address, this.settings.stream)
    })
    for (const c of old.values()) c.close()
  }

  /**
   * The next target round-robin among those with a connection up; when none is up, among those not
   * known to be failing; when all are failing, the next one (the call fails at once). `skip`:
   * targets already tried for this call. Undefined when there is no target at all.
   */
  pick(skip?: ReadonlySet<string>): UpstreamTarget | undefined {
    const cands = skip === undefined ? this.clients : this.clients.filter((c) => !skip.has(c.target))
    const n = cands.length
    if (n === 0) return undefined
    const { READY, TRANSIENT_FAILURE } = grpc.connectivityState
    for (const usable of [(s: grpc.connectivityState) => s === READY, (s: grpc.connectivityState) => s !== TRANSIENT_FAILURE]) {
      for (let i = 0; i < n; i++) {
        const c = cands[(this.next + i) % n]!
        if (usable(c.client.getChannel().getConnectivityState(false))) {
          this.next = (this.next + i + 1) % n
          return c
        }
      }
    }
    const c = cands[this.next % n]!
    this.next = (this.next + 1) % n
    return c
  }

  /** How many targets have their connection up. */
  get connected(): number {
    return this.clients.filter((c) => c.client.getChannel().getConnectivityState(false) === grpc.connectivityState.READY).length
  }

  close(): void {
    for (const c of this.clients) c.close()
    this.clients = []
  }
}
