/**
 * PROXY protocol v1/v2: the parser against the spec's examples, the listener's trust rules, and a
 * real haproxy (send-proxy, send-proxy-v2) in front of a TcpListener.
 */
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { describe, it } from 'node:test'
import type { Connection } from '../../src/transport/connection.js'
import { parseProxyHeader, startsWithProxyHeader, TrustedProxies } from '../../src/transport/proxy-protocol.js'
import { SourceLimiter } from '../../src/transport/source-limits.js'
import { TcpListener } from '../../src/transport/tcp-listener.js'
import { startHaproxy } from '../helpers/haproxy.js'
import { freePort } from '../helpers/services.js'

const V2_SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')

function v2(cmd: number, fam: number, body: Buffer): Buffer {
  const h = Buffer.alloc(4)
  h[0] = 0x20 | cmd
  h[1] = fam
  h.writeUInt16BE(body.length, 2)
  return Buffer.concat([V2_SIG, h, body])
}

describe('PROXY header parser', () => {
  it('version 1: TCP4, TCP6, UNKNOWN; partial input asks for more; junk is refused', () => {
    const line = Buffer.from('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nrest')
    assert.deepEqual(parseProxyHeader(line), { kind: 'ok', length: line.length - 4, version: 1, source: { ip: '192.168.0.1', port: 56324 } })
    const six = Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 1000 443\r\n')
    assert.deepEqual(parseProxyHeader(six), { kind: 'ok', length: six.length, version: 1, source: { ip: '2001:db8::1', port: 1000 } })
    const long = Buffer.from('PROXY TCP6 2001:DB8:0:0:0:0:0:1 2001:db8::2 1000 443\r\n')
    assert.equal((parseProxyHeader(long) as { source: { ip: string } }).source.ip, '2001:db8::1', 'one address, one text: as a socket reports it')
    const mapped = Buffer.from('PROXY TCP6 ::ffff:198.51.100.7 ::ffff:10.0.0.1 1000 443\r\n')
    assert.equal((parseProxyHeader(mapped) as { source: { ip: string } }).source.ip, '198.51.100.7')
    assert.equal((parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n')) as { source: unknown }).source, undefined)
    assert.deepEqual(parseProxyHeader(line.subarray(0, 20)), { kind: 'more' })
    assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 99999 443\r\n')).kind, 'bad')
    assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 ::1 5.6.7.8 1 443\r\n')).kind, 'bad')
    assert.equal(parseProxyHeader(Buffer.alloc(120, 0x50).fill('PROXY ', 0, 6)).kind, 'bad', 'no CRLF within 107 bytes')
    assert.equal(parseProxyHeader(Buffer.from([0xef, 1, 2])).kind, 'bad')
  })

  it('version 2: PROXY TCP4 / TCP6 with TLVs, LOCAL, other families; truncation and bad versions', () => {
    const b4 = Buffer.from([10, 1, 2, 3, 10, 9, 9, 9, 0x30, 0x39, 0x01, 0xbb, 0x04, 0x00, 0x01, 0xff]) // + a NOOP TLV
    assert.deepEqual(parseProxyHeader(Buffer.concat([v2(1, 0x11, b4), Buffer.from('x')])), { kind: 'ok', length: 16 + 16, version: 2, source: { ip: '10.1.2.3', port: 12345 } })
    const b6 = Buffer.alloc(36)
    b6.writeUInt16BE(0x2001, 0)
    b6.writeUInt16BE(0x0db8, 2)
    b6.writeUInt16BE(7, 14)
    b6.writeUInt16BE(443, 32)
    assert.deepEqual(parseProxyHeader(v2(1, 0x21, b6)), { kind: 'ok', length: 52, version: 2, source: { ip: '2001:db8::7', port: 443 } })
    const mapped = Buffer.alloc(36)
    mapped.writeUInt16BE(0xffff, 10)
    Buffer.from([198, 51, 100, 7]).copy(mapped, 12)
    assert.deepEqual(parseProxyHeader(v2(1, 0x21, mapped)), { kind: 'ok', length: 52, version: 2, source: { ip: '198.51.100.7', port: 0 } }, 'IPv4-mapped: the IPv4 address')
    assert.equal((parseProxyHeader(v2(0, 0x00, Buffer.alloc(0))) as { source: unknown }).source, undefined, 'LOCAL')
    assert.equal((parseProxyHeader(v2(1, 0x31, Buffer.alloc(216))) as { source: unknown }).source, undefined, 'AF_UNIX')
    assert.deepEqual(parseProxyHeader(v2(1, 0x11, b4).subarray(0, 20)), { kind: 'more' })
    const badVersion = v2(1, 0x11, b4)
    badVersion[12] = 0x31
    assert.equal(parseProxyHeader(badVersion).kind, 'bad')
    assert.equal(parseProxyHeader(v2(1, 0x11, Buffer.alloc(8))).kind, 'bad', 'short IPv4 block')
  })

  it('signature detection waits until it can tell', () => {
    assert.equal(startsWithProxyHeader(Buffer.from('PRO')), 'more')
    assert.equal(startsWithProxyHeader(Buffer.from('PROXY ')), 'yes')
    assert.equal(startsWithProxyHeader(V2_SIG), 'yes')
    assert.equal(startsWithProxyHeader(Buffer.from([0xef])), 'no')
    assert.equal(startsWithProxyHeader(Buffer.from([0x50, 0, 0, 0])), 'no', 'a full-transport length of 80')
  })

  it('trusted proxies: CIDR blocks and single addresses, IPv4-mapped IPv6 as IPv4', () => {
    const t = new TrustedProxies(['10.0.0.0/8', '192.168.1.5', 'fd00::/8'])
    assert.ok(t.has('10.200.1.1'))
    assert.ok(t.has('::ffff:10.200.1.1'))
    assert.ok(t.has('192.168.1.5'))
    assert.ok(!t.has('192.168.1.6'))
    assert.ok(t.has('fd12::1'))
    assert.ok(!t.has('fe80::1'))
    assert.throws(() => new TrustedProxies(['10.0.0.0/33']))
    assert.throws(() => new TrustedProxies(['example.com']))
  })
})

/** Opens a connection, writes `bytes`, resolves with the first packet's connection (or the close). */
async function listenerWith(o: { trusted: string[]; sources?: SourceLimiter }): Promise<{ l: TcpListener; port: number; conns: Connection[] }> {
  const p = await freePort()
  const l = new TcpListener({ ports: [p], proxyProtocol: { ports: [p], trusted: o.trusted }, sources: o.sources })
  const conns: Connection[] = []
  l.on('connection', (c) => {
    conns.push(c)
    c.on('packet', (pk) => c.send(pk))
  })
  await l.listen()
  return { l, port: p, conns }
}

function exchange(port: number, bytes: Buffer, localAddress = '127.0.0.1'): Promise<Buffer | 'closed'> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, localAddress })
    const got: Buffer[] = []
    s.on('data', (d: Buffer) => {
      got.push(d)
      if (Buffer.concat(got).length >= 12) {
        s.destroy()
        resolve(Buffer.concat(got))
      }
    })
    s.on('error', () => undefined)
    s.on('close', () => resolve('closed'))
    s.write(bytes)
  })
}

