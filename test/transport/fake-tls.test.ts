import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { ByteSocket, ByteSocketHandlers } from '../../src/transport/byte-socket.js'
import { checkClientHello, FakeTlsSocket, MAX_RECORD_PAYLOAD, serverHello, startsLikeClientHello, type TlsSecret } from '../../src/transport/fake-tls.js'
import { appRecord, checkServerHello, clientHello, unwrapRecords } from '../helpers/fake-tls-client.js'
import { Prng } from './helpers.js'

const rng = new Prng(7)
const KEY = rng.bytes(16)
const OTHER = rng.bytes(16)
const DOMAIN = 'mtgate.example'
const NOW_MS = 1_780_000_000_000
const NOW = NOW_MS / 1000
const SECRETS: TlsSecret[] = [
  { key: OTHER, domain: 'other.example', index: 0 },
  { key: KEY, domain: DOMAIN, index: 3 },
]
const check = (hello: Buffer, nowMs = NOW_MS) => checkClientHello(hello, { secrets: SECRETS, nowMs, maxSkewMs: 120_000 })
const hello = (o: { key?: Uint8Array; domain?: string; unixTime?: number } = {}) =>
  clientHello({ key: o.key ?? KEY, domain: o.domain ?? DOMAIN, unixTime: o.unixTime ?? NOW, random: (n) => rng.bytes(n) })

describe('fake-TLS ClientHello (TDLib TlsInit layout)', () => {
  it('is recognised by its first bytes and checked: the secret that keyed it, its time, session id and cipher suite', () => {
    const h = hello()
    assert.ok(h.length > 1500, 'TDLib hellos carry an ML-KEM-768 key share')
    assert.equal(startsLikeClientHello(h.subarray(0, 2)), 'more')
    assert.equal(startsLikeClientHello(h), true)
    assert.equal(startsLikeClientHello(Buffer.from('16030302', 'hex')), false)
    const c = check(h)
    assert.equal(c.kind, 'ok')
    assert.ok(c.kind === 'ok')
    assert.equal(c.secret.index, 3)
    assert.equal(c.timestamp, NOW)
    assert.equal(c.length, h.length)
    assert.deepEqual(c.sessionId, h.subarray(44, 76))
    assert.deepEqual(c.clientRandom, h.subarray(11, 43))
    assert.equal(c.cipherSuite, 0x1301, 'the first suite after the GREASE one')
  })

  it('waits for the whole record', () => {
    const h = hello()
    for (const n of [1, 5, 200, h.length - 1]) assert.deepEqual(check(h.subarray(0, n)), { kind: 'more' })
  })

  it('refuses a hello keyed by no configured secret', () => {
    const c = check(hello({ key: rng.bytes(16) }))
    assert.equal(c.kind === 'reject' && c.why, 'bad_digest')
  })

  it('refuses a hello with one altered byte (the HMAC covers the whole record)', () => {
    const h = hello()
    h[h.length - 40]! ^= 1
    assert.equal(check(h).kind === 'reject' && (check(h) as { why: string }).why, 'bad_digest')
  })

  it("refuses an SNI other than the secret's domain", () => {
    const c = check(hello({ domain: 'www.example.org' }))
    assert.equal(c.kind, 'reject')
    assert.ok(c.kind === 'reject' && c.why === 'sni' && c.reason.includes('www.example.org'), JSON.stringify(c))
    // the other secret's domain does not do either
    assert.equal((check(hello({ domain: 'other.example' })) as { why?: string }).why, 'sni')
  })

  it('accepts a timestamp within the skew and refuses one outside it, both ways', () => {
    assert.equal(check(hello({ unixTime: NOW - 119 })).kind, 'ok')
    assert.equal(check(hello({ unixTime: NOW + 119 })).kind, 'ok')
    for (const t of [NOW - 121, NOW + 121, 0]) {
      const c = check(hello({ unixTime: t }))
      assert.equal(c.kind === 'reject' && c.why, 'clock', `unix time ${t}: ${JSON.stringify(c)}`)
    }
  })

  it('refuses a malformed record', () => {
    const h = hello()
    const bad = Buffer.from(h)
    bad[5] = 0x02 // not a ClientHello
    assert.equal((check(bad) as { why?: string }).why, 'malformed')
    const huge = Buffer.from('1603014001', 'hex')
    assert.equal((check(huge) as { why?: string }).why, 'malformed')
  })
})

