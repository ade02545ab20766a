/**
 * gRPC plumbing shared by both node kinds: credentials (insecure on a private network, or mutual
 * TLS), channel options, the grpc.health.v1 service, and a node's server (bind, stop).
 */
import * as grpc from '@grpc/grpc-js'
import type { ClusterSettings, ClusterTls } from '../config/cluster.js'
import { protos, type HealthStatus } from './proto.js'

/** Metadata key naming the gateway that opens a Connect stream. */
export const GATEWAY_ID_HEADER = 'mtgate-gateway-id'

export function serverCredentials(tls: ClusterTls | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure()
  return grpc.ServerCredentials.createSsl(tls.ca, [{ cert_chain: tls.cert, private_key: tls.key }], true)
}

export function clientCredentials(tls: ClusterTls | undefined): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure()
  return grpc.credentials.createSsl(tls.ca, tls.key, tls.cert)
}

/** Channel options: keepalives so a dead peer is noticed on an idle stream, big messages. */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 5000,
  'grpc.keepalive_timeout_ms': 3000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.max_receive_message_length': 64 << 20,
  'grpc.max_send_message_length': 64 << 20,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 2000,
}

export const SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.keepalive_time_ms': 5000,
  'grpc.keepalive_timeout_ms': 3000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 1000,
  'grpc.max_receive_message_length': 64 << 20,
  'grpc.max_send_message_length': 64 << 20,
}

/** grpc.health.v1.Health: "" is the node as a whole; named services may be added. */
export class HealthService {
  private readonly status = new Map<string, HealthStatus>()
  private readonly watchers = new Set<{ service: string; call: grpc.ServerWritableStream<{ service: string }, { status: HealthStatus }> }>()

  constructor(services: string[]) {
    for (const s of ['', ...services]) this.status.set(s, 'NOT_SERVING')
  }

  set(status: 'SERVING' | 'NOT_SERVING'): void {
    for (const s of this.status.keys()) this.status.set(s, status)
    for (const w of this.watchers) w.call.write({ status: this.get(w.service) })
  }

  get(service: string): HealthStatus {
    return this.status.get(service) ?? 'SERVICE_UNKNOWN'
  }

  /** Ends every Watch stream (server shutdown). */
  close(): void {
    for (const w of this.watchers) w.call.end()
    this.watchers.clear()
  }

  addTo(server: grpc.Server): void {
    server.addService(protos().health, {
      Check: (call: grpc.ServerUnaryCall<{ service: string }, { status: HealthStatus }>, cb: grpc.sendUnaryData<{ status: HealthStatus }>) => {
        const st = this.status.get(call.request.service)
        if (st === undefined) cb({ code: grpc.status.NOT_FOUND, details: `unknown service ${call.request.service}` })
        else cb(null, { status: st })
      },
      Watch: (call: grpc.ServerWritableStream<{ service: string }, { status: HealthStatus }>) => {
        const w = { service: call.request.service, call }
        this.watchers.add(w)
        call.write({ status: this.get(w.service) })
        call.on('cancelled', () => this.watchers.delete(w))
        call.on('close', () => this.watchers.delete(w))
      },
    })
  }
}

/** Binds `server` to host:port (port 0 = any); resolves the bound port. */
export function bindServer(server: grpc.Server, address: string, creds: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, creds, (err, port) => (err ? reject(err) : resolve(port)))
  })
}

/** Replaces the port of host:port. */
export function withPort(address: string, port: number): string {
  return address.slice(0, address.lastIndexOf(':') + 1) + String(port)
}

/** A deadline `ms` from now, for CallOptions. */
export function deadline(ms: number): Date {
  return new Date(Date.now() + ms)
}

/** A cluster node's gRPC server with grpc.health.v1, bound to cluster.listen. */
export interface NodeServer {
  server: grpc.Server
  health: HealthService
  /** The advertised address (cluster.advertise, with the bound port when it says port 0). */
  address: string
}

/**
 * Creates the gRPC server of a node with grpc.health.v1 (for `services`) and binds it (mutual TLS
 * when cluster.tls is set); the node adds its own services to `server`.
 */
export async function startNodeServer(cc: ClusterSettings, services: string[]): Promise<NodeServer> {
  const server = new grpc.Server(SERVER_OPTIONS)
  const health = new HealthService(services)
  health.addTo(server)
  try {
    const port = await bindServer(server, cc.listen, serverCredentials(cc.tls))
    return { server, health, address: cc.advertise.endsWith(':0') ? withPort(cc.advertise, port) : cc.advertise }
  } catch (e) {
    server.forceShutdown()
    throw e
  }
}

/** Stops a node's gRPC server: health closed, calls in progress get up to `graceMs`, then it is forced down. */
export async function stopNodeServer(n: NodeServer, graceMs = 2000): Promise<void> {
  n.health.close()
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      n.server.forceShutdown()
      resolve()
    }, graceMs)
    n.server.tryShutdown(() => {
      clearTimeout(t)
      resolve()
    })
  })
}
