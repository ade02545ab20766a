/**
 * MTProxy secrets on the listeners: plain, dd (padded only) and ee (fake-TLS) secrets at once,
 * clients without a secret refused, replays refused, and the log line of each refusal.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { pino, type Logger } from 'pino'
import { createMtproxyReplay, parseMtproxySecret, TcpListener, WsListener, type Connection, type MtproxyReplay } from '../../src/transport/index.js'
import { Prng, TestClient } from './helpers.js'

const rng = new Prng(90)
const DOMAIN = 'mtgate.example'
const PLAIN = parseMtproxySecret(rng.bytes(16).toString('hex'))
const DD = parseMtproxySecret('dd' + rng.bytes(16).toString('hex'))
const EE = parseMtproxySecret('ee' + rng.bytes(16).toString('hex') + Buffer.from(DOMAIN).toString('hex'))

/** A logger whose lines (parsed) land in `lines`. */
function capture(): { log: Logger; lines: Array<{ reason?: string; err?: string }> } {
  const lines: Array<{ reason?: string; err?: string }> = []
  return { lines, log: pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as { reason?: string }) }) }
}

/** Resolves once the server closed `c` (without a packet). */
async function refused(c: TestClient): Promise<void> {
  await c.waitClosed()
}

async function echo(c: TestClient, seed: number): Promise<void> {
  const p = new Prng(seed).bytes(64)
  c.send(p)
  // padded intermediate appends up to 15 bytes
  assert.deepEqual((await c.nextPacket()).subarray(0, 64), p)
}

describe('MTProxy secrets on a TCP port that serves only secret holders', () => {
  let tcp: TcpListener
  let port: number
  let replay: MtproxyReplay
  const seen: Connection[] = []
  const { log, lines } = capture()
  const reasons = (): string[] => lines.map((l) => l.reason ?? '').filter((r) => r !== '')
  let seed = 1000

  before(async () => {
    replay = createMtproxyReplay(1000, 120_000)
    tcp = new TcpListener({ ports: [0], secrets: [PLAIN, DD, EE], allowPlainObfuscated: false, replay, log })
    tcp.on('connection', (c) => {
      seen.push(c)
      c.on('packet', (p) => c.send(p))
    })
    ;[port] = (await tcp.listen()) as [number]
  })
  after(() => tcp.close())

  it('ee: a fake-TLS client (TDLib layout) is answered and served, inside TLS records', async () => {
    const c = await TestClient.fakeTls(port, { codec: 'padded', dcId: 2 }, { key: EE.key, domain: DOMAIN }, new Prng(seed++))
    await echo(c, 1)
    await echo(c, 2)
    const conn = seen.at(-1)!
    assert.equal(conn.info.fakeTls, true)
    assert.equal(conn.info.secretIndex, 2)
    assert.equal(conn.info.codec, 'padded')
    assert.equal(conn.dcId, 2)
    c.close()
  })

  it('ee: a ClientHello arriving in pieces is collected and answered', async () => {
    const c = await TestClient.fakeTls(port, { codec: 'padded' }, { key: EE.key, domain: DOMAIN, helloPieces: 97 }, new Prng(seed++))
    await echo(c, 9)
    assert.equal(seen.at(-1)!.info.fakeTls, true)
    c.close()
  })

  it('ee: the same ClientHello again is refused as a replay and logged', async () => {
    const first = await TestClient.fakeTls(port, { codec: 'intermediate' }, { key: EE.key, domain: DOMAIN }, new Prng(seed++))
    await echo(first, 3)
    first.close()
    await assert.rejects(TestClient.fakeTls(port, { codec: 'intermediate' }, { key: EE.key, domain: DOMAIN, hello: first.hello }, new Prng(seed++)), /closed before/)
    assert.equal(replay.hellos.refused, 1)
    assert.ok(reasons().includes('fake_tls_replay'), JSON.stringify(lines))
  })

  it('ee: another SNI, a clock outside the window, another key: refused without an answer, each logged', async () => {
    const cases: Array<[Parameters<typeof TestClient.fakeTls>[2], string]> = [
      [{ key: EE.key, domain: 'www.example.org' }, 'fake_tls_sni'],
      [{ key: EE.key, domain: DOMAIN, unixTime: Math.floor(Date.now() / 1000) - 200 }, 'fake_tls_clock'],
      [{ key: PLAIN.key, domain: DOMAIN }, 'fake_tls_bad_digest'],
    ]
    for (const [tls, reason] of cases) {
      await assert.rejects(TestClient.fakeTls(port, { codec: 'padded' }, tls, new Prng(seed++)), /closed before/, reason)
      assert.ok(reasons().includes(reason), `${reason}: ${JSON.stringify(lines)}`)
    }
  })

  it('dd: padded intermediate served; another framing keyed by the dd secret refused', async () => {
    const ok = await TestClient.tcp(port, { codec: 'padded', obfuscated: true, secret: DD.key, dcId: -3 }, new Prng(seed++))
    await echo(ok, 4)
    assert.equal(seen.at(-1)!.info.secretIndex, 1)
    assert.equal(seen.at(-1)!.info.fakeTls, false)
    ok.close()
    const bad = await TestClient.tcp(port, { codec: 'intermediate', obfuscated: true, secret: DD.key }, new Prng(seed++))
    bad.send(Buffer.alloc(16))
    await refused(bad)
    assert.ok(reasons().includes('mtproxy_dd_unpadded'))
  })

  it('plain secret: any framing; the same init twice is refused as a replay', async () => {
    const a = await TestClient.tcp(port, { codec: 'abridged', obfuscated: true, secret: PLAIN.key }, new Prng(77))
    await echo(a, 5)
    assert.equal(seen.at(-1)!.info.secretIndex, 0)
    a.close()
    const again = await TestClient.tcp(port, { codec: 'abridged', obfuscated: true, secret: PLAIN.key }, new Prng(77))
    again.send(Buffer.alloc(16))
    await refused(again)
    assert.equal(replay.inits.refused, 1)
    assert.ok(reasons().includes('mtproxy_init_replay'))
  })

  it('no secret: unkeyed obfuscated2 and the unobfuscated framings are refused; an ee key outside TLS too', async () => {
    const before = seen.length
    for (const spec of [
      { codec: 'intermediate', obfuscated: true },
      { codec: 'abridged' },
      { codec: 'full' },
      { codec: 'padded', obfuscated: true, secret: EE.key },
    ] as const) {
      const c = await TestClient.tcp(port, spec, new Prng(seed++))
      c.send(Buffer.alloc(16))
      await refused(c)
    }
    assert.equal(seen.length, before)
  })
})

