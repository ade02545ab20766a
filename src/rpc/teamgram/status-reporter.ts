/**
 * Reports the signed-in keys with a connected session to Teamgram's status service
 * (proto/teamgram/status/status.tl.proto, `status.RPCStatus`) as Teamgram's session does, so that
 * Teamgram's sync finds them (status_getUserOnlineSessions) and pushes to their `gateway`:
 *
 *   status_setSessionOnline(user_id, SessionEntry{user_id, auth_key_id = perm_auth_key_id = the
 *     permanent key, gateway, expired = now + 60, layer, client})   when a key of it comes online,
 *                                                                    then every refreshMs while online
 *   status_setSessionOffline(user_id, auth_key_id)                   when its last key goes offline,
 *                                                                    or its user changes (sign-out)
 *
 * Entries are per permanent key (Teamgram's session keeps one per permanent key; temp keys bound to
 * it count for it). Calls are made at most `maxCallsPerTick` a tick, offline ones first; a failed
 * online report is retried after retryMs; a failed offline one is dropped (the entry expires in
 * the status service). The first failure of an outage is a warning, the others debug lines.
 */
import * as grpc from '@grpc/grpc-js'
import type { Logger } from '../../util/log.js'
import type { BackendApiHost } from '../backend-api.js'
import type { Upstream } from '../upstream-targets.js'
import { asBytes, PbWriter } from './protobuf.js'

const SERVICE = '/status.RPCStatus/'
/** status.tl.proto's TLConstructor values. */
const CRC32 = { sessionEntry: 392473649, setSessionOnline: 1381075919, setSessionOffline: 631663196 } as const

export interface StatusReporterOptions {
  /** host:port of the session service Teamgram's sync should push to (SessionEntry.gateway). */
  gateway: string
  /** Refresh period of an online entry, ms (default 40 000; the entry expires after 60 s). */
  refreshMs?: number
  /** Retry period of a failed online report, ms (default 5000). */
  retryMs?: number
  /** Tick period, ms (default 1000). */
  tickMs?: number
  maxCallsPerTick?: number
  /** Deadline of a call, ms (default 5000). */
  callTimeoutMs?: number
  now?: () => number
}

interface Entry {
  userId: bigint
  permId: bigint
  keys: Set<bigint>
  /** When the next online report is due (ms); Infinity while one is in flight. */
  dueMs: number
}

/** TL_status_setSessionOnline. */
export function setSessionOnlineMessage(userId: bigint, permId: bigint, gateway: string, expiredSec: number): Buffer {
  const entry = new PbWriter()
    .bytes(1, 'sessionEntry')
    .uint(2, CRC32.sessionEntry)
    .uint(3, userId)
    .uint(4, permId)
    .bytes(5, gateway)
    .uint(6, expiredSec)
    .uint(8, permId)
    .finish()
  return new PbWriter().uint(1, CRC32.setSessionOnline).uint(3, userId).bytes(4, entry).finish()
}

/** TL_status_setSessionOffline. */
export function setSessionOfflineMessage(userId: bigint, authKeyId: bigint): Buffer {
  return new PbWriter().uint(1, CRC32.setSessionOffline).uint(3, userId).uint(4, authKeyId).finish()
}

export class TeamgramStatusReporter {
  private readonly entries = new Map<bigint, Entry>()
  /** Permanent key → its entry's key of `entries` for each online key. */
  private readonly permOf = new Map<bigint, bigint>()
  private offline: { userId: bigint; permId: bigint }[] = []
  private readonly log: Logger
  private timer: NodeJS.Timeout | undefined
  private unwatch: (() => void) | undefined
  private running: Promise<void> | undefined
  private failing = 0
  private readonly o: Required<Omit<StatusReporterOptions, 'gateway'>> & { gateway: string }
  /** Calls made and failed (tests, metrics). */
  readonly stats = { online: 0, offline: 0, failures: 0 }

  constructor(
    private readonly status: Upstream,
    opts: StatusReporterOptions,
    parentLog: Logger,
  ) {
    this.log = parentLog.child({ mod: 'teamgram-status' })
    this.o = { refreshMs: 40_000, retryMs: 5000, tickMs: 1000, maxCallsPerTick: 256, callTimeoutMs: 5000, now: Date.now, ...opts }
  }

