import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { parseConfig } from '../../src/config/index.js'
import { buildConfig, buildNearestDc, registerBuiltins, RpcRouter } from '../../src/rpc/index.js'
import { clientIpPort, type RpcCall } from '../../src/session/api.js'
import { decode, encode, type TlObject } from '../../src/tl/index.js'
import { ManualClock } from '../../src/util/clock.js'

const require = createRequire(import.meta.url)

const settings = parseConfig({
  dc_ids: [3, 4],
  host: '0.0.0.0',
  tcp_ports: [443],
  public_addresses: [
    { ip: '203.0.113.5', port: 443 },
    { ip: '2001:db8::1', port: 443, media_only: true },
    { ip: '203.0.113.6', port: 80, dc_id: 4, this_port_only: true, static: true },
  ],
  telegram: { expires_seconds: 120, chat_size_max: 50, tmp_sessions: 3, test_mode: true },
})

test('help.getConfig: this_dc, dc_options from public addresses (an entry without dc_id serves each DC), date/expires from the clock, limits from config', () => {
  const now = 1_700_000_000_123
  const c = buildConfig(settings, now, 3)
  assert.equal(c._, 'config')
  assert.equal(c.this_dc, 3)
  assert.equal(c.date, 1_700_000_000)
  assert.equal(c.expires, 1_700_000_120)
  assert.equal(c.test_mode, true)
  assert.equal(c.chat_size_max, 50)
  assert.equal(c.tmp_sessions, 3)
  assert.deepEqual(
    c.dc_options.map((d) => [d.id, d.ip_address, d.port, !!d.ipv6, !!d.media_only, !!d.static, !!d.this_port_only]),
    [
      [3, '203.0.113.5', 443, false, false, false, false],
      [4, '203.0.113.5', 443, false, false, false, false],
      [3, '2001:db8::1', 443, true, true, false, false],
      [4, '2001:db8::1', 443, true, true, false, false],
      [4, '203.0.113.6', 80, false, false, true, true],
    ],
  )
  assert.equal(buildConfig(settings, now, 4).this_dc, 4)
  // round trip through our codec
  const back = decode(encode(c)) as TlObject
  assert.equal(back._, 'config')
})

test('help.getConfig bytes parse in GramJS (a client nobody here wrote)', () => {
  const { BinaryReader } = require('telegram/extensions/index.js') as {
    BinaryReader: new (b: Buffer) => { tgReadObject(): Record<string, unknown> }
  }
  const o = new BinaryReader(encode(buildConfig(settings, 1_700_000_000_000, 3))).tgReadObject()
  assert.equal(o.className, 'Config')
  assert.equal(o.thisDc, 3)
  assert.equal(o.expires, 1_700_000_120)
  const opts = o.dcOptions as { ipAddress: string; port: number; ipv6?: boolean; mediaOnly?: boolean }[]
  assert.deepEqual(opts.map((d) => [d.ipAddress, d.port, !!d.ipv6, !!d.mediaOnly]), [
    ['203.0.113.5', 443, false, false],
    ['203.0.113.5', 443, false, false],
    ['2001:db8::1', 443, true, true],
    ['2001:db8::1', 443, true, true],
    ['203.0.113.6', 80, false, false],
  ])
})

test('help.getNearestDc answers the DC the connection came for', () => {
  assert.deepEqual(buildNearestDc(settings, { dcId: 4, clientAddr: '203.0.113.7:40000' }), { _: 'nearestDc', country: 'ZZ', this_dc: 4, nearest_dc: 4 })
})

test("help.getNearestDc: the country of the client's address when a lookup is given, else the configured one; the DC unchanged", () => {
  const asked: string[] = []
  const countryOf = (ip: string): string | undefined => (asked.push(ip), ip.startsWith('203.0.113.') ? 'NL' : undefined)
  const s = { ...settings, countryOf }
  assert.deepEqual(buildNearestDc(s, { dcId: 3, clientAddr: '203.0.113.7:40000' }), { _: 'nearestDc', country: 'NL', this_dc: 3, nearest_dc: 3 })
  assert.deepEqual(buildNearestDc(s, { dcId: 4, clientAddr: '[2001:db8::7]:443' }), { _: 'nearestDc', country: 'ZZ', this_dc: 4, nearest_dc: 4 })
  assert.deepEqual(asked, ['203.0.113.7', '2001:db8::7'])
})

test('clientIpPort: IPv4 and bracketed IPv6 with a port; without one, port 0', () => {
  assert.deepEqual(clientIpPort('203.0.113.7:40000'), { ip: '203.0.113.7', port: 40000 })
  assert.deepEqual(clientIpPort('[2001:db8::7]:443'), { ip: '2001:db8::7', port: 443 })
  assert.deepEqual(clientIpPort('[::ffff:10.0.0.1]:5'), { ip: '::ffff:10.0.0.1', port: 5 })
  assert.deepEqual(clientIpPort('2001:db8::7'), { ip: '2001:db8::7', port: 0 })
  assert.deepEqual(clientIpPort('10.0.0.1'), { ip: '10.0.0.1', port: 0 })
})

test('registerBuiltins wires both methods into a router, using the injected clock', async () => {
  const clock = new ManualClock(1_000_000_000_000)
  const r = registerBuiltins(new RpcRouter(), settings, clock)
  const call = (query: TlObject): RpcCall => ({
    method: query._,
    constructorId: 0,
    query,
    raw: encode(query),
    ctx: {
      authKeyId: 1n,
      authKeyType: 0,
      permAuthKeyId: 1n,
      sessionId: 1n,
      msgId: 4n,
      layer: 198,
      client: undefined,
      connection: { gatewayId: 'g', connId: 'c', clientAddr: '127.0.0.1:1', dcId: 3, transport: 'tcp' },
      withoutUpdates: false,
      userId: undefined,
    },
  })
  const configOf = async (): Promise<{ date: number; this_dc: number }> => {
    const o = await r.dispatch(call({ _: 'help.getConfig' }))
    assert.equal(o.kind, 'result')
    return (o as { result: { date: number; this_dc: number } }).result
  }
  assert.equal((await configOf()).date, 1_000_000_000)
  assert.equal((await configOf()).this_dc, 3)
  clock.advance(5000)
  assert.equal((await configOf()).date, 1_000_000_005)
  const n = await r.dispatch(call({ _: 'help.getNearestDc' }))
  assert.deepEqual(n, { kind: 'result', result: { _: 'nearestDc', country: 'ZZ', this_dc: 3, nearest_dc: 3 }, method: 'help.getNearestDc' })
})
