/**
 * Cluster test harness: session nodes and gateways (in-process, or as child processes through
 * test/cluster/node-main.ts), a private etcd (test/helpers/services.ts), one RSA key shared by every
 * gateway, a tiny TCP load balancer (what operators put in front of several gateways), and the
 * real clients (mtcute, GramJS) pointed at a gateway or at the balancer.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadClusterConfig, type ClusterConfig } from '../../src/config/cluster.js'
import { GatewayNode } from '../../src/cluster/gateway-node.js'
import { SessionNode } from '../../src/cluster/session-node.js'
import { clientHandshake } from '../../src/handshake/client.js'
import { createKeyFile, loadKeySet } from '../../src/handshake/rsa-keyset.js'
import { encode } from '../../src/tl/index.js'
import { HttpMtClient } from '../e2e/http-client.js'
import type { AuthKeyStore } from '../../src/store/types.js'
import { gramjs, gramjsClient as newGramJsClient, type GramClient, type GramKey } from '../helpers/gramjs.js'
import { mtcuteAuthKey, mtcuteClient as newMtcuteClient, type MtcuteClient, type TlResult } from '../helpers/mtcute.js'
import { freePort } from '../helpers/services.js'
import { waitFor } from '../helpers/wait.js'

/** A data dir with one RSA key (createKeyFile never makes one mtcute cannot look up). */
export function makeDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mtgate-cluster-'))
  createKeyFile(dir)
  return dir
}

export function publicKeyOf(dataDir: string): { pem: string; fingerprint: bigint; modulus: bigint } {
  const k = loadKeySet(dataDir).all()[0]!
  return { pem: k.publicKey.toPem(), fingerprint: k.fingerprint, modulus: k.publicKey.modulus }
}

export interface NodeDoc {
  nodeId: string
  etcd: string
  prefix: string
  dataDir: string
  /** Gateway listener host/port (default 127.0.0.1:0). */
  host?: string
  tcpPort?: number
  /** Extra top-level YAML keys (store, limits...). */
  extra?: Record<string, unknown>
  leaseTtl?: number
  /** Extra keys of the cluster section (tls...). */
  clusterExtra?: Record<string, unknown>
}

/** The YAML document (as an object) of one node. */
export function nodeDoc(o: NodeDoc): Record<string, unknown> {
  return {
    host: o.host ?? '127.0.0.1',
    // session nodes do not listen for clients; the config still wants a port (never bound there)
    tcp_ports: [o.tcpPort ?? 443],
    ws_port: null,
    data_dir: o.dataDir,
    store: { backend: 'memory' },
    limits: { drain_timeout_ms: 2000 },
    admin: null,
    ...o.extra,
    cluster: {
      node_id: o.nodeId,
      etcd: [o.etcd],
      etcd_prefix: o.prefix,
      lease_ttl: o.leaseTtl ?? 3,
      listen: '127.0.0.1:0',
      advertise: '127.0.0.1:0',
      call_timeout_ms: 2000,
      ...o.clusterExtra,
    },
  }
}

export function clusterConfig(o: NodeDoc): ClusterConfig {
  return loadClusterConfig({ doc: nodeDoc(o), env: {} })
}

export async function startSession(o: NodeDoc, store?: AuthKeyStore): Promise<SessionNode> {
  return SessionNode.start(clusterConfig(o), { store, registryIntervalMs: 300 })
}

/**
 * An HTTP MTProto client on a gateway node's web port with a key made through it and one RPC
 * (help.getNearestDc) answered by a session node; the caller closes it.
 */
export async function httpClientThrough(gateway: GatewayNode): Promise<HttpMtClient> {
  const ws = gateway.addresses.find((a) => a.kind === 'ws')!
  const http = new HttpMtClient(`http://${ws.host}:${ws.port}`)
  try {
    const r = await clientHandshake(http.plain, { publicKeys: gateway.rsaKeys.all().map((k) => k.publicKey), dcId: 2 })
    http.useKey(r.authKey, r.serverSalt)
    await http.until((await http.send(encode({ _: 'help.getNearestDc' }), true)).messages, (m) => m.result?._ === 'nearestDc')
    return http
  } catch (e) {
    http.close()
    throw e
  }
}

export async function startGateway(o: NodeDoc): Promise<GatewayNode> {
  return GatewayNode.start(clusterConfig({ ...o, tcpPort: o.tcpPort ?? (await freePort()) }), { inlineHandshakeCrypto: true, registryIntervalMs: 300 })
}

