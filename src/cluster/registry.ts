/**
 * Cluster membership through etcd: every node registers `<prefix><role>/<id>` = JSON NodeInfo under
 * a lease it keeps alive, and follows the others (a watch for speed, a periodic full read for truth).
 *
 * Failure model (Teamgram's "gateway cannot find the session service after some time" must be
 * impossible):
 * - etcd unreachable: members() keeps answering the last known membership; nothing is dropped
 *   because etcd is silent. Only a successful read replaces it.
 * - One loop drives everything (lease grant → put → keepalive → full read) with a deadline on every
 *   call; a failure only marks etcd unreachable and the next tick tries again. A lease that etcd no
 *   longer knows (expired during the outage, or a wiped etcd) is replaced and the key put again; a
 *   missing own key (deleted by hand) is put again.
 * - After `recreateAfterFailures` consecutive failures the etcd client itself is closed and built
 *   anew, so no stuck channel, open circuit breaker or dead watch inside the library can outlive
 *   an outage.
 */
import { EventEmitter } from 'node:events'
import { Etcd3, type IOptions, type Lease, type Watcher } from 'etcd3'
import type { Logger } from '../util/log.js'
import type { ClusterSettings } from '../config/cluster.js'

export type NodeRole = 'gateway' | 'session'

export interface NodeInfo {
  id: string
  role: NodeRole
  /** host:port of the node's gRPC server. */
  address: string
  /** ms since the epoch the node started (diagnostics). */
  startedAt: number
}

export interface RegistryOptions {
  endpoints: string[]
  self: NodeInfo
  log: Logger
  /** Key prefix (default "/mtgate/nodes/"). */
  prefix?: string
  /** Lease TTL in seconds (default 10): a dead node disappears this long after its last keepalive. */
  leaseTtlSec?: number
  /** Loop period (default leaseTtl/3 s): keepalive and full read. */
  intervalMs?: number
  /** Deadline of every etcd call (default 2000 ms). */
  callTimeoutMs?: number
  /** Rebuild the etcd client after this many consecutive failed ticks (default 3). */
  recreateAfterFailures?: number
  /** TLS to etcd (PEM buffers). */
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer }
  /**
   * Register as a go-zero service instance instead (discov.Publisher): key `<key>/<lease id>`
   * holding `value` (a host:port); no membership is read.
   */
  goZero?: { key: string; value: string }
}

export interface RegistryEvents {
  /** The membership changed (every known node, self included). */
  change: [NodeInfo[]]
  /** etcd became reachable (true) or unreachable (false). */
  etcd: [boolean]
}

