/**
 * Upstream instances found in etcd, the way go-zero services (Teamgram's BFFs among them) register
 * themselves: every key under `<key>/` holds one instance's host:port (a JSON value with an
 * `address`, as mtgate's own nodes register, is read too). The prefix is read every interval with a
 * deadline; only a successful read replaces the targets, so an etcd outage keeps the last known
 * instances, and a read that finds none leaves the upstream without targets (its calls get
 * 500 INTERNAL) until instances register again.
 */
import { Etcd3 } from 'etcd3'
import type { UpstreamDiscovery } from '../config/types.js'
import type { Logger } from '../util/log.js'

/** The host:port in one discovery value, undefined when it holds none. */
export function instanceAddress(value: string): string | undefined {
  const v = value.trim()
  if (v.startsWith('{')) {
    try {
      const a = (JSON.parse(v) as { address?: unknown }).address
      return typeof a === 'string' && /^.+:\d{1,5}$/.test(a) ? a : undefined
    } catch {
      return undefined
    }
  }
  return /^[^\s/]+:\d{1,5}$/.test(v) ? v : undefined
}

export class UpstreamDiscoveryWatch {
  private readonly client: Etcd3
  private timer: NodeJS.Timeout | undefined
  private last = ''
  private stopped = false
  /** Reads failed in a row (the first one of a streak is a warning, the others debug lines). */
  private failing = 0
  /** Reads done and failed (tests, metrics). */
  readonly stats = { reads: 0, failures: 0 }

  constructor(
    private readonly upstream: string,
    private readonly d: UpstreamDiscovery,
    private readonly apply: (targets: string[]) => void,
    private readonly log: Logger,
  ) {
    this.client = new Etcd3({ hosts: d.etcd.map((h) => `http://${h}`), dialTimeout: Math.min(2000, d.intervalMs * 2) })
  }

  /** Reads once (resolves after it, whatever the outcome), then every interval. */
  async start(): Promise<void> {
    await this.read()
    this.schedule()
  }

  private schedule(): void {
    if (this.stopped) return
    this.timer = setTimeout(() => void this.read().finally(() => this.schedule()), this.d.intervalMs)
    this.timer.unref()
  }

  private async read(): Promise<void> {
    if (this.stopped) return
    const deadline = Math.max(1000, this.d.intervalMs)
    let timer: NodeJS.Timeout | undefined
    try {
      const kvs = await Promise.race([
        this.client.getAll().prefix(this.d.key + '/').strings(),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer from etcd within ${deadline} ms`)), deadline))),
      ])
      this.stats.reads++
      if (this.failing > 0) this.log.info({ upstream: this.upstream, failedReads: this.failing }, 'upstream discovery: etcd reachable again')
      this.failing = 0
      const targets = [...new Set(Object.values(kvs).map(instanceAddress).filter((a): a is string => a !== undefined))].sort()
      const bad = Object.entries(kvs).filter(([, v]) => instanceAddress(v) === undefined)
      if (bad.length > 0) this.log.warn({ upstream: this.upstream, keys: bad.map(([k]) => k) }, 'upstream discovery: values that are not host:port ignored')
      const now = targets.join(',')
      if (now !== this.last) {
        this.last = now
        this.log.info({ upstream: this.upstream, key: this.d.key, targets }, 'upstream discovery: instances changed')
        this.apply(targets)
      }
    } catch (e) {
      this.stats.failures++
      const line = { upstream: this.upstream, etcd: this.d.etcd, err: (e as Error).message }
      if (this.failing++ === 0) this.log.warn(line, 'upstream discovery: etcd read failed; keeping the last known instances')
      else this.log.debug(line, 'upstream discovery: etcd read failed again')
    } finally {
      clearTimeout(timer)
    }
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
    this.client.close()
  }
}
