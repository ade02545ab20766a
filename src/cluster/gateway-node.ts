/**
 * `mtgate gateway`: TCP / WebSocket listeners, transports, the handshake and the encrypted path
 * (src/server's EncryptedPath / UnencryptedPath, unchanged) with the session layer behind gRPC:
 * RemoteSessions routes each auth_key_id over the rendezvous ring of live session nodes, and the
 * handshake stores new keys through RemoteAuthKeyStore. Auth keys are held only in the encrypted
 * path's memory (its LRU and the live connections). Registered in etcd as role "gateway" with a
 * gRPC server carrying grpc.health.v1.
 */
import * as grpc from '@grpc/grpc-js'
import { mkdirSync } from 'node:fs'
import { secureRandom, type RandomSource } from '../crypto/random.js'
import { CryptoPool } from '../handshake/crypto-pool.js'
import { InlineCrypto, type HandshakeCrypto } from '../handshake/crypto-backend.js'
import { fingerprintHex } from '../handshake/rsa-key.js'
import { createKeyFile, loadKeySet, type RsaKeySet } from '../handshake/rsa-keyset.js'
import { HandshakeService } from '../handshake/server.js'
import { GatewayFront, type ListenAddress } from '../gateway/front.js'
import { EncryptedPath } from '../gateway/encrypted.js'
import { systemClock, type Clock } from '../util/clock.js'
import { drainOnSignal } from './drain.js'
import { rootLogger, type Logger } from '../util/log.js'
import type { ClusterConfig } from '../config/cluster.js'
import { bindServer, HealthService, SERVER_OPTIONS, serverCredentials, withPort } from './grpc.js'
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

  private constructor(
    readonly config: ClusterConfig,
    readonly nodeId: string,
    /** The advertised gRPC (health) address. */
    readonly address: string,
    readonly rsaKeys: RsaKeySet,
    private readonly handshakeCrypto: HandshakeCrypto & { close?: () => unknown },
    private readonly handshake: HandshakeService,
    readonly remote: RemoteSessions,
    readonly encrypted: EncryptedPath,
    private readonly front: GatewayFront,
    readonly registry: Registry,
    private readonly server: grpc.Server,
    private readonly health: HealthService,
    private readonly log: Logger,
  ) {}

  static async start(config: ClusterConfig, deps: GatewayNodeDeps = {}): Promise<GatewayNode> {
    const { server: sc, cluster: cc } = config
    const clock = deps.clock ?? systemClock
    const random = deps.random ?? secureRandom
    const log = (deps.log ?? rootLogger).child({ node: cc.nodeId, role: 'gateway' })
    mkdirSync(sc.dataDir, { recursive: true, mode: 0o700 })
    let rsaKeys = loadKeySet(sc.dataDir)
    if (rsaKeys.offered().length === 0) {
      const k = createKeyFile(sc.dataDir)
      log.warn({ fingerprint: fingerprintHex(k.fingerprint) }, 'generated a new RSA key: every gateway of the cluster must serve the same keys (copy data_dir/rsa)')
      rsaKeys = loadKeySet(sc.dataDir)
    }
    const cleanup: (() => unknown)[] = []
    try {
      const remote = new RemoteSessions({
        gatewayId: cc.nodeId,
        log: log.child({ mod: 'remote' }),
        tls: cc.tls,
        callTimeoutMs: cc.callTimeoutMs,
        streamQueueMax: cc.streamQueueMax,
        pauseTimeoutMs: cc.streamPauseTimeoutMs,
      })
      cleanup.push(() => remote.close())
      const handshakeCrypto: HandshakeCrypto & { close?: () => unknown } = deps.inlineHandshakeCrypto ? new InlineCrypto(rsaKeys) : new CryptoPool(rsaKeys)
      cleanup.push(() => handshakeCrypto.close?.())
      const handshake = new HandshakeService({
        keys: rsaKeys,
        crypto: handshakeCrypto,
        store: new RemoteAuthKeyStore(remote),
        dcId: sc.dcId,
        testMode: sc.telegram.testMode,
        clock,
        random,
        log: log.child({ mod: 'handshake' }),
      })
      cleanup.push(() => handshake.close())
      void handshake.warmUp()
      const encrypted = new EncryptedPath({ gatewayId: cc.nodeId, clock, log: log.child({ mod: 'gateway' }), cacheSize: sc.limits.authKeyCacheSize, random: deps.random })
      encrypted.attach(remote)
      remote.attach(encrypted)
      const server = new grpc.Server(SERVER_OPTIONS)
      const health = new HealthService([])
      health.addTo(server)
      cleanup.push(() => server.forceShutdown())
      const port = await bindServer(server, cc.listen, serverCredentials(cc.tls))
      const address = cc.advertise.endsWith(':0') ? withPort(cc.advertise, port) : cc.advertise

      const registry = nodeRegistry(cc, 'gateway', address, log, deps.registryIntervalMs)
      cleanup.push(() => registry.stop())
      registry.on('change', () => remote.setMembers(registry.members('session')))
      await registry.start()
      remote.setMembers(registry.members('session'))

      const front = await GatewayFront.listen({
        handshake,
        encrypted,
        host: sc.host,
        tcpPorts: sc.tcpPorts,
        wsPort: sc.wsPort,
        wsPath: sc.wsPath,
        maxFrameBytes: sc.limits.maxFrameBytes,
        maxConnections: sc.limits.maxConnections,
        clock,
        random,
        log,
      })
      cleanup.push(() => front.closeListeners())
      // a full stream to a session node pauses the client sockets feeding it (not a close)
      remote.attachFlow(front)
      const node = new GatewayNode(config, cc.nodeId, address, rsaKeys, handshakeCrypto, handshake, remote, encrypted, front, registry, server, health, log)
      health.set('SERVING')
      log.info({ listen: front.addresses.map((a) => `${a.kind}://${a.host}:${a.port}`), grpc: address, sessionNodes: registry.members('session').length }, 'gateway node started')
      return node
    } catch (e) {
      for (const f of cleanup.reverse()) {
        try {
          await f()
        } catch {
          // best effort
        }
      }
      throw e
    }
  }

  get addresses(): ListenAddress[] {
    return this.front.addresses
  }

  get connectionCount(): number {
    return this.front.connectionCount
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
    this.front.refuseNew('gateway stopping')
    this.log.info({ connections: this.front.connectionCount }, 'gateway draining')
    // New connections are closed on arrival from here on (refuseNew); the listeners stay open
    // until the end because closing them destroys the sockets they accepted.
    this.health.set('NOT_SERVING')
    await this.registry.deregister()
    const until = Date.now() + this.config.server.limits.drainTimeoutMs
    const quietSince = (): number => Date.now() - Math.max(this.remote.lastInboundAt, this.remote.lastOutboundAt, t0)
    while (Date.now() < until && (quietSince() < 200 || this.remote.queued > 0)) {
      await new Promise((r) => setTimeout(r, 20))
    }
    this.front.closeConnections('gateway stopping')
    await new Promise((r) => setImmediate(r))
    await this.front.closeListeners()
    this.remote.close()
    this.health.close()
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.server.forceShutdown()
        resolve()
      }, 2000)
      this.server.tryShutdown(() => {
        clearTimeout(t)
        resolve()
      })
    })
    await this.registry.stop()
    this.handshake.close()
    await this.handshakeCrypto.close?.()
    this.log.info({ ms: Date.now() - t0 }, 'gateway stopped')
  }
}

/** `mtgate gateway`: starts a gateway node and drains it on SIGTERM / SIGINT. */
export async function runGateway(config: ClusterConfig, deps: GatewayNodeDeps = {}): Promise<GatewayNode> {
  const node = await GatewayNode.start(config, deps)
  drainOnSignal(node, deps.log)
  return node
}
