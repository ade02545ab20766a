/**
 * `mtgate gateway`: the gateway side (listeners, transports, the handshake and the encrypted path,
 * as in `mtgate serve`: GatewaySide) with the session layer behind gRPC: RemoteSessions routes each
 * auth_key_id over the rendezvous ring of live session nodes, and the handshake stores new keys
 * through RemoteAuthKeyStore. Auth keys are held only in the encrypted path's memory (its LRU and
 * the live connections). Registered in etcd as role "gateway" with a gRPC server carrying
 * grpc.health.v1.
 */
import { MtgateMetrics } from '../admin/metrics.js'
import { AdminServer, membershipKnown, storeAnswers } from '../admin/server.js'
import type { AuthKeyStore } from '../store/types.js'
import { secureRandom, type RandomSource } from '../crypto/random.js'
import type { RsaKeySet } from '../handshake/rsa-keyset.js'
import { GatewaySide, type ListenAddress } from '../gateway/front.js'
import type { EncryptedPath } from '../gateway/encrypted.js'
import { systemClock, type Clock } from '../util/clock.js'
import { rootLogger, type Logger } from '../util/log.js'
import type { ClusterConfig } from '../config/cluster.js'
import { startNodeServer, stopNodeServer, type NodeServer } from './grpc.js'
import { nodeRegistry, type Registry } from './registry.js'
import { RemoteAuthKeyStore } from './remote-store.js'
import { RemoteSessions } from './remote-sessions.js'

export interface GatewayNodeDeps {
  clock?: Clock
  /** Handshake and transport randomness; message padding too when given (default: message.ts's pooled CSPRNG, as mtgate serve). */
  random?: RandomSource
  log?: Logger
  /** Run handshake crypto inline instead of a worker pool (tests with many nodes). */
  inlineHandshakeCrypto?: boolean
  /** Registry loop period (ms); default lease_ttl/3. */
  registryIntervalMs?: number
}

export class GatewayNode {
  private stopping: Promise<void> | undefined
  private admin: AdminServer | undefined
  readonly rsaKeys: RsaKeySet
  readonly encrypted: EncryptedPath
  /** The advertised gRPC (health) address. */
  readonly address: string

  private constructor(
    readonly config: ClusterConfig,
    readonly nodeId: string,
    private readonly side: GatewaySide,
    readonly remote: RemoteSessions,
    readonly registry: Registry,
    private readonly grpc: NodeServer,
    private readonly log: Logger,
    private readonly store: AuthKeyStore,
  ) {
    this.rsaKeys = side.rsaKeys
    this.encrypted = side.encrypted
    this.address = grpc.address
  }

