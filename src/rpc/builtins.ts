/**
 * Built-in handlers: help.getConfig (dc_options = this deployment's public addresses of every DC it
 * serves, this_dc = the DC the connection came for, expiry and limits from the config) and
 * help.getNearestDc (the connection's DC: one deployment is equally near from every DC; the country
 * of the client's address when a lookup is given, else the configured one).
 */
import type { PublicAddress, TelegramConfigValues } from '../config/types.js'
import { clientIpPort, type ClientConnection } from '../session/api.js'
import type { TlMethodResult } from '../tl/index.js'
import type { Clock } from '../util/clock.js'
import type { RpcRouter } from './router.js'

export interface BuiltinSettings {
  publicAddresses: readonly PublicAddress[]
  telegram: TelegramConfigValues
  /**
   * The country (ISO 3166-1 alpha-2) of a client address, e.g. a GeoIP lookup: help.getNearestDc's
   * `country`; absent, or undefined for an address, → telegram.country. The address is the
   * client's own (the PROXY protocol header's behind a trusted proxy).
   */
  countryOf?: (ip: string) => string | undefined
}

type Config = TlMethodResult['help.getConfig']
type NearestDc = TlMethodResult['help.getNearestDc']

/** The `config` object help.getConfig answers at time `nowMs` on a connection that came for `thisDc`. */
export function buildConfig(s: BuiltinSettings, nowMs: number, thisDc: number): Config {
  const t = s.telegram
  const date = Math.floor(nowMs / 1000)
  const config: Config = {
    _: 'config',
    date,
    expires: date + t.expiresSeconds,
    test_mode: t.testMode,
    this_dc: thisDc,
    dc_options: s.publicAddresses.map((a) => ({
      _: 'dcOption' as const,
      ipv6: a.ipv6 || undefined,
      media_only: a.mediaOnly || undefined,
      tcpo_only: a.tcpoOnly || undefined,
      static: a.static || undefined,
      this_port_only: a.thisPortOnly || undefined,
      id: a.dcId,
      ip_address: a.ip,
      port: a.port,
    })),
    dc_txt_domain_name: t.dcTxtDomainName,
    chat_size_max: t.chatSizeMax,
    megagroup_size_max: t.megagroupSizeMax,
    forwarded_count_max: t.forwardedCountMax,
    online_update_period_ms: t.onlineUpdatePeriodMs,
    offline_blur_timeout_ms: t.offlineBlurTimeoutMs,
    offline_idle_timeout_ms: t.offlineIdleTimeoutMs,
    online_cloud_timeout_ms: t.onlineCloudTimeoutMs,
    notify_cloud_delay_ms: t.notifyCloudDelayMs,
    notify_default_delay_ms: t.notifyDefaultDelayMs,
    push_chat_period_ms: t.pushChatPeriodMs,
    push_chat_limit: t.pushChatLimit,
    edit_time_limit: t.editTimeLimit,
    revoke_time_limit: t.revokeTimeLimit,
    revoke_pm_time_limit: t.revokePmTimeLimit,
    rating_e_decay: t.ratingEDecay,
    stickers_recent_limit: t.stickersRecentLimit,
    channels_read_media_period: t.channelsReadMediaPeriod,
    tmp_sessions: t.tmpSessions,
    call_receive_timeout_ms: t.callReceiveTimeoutMs,
    call_ring_timeout_ms: t.callRingTimeoutMs,
    call_connect_timeout_ms: t.callConnectTimeoutMs,
    call_packet_timeout_ms: t.callPacketTimeoutMs,
    me_url_prefix: t.meUrlPrefix,
    caption_length_max: t.captionLengthMax,
    message_length_max: t.messageLengthMax,
    webfile_dc_id: t.webfileDcId,
  }
  return config
}

/** help.getNearestDc's answer on `connection`: its DC as this_dc and nearest_dc, the country of its address. */
export function buildNearestDc(s: BuiltinSettings, connection: Pick<ClientConnection, 'dcId' | 'clientAddr'>): NearestDc {
  const country = s.countryOf?.(clientIpPort(connection.clientAddr).ip) ?? s.telegram.country
  return { _: 'nearestDc', country, this_dc: connection.dcId, nearest_dc: connection.dcId }
}

/**
 * Registers help.getConfig, help.getNearestDc and `ping` on `router`, except the methods in
 * `routedAway` (an upstream route names them exactly: the backend answers them). A bare ping is the
 * session layer's (answered with a pong message); a ping inside an invoke wrapper (mtcute sends
 * invokeWithoutUpdates(ping) from tg.call) reaches the router and gets rpc_result(pong).
 */
export function registerBuiltins(router: RpcRouter, s: BuiltinSettings, clock: Clock, routedAway: ReadonlySet<string> = new Set()): RpcRouter {
  if (!routedAway.has('help.getConfig')) router.handle('help.getConfig', (_req, ctx) => buildConfig(s, clock.now(), ctx.connection.dcId))
  if (!routedAway.has('help.getNearestDc')) router.handle('help.getNearestDc', (_req, ctx) => buildNearestDc(s, ctx.connection))
  if (!routedAway.has('ping')) router.handle('ping', (req, ctx) => ({ _: 'pong', msg_id: ctx.msgId, ping_id: req.ping_id }))
  return router
}
