/** Shared helpers of the store tests: records with real ids, and the backend combinations. */
import { randomBytes } from 'node:crypto'
import { pino } from 'pino'
import { authKeyIdOf } from '../../src/store/codec.js'
import { createAuthKeyStore, type ConfiguredAuthKeyStore } from '../../src/store/factory.js'
import { AuthKeyType, type AuthKeyRecord, type AuthKeyStoreConfig } from '../../src/store/types.js'
import type { Clock } from '../../src/util/clock.js'
import type { Logger } from '../../src/util/log.js'
import type { MariaDbInstance, RedisInstance } from '../helpers/services.js'

export function testLogger(): Logger {
  return pino({ level: process.env.MTGATE_LOG_LEVEL ?? 'silent' })
}

/** A pino logger collecting every line (to assert that a fault was logged with a reason). */
export function capturingLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = []
  const log = pino(
    { level: 'debug' },
    { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) },
  )
  return { log, lines }
}

export function nowSec(clock: Clock): number {
  return Math.floor(clock.now() / 1000)
}

export function permRecord(clock: Clock): AuthKeyRecord {
  const key = randomBytes(256)
  return { id: authKeyIdOf(key), key, type: AuthKeyType.perm, createdAt: nowSec(clock) }
}

export function tempRecord(clock: Clock, ttl = 3600, type: AuthKeyType = AuthKeyType.temp): AuthKeyRecord {
  const key = randomBytes(256)
  const now = nowSec(clock)
  return { id: authKeyIdOf(key), key, type, createdAt: now, expiresAt: now + ttl }
}

export type BackendName = 'memory' | 'sqlite' | 'mysql' | 'sqlite+redis' | 'mysql+redis'
export const BACKENDS: readonly BackendName[] = ['memory', 'sqlite', 'mysql', 'sqlite+redis', 'mysql+redis']

export function needs(name: BackendName): ('mariadb' | 'redis')[] {
  const out: ('mariadb' | 'redis')[] = []
  if (name.startsWith('mysql')) out.push('mariadb')
  if (name.endsWith('redis')) out.push('redis')
  return out
}

/** The factory config of a backend combination on the given private services. */
export function configFor(
  name: BackendName,
  env: { dir: string; mariadb?: MariaDbInstance; database?: string; redis?: RedisInstance; prefix?: string },
  extra: Partial<AuthKeyStoreConfig> = {},
): AuthKeyStoreConfig {
  const [store, cache] = name.split('+') as ['memory' | 'sqlite' | 'mysql', 'redis' | undefined]
  const cfg: AuthKeyStoreConfig = { store, cache: cache ?? 'none', ...extra }
  if (store === 'sqlite') cfg.sqlite = { path: `${env.dir}/keys.sqlite` }
  if (store === 'mysql') {
    if (!env.mariadb) throw new Error('mariadb instance needed')
    cfg.mysql = { ...env.mariadb.connection, database: env.database ?? env.mariadb.database, opTimeoutMs: 1500 }
  }
  if (cache === 'redis') {
    if (!env.redis) throw new Error('redis instance needed')
    cfg.redis = { ...env.redis.connection, keyPrefix: env.prefix ?? 'test:' }
  }
  return cfg
}

export function openStore(cfg: AuthKeyStoreConfig, clock?: Clock, log: Logger = testLogger()): Promise<ConfiguredAuthKeyStore> {
  return createAuthKeyStore(cfg, log, clock ? { clock } : {})
}
