import type { StoreSettings } from '../config/types.js'
import type { Clock } from '../util/clock.js'
import type { Logger } from '../util/log.js'
import { createAuthKeyStore, type ConfiguredAuthKeyStore } from './factory.js'

/** The auth-key store a `store:` config section describes (serve and cluster session nodes). */
export function openConfiguredStore(settings: StoreSettings, log: Logger, clock: Clock): Promise<ConfiguredAuthKeyStore> {
  return createAuthKeyStore(
    {
      store: settings.backend,
      cache: settings.cache,
      sqlite: { path: settings.sqlitePath },
      mysql: settings.mysql,
      redis: settings.redis,
      teamgramCache: settings.teamgramCache,
      lruSize: settings.lruSize,
      cacheTtlSeconds: settings.cacheTtlSeconds,
    },
    log.child({ mod: 'store' }),
    { clock },
  )
}