describe('a TCP port with only an ee secret', () => {
  it('refuses non-TLS bytes with a log line; serves fake-TLS', async () => {
    const { log, lines } = capture()
    const tcp = new TcpListener({ ports: [0], secrets: [EE], allowPlainObfuscated: false, log })
    tcp.on('connection', (c) => c.on('packet', (p) => c.send(p)))
    const [port] = (await tcp.listen()) as [number]
    try {
      const c = await TestClient.tcp(port, { codec: 'intermediate', obfuscated: true }, new Prng(5))
      c.send(Buffer.alloc(16))
      await refused(c)
      const line = lines.find((l) => l.reason === 'fake_tls_expected')
      assert.ok(line, JSON.stringify(lines))
      assert.match(line.err!, /only fake-TLS/)
      const t = await TestClient.fakeTls(port, { codec: 'padded' }, { key: EE.key, domain: DOMAIN }, new Prng(6))
      await echo(t, 6)
      t.close()
    } finally {
      await tcp.close()
    }
  })
})

describe('MTProxy secrets on the WebSocket listener', () => {
  it('an init keyed by a plain or dd secret is served, an unkeyed one refused when plain obfuscation is off', async () => {
    const ws = new WsListener({ port: 0, secrets: [PLAIN, DD, EE], allowPlainObfuscated: false })
    const seen: Connection[] = []
    ws.on('connection', (c) => {
      seen.push(c)
      c.on('packet', (p) => c.send(p))
    })
    const port = await ws.listen()
    try {
      const a = await TestClient.ws(port, { codec: 'intermediate', obfuscated: true, secret: PLAIN.key }, new Prng(11))
      await echo(a, 7)
      const b = await TestClient.ws(port, { codec: 'padded', obfuscated: true, secret: DD.key }, new Prng(12))
      await echo(b, 8)
      assert.deepEqual(seen.map((c) => c.info.secretIndex), [0, 1])
      a.close()
      b.close()
      const plain = await TestClient.ws(port, { codec: 'intermediate', obfuscated: true }, new Prng(13))
      plain.send(Buffer.alloc(16))
      await refused(plain)
      assert.equal(seen.length, 2)
    } finally {
      await ws.close()
    }
  })
})