// ---------------------------------------------------------------------------------------------
// nodes as child processes (kill -9)
// ---------------------------------------------------------------------------------------------

export interface ChildNode {
  proc: ChildProcess
  /** First line the child prints: {"ready":true,"grpc":"...","tcp":port?} */
  info: { grpc: string; tcp?: number }
  kill(signal?: NodeJS.Signals): Promise<void>
}

/** Starts `node node-main.js <role> <config.json>` and waits for its ready line. */
export async function spawnNode(role: 'session' | 'gateway' | 'serve', doc: Record<string, unknown>, dir: string): Promise<ChildNode> {
  const cfgPath = join(dir, `${(doc.cluster as { node_id: string }).node_id}-${Date.now()}.json`)
  writeFileSync(cfgPath, JSON.stringify(doc))
  const main = join(fileURLToPath(new URL('.', import.meta.url)), 'node-main.js')
  const proc = spawn(process.execPath, [main, role, cfgPath], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise<void>((r) => proc.once('exit', () => r()))
  const info = await new Promise<ChildNode['info']>((resolve, reject) => {
    let buf = ''
    const t = setTimeout(() => reject(new Error(`${role} child did not start`)), 20_000)
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString()
      const nl = buf.indexOf('\n')
      if (nl >= 0) {
        clearTimeout(t)
        resolve(JSON.parse(buf.slice(0, nl)) as ChildNode['info'])
      }
    })
    proc.once('exit', (code) => reject(new Error(`${role} child exited with ${code}`)))
  })
  return {
    proc,
    info,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
      await exited
    },
  }
}

// ---------------------------------------------------------------------------------------------
// load balancer
// ---------------------------------------------------------------------------------------------

/** Round-robin TCP balancer: each new connection goes to the next backend that accepts it. */
export class Balancer {
  private server: Server | undefined
  private next = 0
  private readonly sockets = new Set<Socket>()
  port = 0
  /** Open client connections per backend port. */
  readonly active = new Map<number, number>()

  constructor(
    readonly host: string,
    public backends: { host: string; port: number }[],
  ) {}

  async listen(port = 0): Promise<number> {
    this.server = createServer((client) => this.route(client, 0))
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject)
      this.server!.listen(port, this.host, () => resolve())
    })
    this.port = (this.server.address() as { port: number }).port
    return this.port
  }

  private route(client: Socket, attempt: number): void {
    if (attempt >= this.backends.length) {
      client.destroy()
      return
    }
    const b = this.backends[this.next++ % this.backends.length]!
    client.pause()
    const up = connect({ host: b.host, port: b.port })
    up.once('connect', () => {
      this.sockets.add(client)
      this.sockets.add(up)
      this.active.set(b.port, (this.active.get(b.port) ?? 0) + 1)
      let counted = true
      client.pipe(up)
      up.pipe(client)
      client.resume()
      const end = (): void => {
        if (counted) this.active.set(b.port, (this.active.get(b.port) ?? 1) - 1)
        counted = false
        client.destroy()
        up.destroy()
        this.sockets.delete(client)
        this.sockets.delete(up)
      }
      client.on('close', end)
      up.on('close', end)
      client.on('error', end)
      up.on('error', end)
    })
    up.once('error', () => this.route(client, attempt + 1))
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()))
  }
}

// ---------------------------------------------------------------------------------------------
// real clients (test/helpers/mtcute.ts, test/helpers/gramjs.ts) with the cluster tests' settings
// ---------------------------------------------------------------------------------------------

/** An mtcute TelegramClient (memory storage, TCP intermediate) pointed at host:port. */
export function mtcuteClient(host: string, port: number, pem: string, updates = false): Promise<MtcuteClient> {
  return newMtcuteClient({ host, port, pem, updates, params: { reconnectionStrategy: () => 100 } })
}

/** A GramJS TelegramClient (TCP abridged) on host:80 (GramJS always dials port 80). */
export function gramjsClient(host: string, key: GramKey, autoReconnect = false): GramClient {
  return newGramJsClient({
    host,
    key,
    transport: 'abridged',
    params: { connectionRetries: 5, retryDelay: 200, requestRetries: 3, autoReconnect },
  })
}

export { freePort, gramjs, mtcuteAuthKey, waitFor, type GramClient, type MtcuteClient, type TlResult }

