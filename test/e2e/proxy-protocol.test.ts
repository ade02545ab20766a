/**
 * Behind a trusted proxy, the client's own address from the PROXY protocol header is the one the
 * whole server uses: what a TS handler sees (ctx.connection.clientAddr), the upstream InvokeRequest's
 * client_ip / client_port, help.getNearestDc's country lookup (its DC stays the connection's), and
 * the per-address handshake bucket. Headers come from a real haproxy (send-proxy-v2: the client's
 * own loopback address, and one set by `tcp-request connection set-src`) and from the test itself
 * (v1 and v2, IPv4 and IPv6 documentation addresses no local socket can have). A PROXY header from
 * a peer that is not a trusted proxy is refused: test/transport/proxy-protocol.test.ts.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { connect as tcpConnect } from 'node:net'
import { AuthKey } from '../../src/crypto/message.js'
import { serialize } from '../../src/handshake/messages.js'
import { encode, type TlObject } from '../../src/tl/index.js'
import { PlainTcpClient, TransportErrorPacket } from '../helpers/clients.js'
import { startHaproxy, type Haproxy } from '../helpers/haproxy.js'
import { proxyHeaderV1, proxyHeaderV2 } from '../helpers/proxy-header.js'
import { freePort } from '../helpers/services.js'
import { startUpstream, type TestUpstream } from '../helpers/upstream.js'
import { startE2eServer, type E2eServer } from './harness.js'
import { isRpcError, RawClient, withInitConnection, type RawClientOptions } from './raw-client.js'

const HOST = '127.0.79.31'
/** The proxies' (and the header-writing clients') address: the only trusted one. */
const PROXY = '127.0.0.1'
/** help.getNearestDc's country lookup on the server. */
const countryOf = (ip: string): string | undefined => (ip.startsWith('203.0.113.') ? 'NL' : ip.startsWith('2001:db8:') ? 'DE' : undefined)

