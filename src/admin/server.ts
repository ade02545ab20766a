/**
 * The admin HTTP port (config `admin`): GET /metrics (Prometheus text), /healthz (200 "ok" while the
 * process runs), /readyz (200 when the process serves; 503 with {"ready":false,"reason":...}
 * before that, while a check fails, and during drain), and the status page: / and /status (HTML),
 * /status.json (the same figures). Plain HTTP, meant for loopback or a monitoring network.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { AdminSettings } from '../config/admin.js'
import type { AuthKeyStore } from '../store/types.js'
import type { Logger } from '../util/log.js'
import type { MtgateMetrics } from './metrics.js'
import { renderStatusPage, STATUS_PAGE_CSP } from './status-page.js'

/** Why the process is not ready, or undefined when it is. */
export type ReadinessCheck = () => Promise<string | undefined>

/** How long /readyz waits for its checks (the store's answer) before answering 503. */
export const READY_DEADLINE_MS = 1000

export class AdminServer {
  private constructor(
    private readonly server: Server,
    readonly address: { host: string; port: number },
  ) {}

  /**
   * Binds the admin port. When it cannot be bound the process serves on without it (client
   * traffic does not depend on it): the failure is logged and undefined returned.
   */
  static async start(settings: AdminSettings, metrics: MtgateMetrics, ready: ReadinessCheck, log: Logger): Promise<AdminServer | undefined> {
    const server = createServer((req, res) => void handle(req, res, metrics, ready, log))
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(settings.port, settings.host, () => {
          server.off('error', reject)
          resolve()
        })
      })
    } catch (e) {
      log.error({ host: settings.host, port: settings.port, err: (e as Error).message }, 'admin port not bound: serving without /metrics, /healthz, /readyz, /status')
      return undefined
    }
    const a = server.address() as AddressInfo
    log.info({ admin: `http://${settings.host}:${a.port}` }, 'admin port listening (/ status page, /metrics, /healthz, /readyz)')
    return new AdminServer(server, { host: settings.host, port: a.port })
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
  }
}

async function handle(req: IncomingMessage, res: ServerResponse, metrics: MtgateMetrics, ready: ReadinessCheck, log: Logger): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n')
  try {
    if (path === '/metrics') return send(res, 200, metrics.registry.contentType, await metrics.registry.metrics())
    if (path === '/healthz') return send(res, 200, 'text/plain', 'ok\n')
    if (path === '/readyz') {
      const reason = await withDeadline(ready(), READY_DEADLINE_MS, 'readiness checks timed out')
      if (reason === undefined) return send(res, 200, 'application/json', JSON.stringify({ ready: true }) + '\n')
      return send(res, 503, 'application/json', JSON.stringify({ ready: false, reason }) + '\n')
    }
    if (path === '/' || path === '/status') {
      res.setHeader('content-security-policy', STATUS_PAGE_CSP)
      return send(res, 200, 'text/html; charset=utf-8', renderStatusPage(metrics.status.snapshot()))
    }
    if (path === '/status.json') return send(res, 200, 'application/json', JSON.stringify(metrics.status.snapshot()) + '\n')
    send(res, 404, 'text/plain', 'not found (try /, /status.json, /metrics, /healthz, /readyz)\n')
  } catch (e) {
    log.warn({ path, err: (e as Error).message }, 'admin request failed')
    send(res, 500, 'text/plain', 'internal error\n')
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' })
  res.end(body)
}

/** `p`'s value, or `late` when it takes longer than `ms` (or rejects: its message then). */
function withDeadline(p: Promise<string | undefined>, ms: number, late: string): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(late), ms)))
  return Promise.race([p.catch((e: unknown) => `check failed: ${(e as Error).message}`), timeout]).finally(() => clearTimeout(timer))
}

/** A readiness check: the store answers a lookup of an id no key has (undefined when it does). */
export async function storeAnswers(store: AuthKeyStore, deadlineMs: number = STORE_DEADLINE_MS): Promise<string | undefined> {
  const answered = store.get(0n).then(
    () => undefined,
    (e: unknown) => `store: ${(e as Error).message}`,
  )
  return withDeadline(answered, deadlineMs, `store: no answer within ${deadlineMs} ms`)
}

/** The store's share of READY_DEADLINE_MS. */
const STORE_DEADLINE_MS = 800

/** A cluster node's readiness check: it is in etcd and has read the membership (a gateway: with a session node in it). */
export function membershipKnown(registry: { isRegistered: boolean; members(role: 'session'): unknown[] }, needSessionNode: boolean): string | undefined {
  if (!registry.isRegistered) return 'membership: not registered in etcd yet'
  if (needSessionNode && registry.members('session').length === 0) return 'membership: no session node'
  return undefined
}
