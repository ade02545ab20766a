import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { connectionsAllowedBy, openFileLimit, reservedDescriptors } from '../../src/transport/fd-limit.js'
import { SourceLimiter, sourcePrefix } from '../../src/transport/source-limits.js'

describe('source prefixes', () => {
  it('IPv4 /24, IPv4-mapped IPv6 as IPv4, IPv6 /64 with :: expanded', () => {
    assert.equal(sourcePrefix('203.0.113.7'), '203.0.113')
    assert.equal(sourcePrefix('::ffff:203.0.113.7'), '203.0.113')
    assert.equal(sourcePrefix('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2')
    assert.equal(sourcePrefix('2001:db8:1:2::1'), '2001:db8:1:2')
    assert.equal(sourcePrefix('2001:db8::1'), '2001:db8:0:0')
    assert.equal(sourcePrefix('2001:0db8:0000:0002::'), '2001:db8:0:2')
    assert.equal(sourcePrefix('::1'), '0:0:0:0')
    assert.equal(sourcePrefix('fe80::1%eth0'), 'fe80:0:0:0')
    // every address of a /64 is one prefix: walking the interface id does not escape the limit
    assert.equal(sourcePrefix('2001:db8:1:2:ffff::9'), sourcePrefix('2001:db8:1:2::8'))
  })
})

describe('SourceLimiter', () => {
  it('caps open connections per address, per prefix and in total; release frees the slot once', () => {
    const s = new SourceLimiter({ maxConnections: 5, maxConnectionsPerIp: 2, maxConnectionsPerPrefix: 3, newConnectionsBurstPerIp: 100, newConnectionsBurstPerPrefix: 100 })
    const a1 = s.admit('10.0.0.1', 0)
    const a2 = s.admit('10.0.0.1', 0)
    assert.equal(typeof a1, 'function')
    assert.equal(typeof a2, 'function')
    assert.equal(s.admit('10.0.0.1', 0), 'per_ip')
    assert.equal(typeof s.admit('10.0.0.2', 0), 'function')
    assert.equal(s.admit('10.0.0.3', 0), 'per_prefix')
    assert.equal(typeof s.admit('10.0.1.1', 0), 'function')
    assert.equal(typeof s.admit('10.0.2.1', 0), 'function')
    assert.equal(s.admit('10.0.3.1', 0), 'max_connections')
    ;(a1 as () => void)()
    ;(a1 as () => void)()
    assert.equal(s.open, 4)
    assert.equal(s.openFrom('10.0.0.1'), 1)
    assert.equal(typeof s.admit('::ffff:10.0.0.1', 0), 'function', 'the mapped form is the same address')
    assert.equal(s.stats.refused.per_ip, 1)
  })

  it('new connections per second: token buckets per address and per prefix', () => {
    const s = new SourceLimiter({ newConnectionsPerSecondPerIp: 2, newConnectionsBurstPerIp: 2, newConnectionsPerSecondPerPrefix: 3, newConnectionsBurstPerPrefix: 3 })
    for (let i = 0; i < 2; i++) (s.admit('10.0.0.1', 0) as () => void)()
    assert.equal(s.admit('10.0.0.1', 0), 'rate_ip')
    ;(s.admit('10.0.0.2', 0) as () => void)()
    assert.equal(s.admit('10.0.0.3', 0), 'rate_prefix')
    assert.equal(typeof s.admit('10.0.0.1', 1000), 'function', 'refilled after a second')
  })
})

describe('open-file limit', () => {
  it('reads the soft limit from /proc/self/limits text and fits max_connections under it', () => {
    const text = 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 4096                 files\n'
    assert.equal(openFileLimit(text), 1024)
    assert.equal(openFileLimit('Max open files            unlimited            unlimited            files\n'), undefined)
    assert.equal(reservedDescriptors(1024), 128)
    assert.deepEqual(connectionsAllowedBy(100_000, 1024, 0), { max: 896, clamped: true, limit: 1024 })
    assert.deepEqual(connectionsAllowedBy(100_000, 1024, 100), { max: 796, clamped: true, limit: 1024 }, 'descriptors already open are kept back')
    assert.deepEqual(connectionsAllowedBy(500, 1024, 0), { max: 500, clamped: false, limit: 1024 })
    const live = openFileLimit()
    if (process.platform === 'linux') assert.ok(live === undefined || live > 0)
  })
})

describe('WebSocket listener', () => {
  it('source limits apply to the TCP connection before any HTTP is read; the slot frees on close', async () => {
    const { WebSocket } = await import('ws')
    const { WsListener } = await import('../../src/transport/ws-listener.js')
    const sources = new SourceLimiter({ maxConnectionsPerIp: 1 })
    const l = new WsListener({ port: 0, paths: ['/apiws'], sources })
    const port = await l.listen()
    const open = (): Promise<InstanceType<typeof WebSocket> | Error> =>
      new Promise((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/apiws`, 'binary')
        ws.once('open', () => resolve(ws))
        ws.once('error', (e) => resolve(e))
      })
    try {
      const first = await open()
      assert.ok(!(first instanceof Error))
      const second = await open()
      assert.ok(second instanceof Error, 'the second connection from the address is refused')
      assert.equal(sources.stats.refused.per_ip, 1)
      first.close()
      await new Promise((r) => setTimeout(r, 100))
      const third = await open()
      assert.ok(!(third instanceof Error))
      third.close()
    } finally {
      await l.close()
    }
  })
})

describe('accept errors', () => {
  it('EMFILE from accept() is counted and logged; the listener keeps accepting', async () => {
    const { TcpListener } = await import('../../src/transport/tcp-listener.js')
    const { TestClient } = await import('./helpers.js')
    const l = new TcpListener({ ports: [0] })
    let got = 0
    l.on('connection', (c) => c.on('packet', () => got++))
    const [port] = await l.listen()
    try {
      // what net.Server emits when accept() fails for want of descriptors
      const server = (l as unknown as { servers: import('node:net').Server[] }).servers[0]!
      server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }))
      server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }))
      assert.deepEqual(l.acceptErrors, { EMFILE: 2 })
      const c = await TestClient.tcp(port!, { codec: 'abridged' })
      c.send(Buffer.alloc(8, 1))
      await new Promise((r) => setTimeout(r, 100))
      assert.equal(got, 1)
      c.close()
    } finally {
      await l.close()
    }
  })
})