describe('fake-TLS parsing of hostile bytes', () => {
  it('a ClientHello with random bytes changed, cut or lengthened never throws: it is refused or waited for', () => {
    const base = hello()
    const fuzz = new Prng(31)
    for (let i = 0; i < 3000; i++) {
      const h = Buffer.from(base)
      for (let n = 1 + fuzz.int(4); n > 0; n--) h[fuzz.int(h.length)] = fuzz.int(256)
      const cut = fuzz.int(4) === 0 ? h.subarray(0, fuzz.int(h.length)) : h
      const c = check(cut)
      assert.ok(c.kind === 'reject' || c.kind === 'more' || c.kind === 'ok', JSON.stringify(c))
    }
  })

  it('FakeTlsSocket fed random bytes reports one carrier error and never throws', () => {
    const fuzz = new Prng(32)
    for (let i = 0; i < 500; i++) {
      const raw = new MemorySocket()
      const s = new FakeTlsSocket(raw)
      const u = upper()
      s.setHandlers(u)
      for (let n = 0; n < 5; n++) raw.h!.onSocketData(fuzz.bytes(1 + fuzz.int(300)))
      assert.ok(u.errors.length <= 1)
    }
  })
})

describe('fake-TLS server answer', () => {
  it('passes the check TDLib makes (prefixes, HMAC of client random + answer) and carries the session id', () => {
    const h = hello()
    const c = check(h)
    assert.ok(c.kind === 'ok')
    const answer = serverHello(c, (n) => rng.bytes(n))
    assert.equal(checkServerHello(answer, KEY, h), answer.length)
    assert.equal(checkServerHello(answer.subarray(0, answer.length - 1), KEY, h), 0)
    assert.deepEqual(answer.subarray(44, 76), c.sessionId)
    assert.equal(answer.readUInt16BE(76), 0x1301)
    assert.throws(() => checkServerHello(answer, OTHER, h), /HMAC/)
  })
})

class MemorySocket implements ByteSocket {
  readonly kind = 'tcp' as const
  remoteAddress = '127.0.0.1'
  remotePort = 1
  readonly localPort = 2
  pendingWriteBytes = 0
  written: Buffer[] = []
  destroyed = false
  h: ByteSocketHandlers | undefined
  setHandlers(h: ByteSocketHandlers): void {
    this.h = h
  }
  write(d: Buffer): void {
    this.written.push(d)
  }
  pause(): void {}
  resume(): void {}
  end(): void {}
  destroy(): void {
    this.destroyed = true
  }
}

function upper(): ByteSocketHandlers & { data: Buffer[]; errors: string[] } {
  const data: Buffer[] = []
  const errors: string[] = []
  return { data, errors, onSocketData: (c) => void data.push(c), onSocketDrain() {}, onSocketClose() {}, onSocketError: (e) => void errors.push(e.message) }
}

describe('FakeTlsSocket', () => {
  it('hands up the payloads of application-data records however the bytes are split, after one ChangeCipherSpec', () => {
    const raw = new MemorySocket()
    const s = new FakeTlsSocket(raw)
    const u = upper()
    s.setHandlers(u)
    const payloads = [rng.bytes(64), rng.bytes(1), rng.bytes(3000)]
    const wire = Buffer.concat([Buffer.from('140303000101', 'hex'), ...payloads.map(appRecord)])
    for (let i = 0; i < wire.length; ) {
      const n = 1 + rng.int(700)
      raw.h!.onSocketData(wire.subarray(i, i + n))
      i += n
    }
    assert.deepEqual(Buffer.concat(u.data), Buffer.concat(payloads))
    assert.deepEqual(u.errors, [])
  })

  it('refuses a ChangeCipherSpec after data, another record type, and a record of another version', () => {
    for (const bad of ['140303000101', '15030300020228', '170301000100']) {
      const raw = new MemorySocket()
      const s = new FakeTlsSocket(raw)
      const u = upper()
      s.setHandlers(u)
      raw.h!.onSocketData(Buffer.concat([appRecord(Buffer.from('ab', 'hex')), Buffer.from(bad, 'hex')]))
      assert.equal(u.errors.length, 1, bad)
      assert.match(u.errors[0]!, /fake-TLS/)
      assert.ok(raw.destroyed)
    }
  })

  it('writes application-data records of at most 16 KiB', () => {
    const raw = new MemorySocket()
    const s = new FakeTlsSocket(raw)
    const data = rng.bytes(3 * MAX_RECORD_PAYLOAD + 5)
    s.write(data)
    const { payloads, rest } = unwrapRecords(Buffer.concat(raw.written))
    assert.deepEqual(payloads.map((p) => p.length), [MAX_RECORD_PAYLOAD, MAX_RECORD_PAYLOAD, MAX_RECORD_PAYLOAD, 5])
    assert.equal(rest.length, 0)
    assert.deepEqual(Buffer.concat(payloads), data)
  })
})