  static async start(config: ClusterConfig, deps: GatewayNodeDeps = {}): Promise<GatewayNode> {
    const { server: sc, cluster: cc } = config
    const clock = deps.clock ?? systemClock
    const random = deps.random ?? secureRandom
    const log = (deps.log ?? rootLogger).child({ node: cc.nodeId, role: 'gateway' })
    const remote = new RemoteSessions({
      gatewayId: cc.nodeId,
      log: log.child({ mod: 'remote' }),
      tls: cc.tls,
      callTimeoutMs: cc.callTimeoutMs,
      streamQueueMax: cc.streamQueueMax,
      pauseTimeoutMs: cc.streamPauseTimeoutMs,
    })
    let side: GatewaySide | undefined
    let grpc: NodeServer | undefined
    let registry: Registry | undefined
    const metrics = sc.admin === null ? undefined : new MtgateMetrics({ role: 'gateway', node: cc.nodeId })
    const remoteStore = new RemoteAuthKeyStore(remote)
    const store = metrics ? metrics.instrumentStore(remoteStore) : remoteStore
    let node: GatewayNode | undefined
    let admin: AdminServer | undefined
    try {
      if (metrics && sc.admin !== null) admin = await AdminServer.start(sc.admin, metrics, async () => (node === undefined ? 'starting' : node.readiness()), log)
      side = GatewaySide.create({
        config: sc,
        store,
        gatewayId: cc.nodeId,
        clock,
        random,
        paddingRandom: deps.random,
        log,
        inlineHandshakeCrypto: deps.inlineHandshakeCrypto,
        onKeyCreated: (fingerprint) =>
          log.warn({ fingerprint }, 'generated a new RSA key: every gateway of the cluster must serve the same keys (copy data_dir/rsa)'),
      })
      side.encrypted.attach(remote)
      remote.attach(side.encrypted)
      grpc = await startNodeServer(cc, [])
      const reg = (registry = nodeRegistry(cc, 'gateway', grpc.address, log, deps.registryIntervalMs))
      reg.on('change', () => remote.setMembers(reg.members('session')))
      metrics?.status.observeMembership(reg)
      await reg.start()
      remote.setMembers(reg.members('session'))
      const front = await side.listen()
      // a full stream to a session node pauses the client sockets feeding it (not a close)
      remote.attachFlow(front)
      metrics?.observeGateway(front, side.encrypted)
      node = new GatewayNode(config, cc.nodeId, side, remote, reg, grpc, log, store)
      node.admin = admin
      grpc.health.set('SERVING')
      log.info({ listen: front.addresses.map((a) => `${a.kind}://${a.host}:${a.port}`), grpc: grpc.address, sessionNodes: reg.members('session').length }, 'gateway node started')
      return node
    } catch (e) {
      await admin?.close()
      await registry?.stop().catch(() => undefined)
      grpc?.server.forceShutdown()
      await side?.close().catch(() => undefined)
      remote.close()
      throw e
    }
  }

  /** Reads the TLS certificate files again (SIGHUP); throws, keeping the old certificate, on a bad file. */
  reloadTls(): void {
    this.side.front.reloadTls()
  }

  get addresses(): ListenAddress[] {
    return this.side.front.addresses
  }

  /** host and port of the admin HTTP port (config admin); undefined when off or not bound. */
  get adminAddress(): { host: string; port: number } | undefined {
    return this.admin?.address
  }

  /** /readyz: why this gateway is not ready (draining, no membership, no session node answering), or undefined. */
  async readiness(): Promise<string | undefined> {
    if (this.stopping !== undefined) return 'draining'
    return membershipKnown(this.registry, true) ?? storeAnswers(this.store)
  }

  get connectionCount(): number {
    return this.side.front.connectionCount
  }

  /**
   * Graceful drain: stop accepting (new connections closed, health NOT_SERVING, out of etcd), let
   * traffic in flight finish (until 200 ms without a message either way, at most limits.drainTimeoutMs),
   * then close the client connections (they reconnect through another gateway), end the streams.
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop()
    return this.stopping
  }

  private async doStop(): Promise<void> {
    const t0 = Date.now()
    const front = this.side.front
    front.refuseNew('gateway stopping')
    this.log.info({ connections: front.connectionCount }, 'gateway draining')
    // New connections are closed on arrival from here on (refuseNew); the listeners stay open
    // until the end because closing them destroys the sockets they accepted.
    this.grpc.health.set('NOT_SERVING')
    await this.registry.deregister()
    const until = Date.now() + this.config.server.limits.drainTimeoutMs
    const quietSince = (): number => Date.now() - Math.max(this.remote.lastInboundAt, this.remote.lastOutboundAt, t0)
    while (Date.now() < until && (quietSince() < 200 || this.remote.queued > 0)) {
      await new Promise((r) => setTimeout(r, 20))
    }
    await this.side.closeFront('gateway stopping')
    this.remote.close()
    await stopNodeServer(this.grpc)
    await this.registry.stop()
    await this.side.close()
    await this.admin?.close()
    this.log.info({ ms: Date.now() - t0 }, 'gateway stopped')
  }
}
