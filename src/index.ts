/**
 * The public API of the `mtgate` package (`import { createServer } from 'mtgate'`).
 *
 *   const server = await createServer({ host: '127.0.0.1', tcp_ports: [10443], store: { backend: 'memory' } })
 *   server.handle('help.getNearestDc', (req, ctx) => ({ _: 'nearestDc', country: 'DE', this_dc: ctx.connection.dcId, nearest_dc: ctx.connection.dcId }))
 *   server.push({ userId: 42n }, { _: 'updatesTooLong' })
 *   await server.stop()
 *
 * Everything else under dist/src is internal and may change between versions.
 */
import { parseConfig, type Env } from './config/index.js'
import type { ServerConfig } from './config/index.js'
import { MtgateServer, type ServerDeps } from './server/server.js'

export { MtgateServer, type ServerDeps, type RsaKeyInfo, type ListenAddress, type PushTarget } from './server/server.js'
export { RpcError, RpcErrors, RpcRouter, type Handler, type HandlerMap, type MethodName, type Fallback, type RouterOptions } from './rpc/index.js'
export type { RpcContext, RpcCall, RpcOutcome, RpcAfter, BareResult, ClientConnection, ClientInfo, JsonValue } from './session/api.js'
export type { AuthKeyType, AuthKeyStore } from './store/types.js'
export type * from './config/types.js'
export {
  ConfigError,
  DEFAULTS,
  DEFAULT_LIMITS,
  DEFAULT_TELEGRAM_CONFIG,
  loadClusterConfig,
  loadConfig,
  parseConfig,
  readConfigFile,
  type ClusterConfig,
  type ClusterSettings,
  type ClusterTls,
  type Env,
  type LoadOptions,
} from './config/index.js'
export { GatewayNode } from './cluster/gateway-node.js'
export { SessionNode } from './cluster/session-node.js'
export { createKeyFile, loadKeySet, retireKeyFile, unretireKeyFile } from './handshake/rsa-keyset.js'
export { NEWEST_LAYER, OLDEST_LAYER, type TlObject, type TlObjectByName, type TlMethodResult, type TlMethodName } from './tl/index.js'
export type { Logger } from './util/log.js'
export type { Clock } from './util/clock.js'

/** Where createServer resolves a YAML document's relative paths and which MTGATE_* variables it applies. */
export interface CreateServerOptions extends ServerDeps {
  /** MTGATE_* overrides applied to a YAML document (default none; pass process.env for the CLI's behaviour). */
  env?: Env
  /** Directory relative `data_dir` / `sqlite_path` resolve against (default process.cwd()). */
  cwd?: string
}

/** True for a parsed ServerConfig (camelCase keys a YAML document never has). */
function isServerConfig(v: ServerConfig | Record<string, unknown>): v is ServerConfig {
  return 'dcIds' in v && 'dataDir' in v && 'limits' in v
}

/**
 * Starts a server: `config` is either a ServerConfig (from loadConfig / parseConfig) or a config
 * document as the YAML file would hold it (snake_case keys, any subset; the rest are defaults, see
 * src/config/defaults.ts), which is validated first. Rejects with ConfigError on a bad document
 * and with the bind error when a port is taken. `server.stop()` drains and closes it.
 */
export async function createServer(config: ServerConfig | Record<string, unknown> = {}, options: CreateServerOptions = {}): Promise<MtgateServer> {
  const { env, cwd, ...deps } = options
  const parsed = isServerConfig(config) ? config : parseConfig(config, env ?? {}, cwd ?? process.cwd())
  return MtgateServer.start(parsed, deps)
}