class Timeout extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer from etcd within ${ms} ms`)
    this.name = 'Timeout'
  }
}

export class Registry extends EventEmitter<RegistryEvents> {
  private client: Etcd3 | undefined
  private lease: Lease | undefined
  private watcher: Watcher | undefined
  private nodes = new Map<string, NodeInfo>()
  private timer: NodeJS.Timeout | undefined
  private running = false
  private ticking: Promise<void> | undefined
  private failures = 0
  private reachable: boolean | undefined
  private registered = false
  private deregistered = false
  readonly prefix: string
  private readonly ttl: number
  private readonly interval: number
  private readonly callTimeout: number
  private readonly recreateAfter: number
  /** How many times the etcd client was rebuilt and leases granted (tests, metrics). */
  readonly stats = { clientsCreated: 0, leasesGranted: 0, reads: 0, failedTicks: 0 }

  constructor(private readonly opts: RegistryOptions) {
    super()
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(opts.self.id)) throw new Error(`node id must match [A-Za-z0-9._-]{1,64}: ${opts.self.id}`)
    this.prefix = opts.prefix ?? '/mtgate/nodes/'
    this.ttl = Math.max(2, Math.floor(opts.leaseTtlSec ?? 10))
    this.interval = opts.intervalMs ?? Math.floor((this.ttl * 1000) / 3)
    this.callTimeout = opts.callTimeoutMs ?? 2000
    this.recreateAfter = opts.recreateAfterFailures ?? 3
  }

  /** The lease id (decimal) of the current registration, for go-zero's key. */
  private leaseId = ''

  private get key(): string {
    const g = this.opts.goZero
    return g !== undefined ? `${g.key}/${this.leaseId}` : `${this.prefix}${this.opts.self.role}/${this.opts.self.id}`
  }

  /** Last known membership (self included once registered), optionally of one role. */
  members(role?: NodeRole): NodeInfo[] {
    const all = [...this.nodes.values()]
    return role ? all.filter((n) => n.role === role) : all
  }

  /** Whether the last etcd call succeeded. */
  get etcdReachable(): boolean {
    return this.reachable === true
  }

  /** Whether our key is (as far as we know) in etcd. */
  get isRegistered(): boolean {
    return this.registered
  }

  /**
   * Starts the loop; resolves after the first tick (registered and read, or etcd unreachable — then
   * it keeps trying in the background; start() never fails because etcd is down).
   */
  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    await this.tick()
    this.schedule()
  }

  /** Runs one loop iteration now (tests; also used after a watch event hints at a change). */
  async tick(): Promise<void> {
    this.ticking ??= this.doTick().finally(() => (this.ticking = undefined))
    return this.ticking
  }

  /** Removes our key now (graceful drain) but keeps following the others. */
  async deregister(): Promise<void> {
    this.deregistered = true
    this.registered = false
    const lease = this.lease
    this.lease = undefined
    if (lease) await this.withTimeout('revoke', lease.revoke()).catch((e: unknown) => this.opts.log.warn({ err: (e as Error).message }, 'registry: revoking the lease failed (it will expire)'))
  }

  /** Stops the loop, revokes the lease (so peers see us go at once), closes the client. */
  async stop(): Promise<void> {
    this.running = false
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    await this.ticking?.catch(() => undefined)
    if (!this.deregistered) await this.deregister()
    await this.dropClient()
  }

  private schedule(): void {
    if (!this.running) return
    this.timer = setTimeout(() => {
      void this.tick().finally(() => this.schedule())
    }, this.interval)
    this.timer.unref()
  }

  private async doTick(): Promise<void> {
    try {
      const client = this.ensureClient()
      if (!this.deregistered) await this.keepRegistered(client)
      if (this.opts.goZero === undefined) {
        await this.readAll(client)
        this.ensureWatch(client)
      }
      this.failures = 0
      this.setReachable(true)
    } catch (e) {
      this.failures++
      this.stats.failedTicks++
      this.setReachable(false, e as Error)
      if (this.failures >= this.recreateAfter) {
        this.opts.log.info({ failures: this.failures }, 'registry: rebuilding the etcd client')
        this.failures = 0
        await this.dropClient()
      }
    }
  }

  private setReachable(ok: boolean, err?: Error): void {
    if (this.reachable === ok) return
    this.reachable = ok
    if (ok) this.opts.log.info({ members: this.nodes.size }, 'registry: etcd reachable')
    else this.opts.log.warn({ err: err?.message, members: this.nodes.size }, 'registry: etcd unreachable; keeping the last known membership')
    this.emit('etcd', ok)
  }

  private ensureClient(): Etcd3 {
    if (this.client) return this.client
    const o: IOptions = { hosts: this.opts.endpoints, dialTimeout: this.callTimeout }
    if (this.opts.tls) o.credentials = { rootCertificate: this.opts.tls.ca, privateKey: this.opts.tls.key, certChain: this.opts.tls.cert }
    this.client = new Etcd3(o)
    this.stats.clientsCreated++
    return this.client
  }

  private async dropClient(): Promise<void> {
    const w = this.watcher
    this.watcher = undefined
    if (w) await this.withTimeout('watch cancel', w.cancel()).catch(() => undefined)
    // The lease object belongs to the old client; etcd keeps the lease itself until its TTL runs
    // out, so the next tick grants a new one and puts the key again (harmless if both exist briefly).
    this.lease?.release()
    this.lease = undefined
    const c = this.client
    this.client = undefined
    c?.close()
  }

  private async keepRegistered(client: Etcd3): Promise<void> {
    const value = this.opts.goZero?.value ?? JSON.stringify(this.opts.self)
    const current = this.lease
    if (current) {
      let alive = false
      try {
        const res = await this.withTimeout('keepalive', current.keepaliveOnce())
        alive = Number(res.TTL) > 0
      } catch (e) {
        // etcd answers "lease not found" when it expired (or etcd was wiped): re-register below.
        if (!/not found/i.test((e as Error).message)) throw e
      }
      if (alive) {
        // Someone may have deleted our key by hand: put it back.
        const cur = await this.withTimeout('get self', client.get(this.key).string())
        if (cur === value) {
          this.registered = true
          return
        }
        if (this.deregistered) return
        await this.withTimeout('put self', current.put(this.key).value(value).exec())
        this.opts.log.info({ key: this.key }, 'registry: own key was missing; put again')
        this.registered = true
        return
      }
      this.opts.log.info({ key: this.key }, 'registry: lease lost; registering again')
      current.release()
      if (this.lease === current) this.lease = undefined
      this.registered = false
    }
    const lease = client.lease(this.ttl, { autoKeepAlive: false })
    lease.on('lost', () => undefined) // handled by the loop (keepalive answers "not found")
    try {
      this.leaseId = BigInt(await this.withTimeout('lease grant', lease.grant())).toString()
      await this.withTimeout('put self', lease.put(this.key).value(value).exec())
    } catch (e) {
      lease.release()
      throw e
    }
    if (this.deregistered) {
      await this.withTimeout('revoke', lease.revoke()).catch(() => undefined)
      return
    }
    this.lease = lease
    this.stats.leasesGranted++
    this.registered = true
    this.opts.log.info({ key: this.key, ttl: this.ttl }, 'registry: registered')
  }

  private async readAll(client: Etcd3): Promise<void> {
    const kvs = await this.withTimeout('read members', client.getAll().prefix(this.prefix).strings())
    this.stats.reads++
    const next = new Map<string, NodeInfo>()
    for (const [k, v] of Object.entries(kvs)) {
      const n = this.parse(k, v)
      if (n) next.set(k, n)
    }
    this.replace(next)
  }

  private ensureWatch(client: Etcd3): void {
    if (this.watcher) return
    const watcher = client.watch().prefix(this.prefix).watcher()
    this.watcher = watcher
    watcher.on('put', (kv) => {
      const k = kv.key.toString()
      const n = this.parse(k, kv.value.toString())
      if (!n) return
      const next = new Map(this.nodes)
      next.set(k, n)
      this.replace(next)
    })
    watcher.on('delete', (kv) => {
      const k = kv.key.toString()
      if (!this.nodes.has(k)) return
      const next = new Map(this.nodes)
      next.delete(k)
      this.replace(next)
    })
    // Errors only mean the watch is down for a while; the periodic read keeps the truth.
    watcher.on('error', (e) => this.opts.log.debug({ err: e.message }, 'registry: watch error'))
    watcher.on('disconnected', () => this.opts.log.debug('registry: watch disconnected'))
  }

  private parse(key: string, value: string): NodeInfo | undefined {
    try {
      const n = JSON.parse(value) as Partial<NodeInfo>
      if (typeof n.id === 'string' && (n.role === 'gateway' || n.role === 'session') && typeof n.address === 'string') {
        return { id: n.id, role: n.role, address: n.address, startedAt: typeof n.startedAt === 'number' ? n.startedAt : 0 }
      }
    } catch {
      // fall through
    }
    this.opts.log.warn({ key }, 'registry: ignoring a malformed member entry')
    return undefined
  }

  private replace(next: Map<string, NodeInfo>): void {
    const same =
      next.size === this.nodes.size &&
      [...next].every(([k, v]) => {
        const o = this.nodes.get(k)
        return o !== undefined && o.address === v.address && o.startedAt === v.startedAt
      })
    this.nodes = next
    if (same) return
    const list = [...next.values()]
    this.opts.log.info({ members: list.map((n) => `${n.role}/${n.id}@${n.address}`) }, 'registry: membership changed')
    this.emit('change', list)
  }

  private withTimeout<T>(what: string, p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const t = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Timeout(what, this.callTimeout)), this.callTimeout)
    })
    p.catch(() => undefined) // a late rejection after the timeout is not unhandled
    return Promise.race([p, t]).finally(() => clearTimeout(timer))
  }
}

/** The registry of a cluster node as its `cluster:` config describes it (gateway and session nodes). */
export function nodeRegistry(
  cc: Pick<ClusterSettings, 'etcd' | 'etcdPrefix' | 'leaseTtlSec' | 'callTimeoutMs' | 'tls' | 'nodeId'>,
  role: NodeRole,
  address: string,
  log: Logger,
  intervalMs?: number,
): Registry {
  return new Registry({
    endpoints: cc.etcd,
    prefix: cc.etcdPrefix,
    leaseTtlSec: cc.leaseTtlSec,
    intervalMs,
    callTimeoutMs: Math.min(cc.callTimeoutMs, 2000),
    // the nodes' certificates also serve for etcd when its endpoints are https
    tls: cc.etcd.some((e) => e.startsWith('https:')) ? cc.tls : undefined,
    log: log.child({ mod: 'registry' }),
    self: { id: cc.nodeId, role, address, startedAt: Date.now() },
  })
}