/** An intermediate-transport client's first bytes: tag and one 8-byte packet. */
const intermediatePing = Buffer.concat([Buffer.from('eeeeeeee', 'hex'), Buffer.from([8, 0, 0, 0]), Buffer.alloc(8, 7)])

describe('TcpListener with PROXY protocol', () => {
  it('a trusted proxy: the header sets the address; without a header it is refused', async () => {
    const { l, port, conns } = await listenerWith({ trusted: ['127.0.0.1'] })
    try {
      const hdr = Buffer.from('PROXY TCP4 198.51.100.7 203.0.113.1 40000 443\r\n')
      assert.notEqual(await exchange(port, Buffer.concat([hdr, intermediatePing])), 'closed')
      assert.equal(conns[0]!.info.remoteIp, '198.51.100.7')
      assert.equal(conns[0]!.info.remotePort, 40000)
      assert.equal(await exchange(port, intermediatePing), 'closed', 'the trusted proxy must send a header')
    } finally {
      await l.close()
    }
  })

  it('anyone else: a PROXY header is refused, a plain client is served under its own address', async () => {
    const { l, port, conns } = await listenerWith({ trusted: ['10.0.0.0/8'] })
    try {
      const hdr = Buffer.from('PROXY TCP4 198.51.100.7 203.0.113.1 40000 443\r\n')
      assert.equal(await exchange(port, Buffer.concat([hdr, intermediatePing])), 'closed')
      assert.notEqual(await exchange(port, intermediatePing, '127.0.0.9'), 'closed')
      assert.equal(conns.at(-1)!.info.remoteIp, '127.0.0.9')
    } finally {
      await l.close()
    }
  })

  it('source limits count the address from the header', async () => {
    const sources = new SourceLimiter({ maxConnectionsPerIp: 1 })
    const { l, port } = await listenerWith({ trusted: ['127.0.0.1'], sources })
    try {
      const hdr = (ip: string): Buffer => Buffer.from(`PROXY TCP4 ${ip} 203.0.113.1 40000 443\r\n`)
      const held = connect({ host: '127.0.0.1', port })
      held.write(Buffer.concat([hdr('198.51.100.7'), Buffer.from('eeeeeeee', 'hex')]))
      await new Promise((r) => setTimeout(r, 100))
      assert.equal(sources.openFrom('198.51.100.7'), 1)
      assert.equal(await exchange(port, Buffer.concat([hdr('198.51.100.7'), intermediatePing])), 'closed')
      assert.notEqual(await exchange(port, Buffer.concat([hdr('198.51.100.8'), intermediatePing])), 'closed')
      held.destroy()
    } finally {
      await l.close()
    }
  })
})

describe('behind a real haproxy', () => {
  for (const version of ['send-proxy', 'send-proxy-v2'] as const) {
    it(`${version}: the client's own address reaches the connection`, async () => {
      const { l, port, conns } = await listenerWith({ trusted: ['127.0.0.1/32'] })
      const front = await freePort()
      const hp = startHaproxy([{ port: front, target: { host: '127.0.0.1', port }, proxy: version }])
      try {
        let answer: Buffer | 'closed' = 'closed'
        for (let i = 0; i < 50 && answer === 'closed'; i++) {
          await new Promise((r) => setTimeout(r, 100))
          answer = await exchange(front, intermediatePing, '127.0.0.77')
        }
        assert.notEqual(answer, 'closed', `no answer through haproxy: ${hp.stderr()}`)
        assert.equal(conns.at(-1)!.info.remoteIp, '127.0.0.77')
      } finally {
        hp.stop()
        await l.close()
      }
    })
  }
})
