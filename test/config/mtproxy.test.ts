import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parse } from 'yaml'
import { ConfigError, parseConfig } from '../../src/config/index.js'
import { formatMtproxySecret } from '../../src/transport/index.js'

const KEY = '0123456789abcdef0123456789abcdef'
const EE = 'ee' + KEY.replace('01', 'ff') + Buffer.from('example.com').toString('hex')

/** The ConfigError parseConfig throws for `input` (and `env`), by its path and reason. */
function configError(input: unknown, env: Record<string, string> = {}): { path: string; reason: string } {
  try {
    parseConfig(input, env)
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e))
    return { path: e.path, reason: e.reason }
  }
  assert.fail('no ConfigError')
}

describe('config: mtproxy', () => {
  it('default: no secret, clients without one served, the DCs a secret client may ask for are dc_ids', () => {
    const m = parseConfig({}).mtproxy
    assert.deepEqual(m, { secrets: [], plainObfuscated: true, dcIds: [1, 2, 3, 4, 5], tlsMaxSkewSeconds: 120, replayCacheSize: 100_000 })
  })

  it('plain, dd and ee secrets at once, from YAML', () => {
    const m = parseConfig(
      parse(`
mtproxy:
  secrets:
    - ${KEY.replace('01', 'aa')}
    - dd${KEY}
    - ${EE}
  plain_obfuscated: false
  dc_ids: [2]
  tls_max_skew_seconds: 30
  replay_cache_size: 500
`),
    ).mtproxy
    assert.deepEqual(m.secrets.map((s) => [s.kind, Buffer.from(s.key).toString('hex'), s.domain]), [
      ['simple', KEY.replace('01', 'aa'), undefined],
      ['dd', KEY, undefined],
      ['ee', KEY.replace('01', 'ff'), 'example.com'],
    ])
    assert.deepEqual(m.secrets.map(formatMtproxySecret), [KEY.replace('01', 'aa'), 'dd' + KEY, EE])
    assert.equal(m.plainObfuscated, false)
    assert.deepEqual(m.dcIds, [2])
    assert.equal(m.tlsMaxSkewSeconds, 30)
    assert.equal(m.replayCacheSize, 500)
  })

  it('MTGATE_MTPROXY_SECRETS (comma list) and MTGATE_MTPROXY_PLAIN_OBFUSCATED replace the file', () => {
    const env = { MTGATE_MTPROXY_SECRETS: ` dd${KEY} , ${EE}`, MTGATE_MTPROXY_PLAIN_OBFUSCATED: 'false' }
    const m = parseConfig({ mtproxy: { secrets: [KEY.replace('01', 'bb')] } }, env).mtproxy
    assert.deepEqual(m.secrets.map((s) => s.kind), ['dd', 'ee'])
    assert.equal(m.plainObfuscated, false)
    assert.deepEqual(parseConfig({ mtproxy: { secrets: [KEY] } }, { MTGATE_MTPROXY_SECRETS: '' }).mtproxy.secrets, [])
  })

  it('a bad secret is a ConfigError naming its key', () => {
    assert.deepEqual(configError({ mtproxy: { secrets: [KEY, 'xyz'] } }), { path: 'mtproxy.secrets[1]', reason: configError({ mtproxy: { secrets: ['xyz'] } }).reason })
    assert.match(configError({ mtproxy: { secrets: ['xyz'] } }).reason, /hex/)
    assert.equal(configError({ mtproxy: { secrets: [KEY.slice(2)] } }).path, 'mtproxy.secrets[0]')
    assert.match(configError({ mtproxy: { secrets: ['ab' + KEY] } }).reason, /dd .* ee/)
    assert.match(configError({ mtproxy: { secrets: ['ee' + KEY + '2f2f'] } }).reason, /domain/)
    assert.match(configError({ mtproxy: { secrets: [1234] } }).reason, /quote/)
    assert.match(configError({ mtproxy: { secrets: [KEY, 'dd' + KEY] } }).reason, /same 16-byte key/)
    assert.equal(configError({}, { MTGATE_MTPROXY_SECRETS: `${KEY},nope` }).path, 'MTGATE_MTPROXY_SECRETS[1]')
    assert.equal(configError({}, { MTGATE_MTPROXY_PLAIN_OBFUSCATED: 'no' }).path, 'MTGATE_MTPROXY_PLAIN_OBFUSCATED')
  })

  it('other keys checked: unknown ones, plain_obfuscated false without a secret, bad dc_ids', () => {
    assert.equal(configError({ mtproxy: { secret: [KEY] } }).path, 'mtproxy.secret')
    assert.equal(configError({ mtproxy: { plain_obfuscated: false } }).path, 'mtproxy.plain_obfuscated')
    assert.equal(configError({ mtproxy: { secrets: [KEY], dc_ids: [] } }).path, 'mtproxy.dc_ids')
    assert.equal(configError({ mtproxy: { secrets: [KEY], tls_max_skew_seconds: 0 } }).path, 'mtproxy.tls_max_skew_seconds')
  })
})
