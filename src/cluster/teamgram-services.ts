/**
 * What a process hosting sessions (mtgate serve, a cluster session node) does for Teamgram's
 * services, as config `teamgram:` asks: serves session.RPCSession (session_service), reports its
 * online sessions to status.RPCStatus (status_service) with that address as their gateway, and
 * registers the address in etcd under session_key the way go-zero's discov.Publisher does (the key
 * `<session_key>/<lease id>` kept by a lease), where Teamgram's sync looks the gateway up.
 */
import { Registry } from './registry.js'
import { UpstreamDiscoveryWatch } from './upstream-discovery.js'
import type { TeamgramSettings } from '../config/types.js'
import type { Logger } from '../util/log.js'
import type { BackendApiHost } from '../rpc/backend-api.js'
import { Upstream } from '../rpc/upstream-targets.js'
import { serveTeamgramSession, type TeamgramSessionServer } from '../rpc/teamgram/session-service.js'
import { TeamgramStatusReporter } from '../rpc/teamgram/status-reporter.js'

export class TeamgramServices {
  private constructor(
    readonly session: TeamgramSessionServer,
    readonly reporter: TeamgramStatusReporter | undefined,
    private readonly status: Upstream | undefined,
    private readonly discovery: UpstreamDiscoveryWatch | undefined,
    readonly registry: Registry | undefined,
  ) {}

  /** Starts what `s` configures; undefined when it serves no session service. */
  static async start(s: TeamgramSettings, host: BackendApiHost, log: Logger): Promise<TeamgramServices | undefined> {
    if (s.sessionService === null) return undefined
    const session = await serveTeamgramSession(s.sessionService, host, log)
    let status: Upstream | undefined
    let discovery: UpstreamDiscoveryWatch | undefined
    let reporter: TeamgramStatusReporter | undefined
    let registry: Registry | undefined
    try {
      if (s.statusService !== null) {
        const st = new Upstream(s.statusService)
        status = st
        if (s.statusService.discovery !== undefined) {
          discovery = new UpstreamDiscoveryWatch(s.statusService.name, s.statusService.discovery, (t) => st.setTargets(t), log)
          await discovery.start()
        }
        reporter = new TeamgramStatusReporter(st, { gateway: session.address, callTimeoutMs: s.statusService.deadlineMs }, log)
        reporter.start(host)
      }
      if (s.etcd.length > 0) {
        registry = new Registry({
          endpoints: s.etcd.map((h) => `http://${h}`),
          log: log.child({ mod: 'teamgram-registration' }),
          self: { id: 'teamgram-session', role: 'session', address: session.address, startedAt: Date.now() },
          goZero: { key: s.sessionKey, value: session.address },
        })
        await registry.start()
      }
    } catch (e) {
      await new TeamgramServices(session, reporter, status, discovery, registry).close()
      throw e
    }
    return new TeamgramServices(session, reporter, status, discovery, registry)
  }

  /** Leaves etcd (sync stops finding this gateway); the session service keeps serving. */
  async deregister(): Promise<void> {
    await this.registry?.deregister()
  }

  /** Leaves etcd, reports the online sessions offline, stops serving. */
  async close(): Promise<void> {
    await this.registry?.stop()
    await this.reporter?.stop()
    this.discovery?.stop()
    this.status?.close()
    await this.session.close()
  }
}
