/**
 * The `mtproxy` section of the YAML config: MTProxy secrets mtgate serves clients with, on every
 * TCP port (fake-TLS too) and on the WebSocket listener (obfuscated2 keyed by plain and dd secrets).
 *
 *   mtproxy:
 *     secrets:                          # hex, as in tg://proxy links
 *       - 0123456789abcdef0123456789abcdef               # any framing inside obfuscated2
 *       - dd0123456789abcdef0123456789abcdef             # padded intermediate only
 *       - ee0123456789abcdef0123456789abcdef6578616d706c652e636f6d   # fake-TLS, SNI example.com
 *     plain_obfuscated: true            # false: clients without a secret are refused
 *     dc_ids: [1, 2, 3, 4, 5]           # DCs a secret's client may ask for (default dc_ids); others get -444
 *     tls_max_skew_seconds: 120         # fake-TLS: ClientHello timestamp vs now
 *     replay_cache_size: 100000         # ClientHellos and secret-keyed inits remembered (each)
 *
 * Environment: MTGATE_MTPROXY_SECRETS (comma list; '' = none), MTGATE_MTPROXY_PLAIN_OBFUSCATED
 * (true / false).
 */
import { parseMtproxySecret, type MtproxySecret } from '../transport/mtproxy-secret.js'
import { DEFAULT_REPLAY_ENTRIES } from '../transport/replay-cache.js'
import { ConfigError, bool, checkKeys, int, mapping, type Env } from './load.js'
import type { MtproxySettings } from './types.js'

export const MTPROXY_DEFAULTS = { tlsMaxSkewSeconds: 120, replayCacheSize: DEFAULT_REPLAY_ENTRIES } as const

const KEYS = ['secrets', 'plain_obfuscated', 'dc_ids', 'tls_max_skew_seconds', 'replay_cache_size']

export function parseMtproxy(v: unknown, env: Env, dcIds: readonly number[]): MtproxySettings {
  const raw = { ...mapping(v, 'mtproxy') }
  checkKeys(raw, KEYS, 'mtproxy.')
  const secretsEnv = env.MTGATE_MTPROXY_SECRETS?.trim()
  let secretsPath = 'mtproxy.secrets'
  if (secretsEnv !== undefined) {
    raw.secrets = secretsEnv === '' ? [] : secretsEnv.split(',').map((s) => s.trim())
    secretsPath = 'MTGATE_MTPROXY_SECRETS'
  }
  const plainEnv = env.MTGATE_MTPROXY_PLAIN_OBFUSCATED?.trim()
  if (plainEnv !== undefined) {
    if (plainEnv !== 'true' && plainEnv !== 'false') throw new ConfigError('MTGATE_MTPROXY_PLAIN_OBFUSCATED', 'must be true or false')
    raw.plain_obfuscated = plainEnv === 'true'
  }
  const secrets = parseSecrets(raw.secrets, secretsPath)
  const plainObfuscated = bool(raw.plain_obfuscated, 'mtproxy.plain_obfuscated', true)
  if (!plainObfuscated && secrets.length === 0) throw new ConfigError('mtproxy.plain_obfuscated', 'false with no secret would refuse every client')
  let ids = [...dcIds]
  if (raw.dc_ids !== undefined) {
    if (!Array.isArray(raw.dc_ids) || raw.dc_ids.length === 0) throw new ConfigError('mtproxy.dc_ids', 'must be a non-empty list of DC ids')
    ids = raw.dc_ids.map((x, i) => int(x, `mtproxy.dc_ids[${i}]`, 0, 1, 1000))
  }
  return {
    secrets,
    plainObfuscated,
    dcIds: ids,
    tlsMaxSkewSeconds: int(raw.tls_max_skew_seconds, 'mtproxy.tls_max_skew_seconds', MTPROXY_DEFAULTS.tlsMaxSkewSeconds, 1, 86400),
    replayCacheSize: int(raw.replay_cache_size, 'mtproxy.replay_cache_size', MTPROXY_DEFAULTS.replayCacheSize, 1, 100_000_000),
  }
}

function parseSecrets(v: unknown, path: string): MtproxySecret[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) throw new ConfigError(path, 'must be a list of hex secrets')
  const seen = new Set<string>()
  return v.map((s, i) => {
    const at = `${path}[${i}]`
    if (typeof s !== 'string') throw new ConfigError(at, 'must be a hex string (quote it in YAML)')
    let secret: MtproxySecret
    try {
      secret = parseMtproxySecret(s)
    } catch (e) {
      throw new ConfigError(at, (e as Error).message)
    }
    const key = Buffer.from(secret.key).toString('hex')
    if (seen.has(key)) throw new ConfigError(at, 'the same 16-byte key twice (a key serves one kind: plain, dd or ee)')
    seen.add(key)
    return secret
  })
}