/** Resolves once something accepts TCP connections on 127.0.0.1:`port` (haproxy starting), within 5 s. */
async function accepting(port: number, log: () => string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = tcpConnect({ host: PROXY, port }, () => (s.destroy(), resolve(true)))
      s.on('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`haproxy does not accept on ${port}: ${log()}`)
}

describe('the address from the PROXY protocol header, end to end', () => {
  let e: E2eServer
  let up: TestUpstream
  let hp: Haproxy
  const fronts = { real: 0, setSrc: 0 }
  /** clientAddr of every call the TS handler got. */
  const handlerSaw: string[] = []
  const clients: RawClient[] = []

  before(async () => {
    up = await startUpstream(() => ({ result: encode({ _: 'help.appConfig', hash: 5, config: { _: 'jsonObject', value: [] } } as unknown as TlObject) }))
    const port = await freePort()
    e = await startE2eServer({
      host: HOST,
      tcpPort: port,
      countryOf,
      config: {
        proxy_protocol: { ports: [port], trusted: [PROXY] },
        limits: { handshakes_per_second_per_ip: 1, handshakes_burst_per_ip: 2, new_connections_per_second_per_ip: 1, new_connections_burst_per_ip: 4, max_connections_per_ip: 2 },
        upstreams: [{ name: 'bff', targets: [up.address], deadline_ms: 3000 }],
        routes: { 'help.getAppConfig': 'bff' },
      },
    })
    e.server.handle('help.getPromoData', (_req, ctx) => {
      handlerSaw.push(ctx.connection.clientAddr)
      return { _: 'help.promoDataEmpty', expires: 0 }
    })
    fronts.real = await freePort()
    fronts.setSrc = await freePort()
    const target = { host: HOST, port }
    hp = startHaproxy([
      { port: fronts.real, target, proxy: 'send-proxy-v2' },
      { port: fronts.setSrc, target, proxy: 'send-proxy-v2', lines: ['tcp-request connection set-src ipv4(203.0.113.9)'] },
    ])
    for (const p of [fronts.real, fronts.setSrc]) await accepting(p, () => hp.stderr())
  })
  after(async () => {
    for (const c of clients) c.close()
    hp?.stop()
    await e?.close()
    await up?.stop()
  })

  async function connect(o: Omit<RawClientOptions, 'key'>): Promise<RawClient> {
    const key = new AuthKey(randomBytes(256))
    assert.equal(await e.server.store.put({ id: key.id, key: key.key, type: 0, createdAt: Math.floor(Date.now() / 1000) }), 'created')
    const c = await RawClient.connect({ ...o, key })
    clients.push(c)
    return c
  }

  /**
   * The address each layer saw for `c`'s calls: the TS handler's clientAddr, the upstream
   * request's client_ip / client_port, and help.getNearestDc's answer.
   */
  async function seenBy(c: RawClient): Promise<{ handler: string; upstream: { ip: string; port: number }; nearest: TlObject }> {
    const promo = await c.invoke(withInitConnection(222, 4, { _: 'help.getPromoData' }))
    assert.ok(!isRpcError(promo) && !Buffer.isBuffer(promo) && promo._ === 'help.promoDataEmpty', JSON.stringify(promo))
    const app = await c.invoke({ _: 'help.getAppConfig', hash: 0 })
    assert.ok(!isRpcError(app) && !Buffer.isBuffer(app) && app._ === 'help.appConfig', JSON.stringify(app))
    const req = up.requests.at(-1)!
    const nearest = await c.invoke({ _: 'help.getNearestDc' })
    assert.ok(!Buffer.isBuffer(nearest) && !isRpcError(nearest))
    return { handler: handlerSaw.at(-1)!, upstream: { ip: req.clientIp, port: req.clientPort }, nearest }
  }

  it("haproxy send-proxy-v2: the client's own address and port, not haproxy's", async () => {
    const c = await connect({ host: PROXY, port: fronts.real, localAddress: '127.0.0.77' })
    const seen = await seenBy(c)
    assert.equal(seen.handler, `127.0.0.77:${c.localPort}`)
    assert.deepEqual(seen.upstream, { ip: '127.0.0.77', port: c.localPort })
    assert.deepEqual(seen.nearest, { _: 'nearestDc', country: 'ZZ', this_dc: 2, nearest_dc: 2 }, 'no country for a loopback address: the configured one')
  })

  it('haproxy send-proxy-v2 with set-src: the address haproxy sets, the client port, the DC the client named', async () => {
    const c = await connect({ host: PROXY, port: fronts.setSrc, localAddress: '127.0.0.78', obfuscatedDc: 4 })
    const seen = await seenBy(c)
    assert.equal(seen.handler, `203.0.113.9:${c.localPort}`)
    assert.deepEqual(seen.upstream, { ip: '203.0.113.9', port: c.localPort })
    assert.deepEqual(seen.nearest, { _: 'nearestDc', country: 'NL', this_dc: 4, nearest_dc: 4 })
  })

  it('headers written by the client side: v1 IPv4 and v2 IPv6', async () => {
    const v1 = await connect({ host: HOST, port: e.tcpPort!, localAddress: PROXY, proxyHeader: proxyHeaderV1('203.0.113.7', 40001), obfuscatedDc: 3 })
    const s1 = await seenBy(v1)
    assert.equal(s1.handler, '203.0.113.7:40001')
    assert.deepEqual(s1.upstream, { ip: '203.0.113.7', port: 40001 })
    assert.deepEqual(s1.nearest, { _: 'nearestDc', country: 'NL', this_dc: 3, nearest_dc: 3 })
    const v2 = await connect({ host: HOST, port: e.tcpPort!, localAddress: PROXY, proxyHeader: proxyHeaderV2('2001:db8::7', 40002) })
    const s2 = await seenBy(v2)
    assert.equal(s2.handler, '[2001:db8::7]:40002')
    assert.deepEqual(s2.upstream, { ip: '2001:db8::7', port: 40002 })
    assert.deepEqual(s2.nearest, { _: 'nearestDc', country: 'DE', this_dc: 2, nearest_dc: 2 })
  })

  /** A connection from 127.0.0.1 (the proxy) whose PROXY header names `ip`. */
  const viaHeader = (ip: string, header: (ip: string, port: number) => Buffer): Promise<PlainTcpClient> =>
    PlainTcpClient.connect(HOST, e.tcpPort!, 'intermediate', { localAddress: PROXY, proxyHeader: header(ip, 40100) })

  /** What req_pq_multi on `c` gets: resPQ, a transport error code, or the connection closed (refused at accept). */
  async function reqPq(c: PlainTcpClient): Promise<'resPQ' | 'closed' | number> {
    try {
      const ans = await c.call(serialize({ _: 'req_pq_multi', nonce: randomBytes(16) }), 5000)
      return ans.readUInt32LE(0) === 0x05162463 ? 'resPQ' : ans.readUInt32LE(0)
    } catch (err) {
      if (err instanceof TransportErrorPacket) return err.code
      if ((err as Error).message === 'connection closed') return 'closed'
      throw err
    }
  }

  /** reqPq on a new connection whose header names `ip`, closed after. */
  async function once(ip: string, header: (ip: string, port: number) => Buffer): Promise<'resPQ' | 'closed' | number> {
    const c = await viaHeader(ip, header)
    try {
      return await reqPq(c)
    } finally {
      c.close()
    }
  }

  // Every connection below comes from 127.0.0.1: counted by that address, these limits (burst 4,
  // at most 2 open) would have refused most of them.

  it('handshakes per address count the header address: each address its own bucket of 2, the third from one → -429', async () => {
    // two each, from one /24 (whose bucket holds 128)
    assert.deepEqual([await once('203.0.113.50', proxyHeaderV1), await once('203.0.113.50', proxyHeaderV2)], ['resPQ', 'resPQ'])
    assert.equal(await once('203.0.113.50', proxyHeaderV1), -429)
    assert.deepEqual([await once('203.0.113.51', proxyHeaderV2), await once('203.0.113.51', proxyHeaderV1)], ['resPQ', 'resPQ'])
    assert.equal(await once('::ffff:203.0.113.51', proxyHeaderV1), -429, 'the IPv4-mapped form is the same address')
    assert.equal(await once('2001:db8::50', proxyHeaderV1), 'resPQ')
  })

  it('new connections per address count the header address: a burst of 4, the fifth refused at accept', async () => {
    const got = []
    for (let i = 0; i < 5; i++) got.push(await once('203.0.113.60', i % 2 === 0 ? proxyHeaderV1 : proxyHeaderV2))
    assert.deepEqual(got, ['resPQ', 'resPQ', -429, -429, 'closed'], 'admitted four times (then over the handshake bucket), refused the fifth')
    assert.equal(await once('203.0.113.61', proxyHeaderV2), 'resPQ')
  })

  it('open connections per address count the header address: at most 2 held, the third refused at accept', async () => {
    const held = [await viaHeader('203.0.113.70', proxyHeaderV1), await viaHeader('203.0.113.70', proxyHeaderV2)]
    try {
      assert.deepEqual([await reqPq(held[0]!), await reqPq(held[1]!)], ['resPQ', 'resPQ'])
      assert.equal(await once('203.0.113.70', proxyHeaderV1), 'closed')
      assert.equal(await once('203.0.113.71', proxyHeaderV1), 'resPQ')
    } finally {
      for (const c of held) c.close()
    }
  })
})