  /** Follows `host`'s presence and reports it until stop(). */
  start(host: BackendApiHost): void {
    const w = host.watch((c) => (c.online ? this.keyOnline(c.authKeyId, c.userId, c.permAuthKeyId) : this.keyOffline(c.authKeyId)))
    this.unwatch = w.stop
    for (const k of w.snapshot) this.keyOnline(k.authKeyId, k.userId, k.permAuthKeyId)
    const loop = (): void => {
      this.timer = setTimeout(() => void this.tick().finally(loop), this.o.tickMs)
      this.timer.unref()
    }
    loop()
    void this.tick()
  }

  /** The permanent keys reported online now (tests). */
  get onlineKeys(): bigint[] {
    return [...this.entries.keys()]
  }

  private keyOnline(authKeyId: bigint, userId: bigint | undefined, permId: bigint | undefined): void {
    this.keyOffline(authKeyId)
    if (userId === undefined || permId === undefined) return
    let e = this.entries.get(permId)
    if (e !== undefined && e.userId !== userId) {
      this.drop(e)
      e = undefined
    }
    if (e === undefined) {
      this.entries.set(permId, (e = { userId, permId, keys: new Set(), dueMs: 0 }))
      // back online before its offline report went: that report is moot
      this.offline = this.offline.filter((o) => o.permId !== permId || o.userId !== userId)
      this.kick()
    }
    e.keys.add(authKeyId)
    this.permOf.set(authKeyId, permId)
  }

  private keyOffline(authKeyId: bigint): void {
    const permId = this.permOf.get(authKeyId)
    if (permId === undefined) return
    this.permOf.delete(authKeyId)
    const e = this.entries.get(permId)
    if (e === undefined) return
    e.keys.delete(authKeyId)
    if (e.keys.size === 0) this.drop(e)
  }

  private drop(e: Entry): void {
    this.entries.delete(e.permId)
    for (const k of e.keys) this.permOf.delete(k)
    this.offline.push({ userId: e.userId, permId: e.permId })
    this.kick()
  }

  /** A tick soon (a change is reported without waiting for the next one). */
  private kick(): void {
    if (this.timer === undefined) return
    setImmediate(() => void this.tick())
  }

  /** One round of reports: due offline ones first, then due online ones, at most maxCallsPerTick. */
  tick(): Promise<void> {
    this.running ??= this.doTick().finally(() => (this.running = undefined))
    return this.running
  }

  private async doTick(): Promise<void> {
    const budget = this.o.maxCallsPerTick
    const calls: Promise<void>[] = []
    for (const o of this.offline.splice(0, budget)) calls.push(this.call('status_setSessionOffline', setSessionOfflineMessage(o.userId, o.permId)).then(() => void this.stats.offline++, () => undefined))
    const now = this.o.now()
    for (const e of this.entries.values()) {
      if (calls.length >= budget) break
      if (e.dueMs > now) continue
      e.dueMs = Infinity
      const msg = setSessionOnlineMessage(e.userId, e.permId, this.o.gateway, Math.floor(now / 1000) + 60)
      calls.push(
        this.call('status_setSessionOnline', msg).then(
          () => {
            this.stats.online++
            e.dueMs = this.o.now() + this.o.refreshMs
          },
          () => {
            e.dueMs = this.o.now() + this.o.retryMs
          },
        ),
      )
    }
    await Promise.all(calls)
  }

  private call(method: string, body: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const t = this.status.pick()
      if (t === undefined) return reject(new Error('no status service instance'))
      t.client.makeUnaryRequest(SERVICE + method, asBytes, asBytes, body, new grpc.Metadata(), { deadline: new Date(Date.now() + this.o.callTimeoutMs) }, (err) => (err ? reject(err) : resolve()))
    }).then(
      () => {
        if (this.failing > 0) this.log.info({ failedCalls: this.failing }, 'teamgram status service reachable again')
        this.failing = 0
      },
      (e: unknown) => {
        this.stats.failures++
        const line = { rpc: method, err: (e as Error).message }
        if (this.failing++ === 0) this.log.warn(line, 'teamgram status service: report failed (online reports are retried)')
        else this.log.debug(line, 'teamgram status service: report failed again')
        throw e
      },
    )
  }

  /** Stops following presence; reports every online entry offline (best effort, one round). */
  async stop(): Promise<void> {
    this.unwatch?.()
    clearTimeout(this.timer)
    this.timer = undefined
    await this.running
    for (const e of [...this.entries.values()]) this.drop(e)
    await this.doTick()
  }
}
