import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { AuthKey, decryptMessage, encryptMessage, quickAckToken } from '../../src/crypto/message.js'
import { EncryptedPath, type EncryptedConn } from '../../src/gateway/encrypted.js'
import type { AuthKeyRecord, InboundMessage, SessionService } from '../../src/session/api.js'
import { ManualClock } from '../../src/util/clock.js'
import { createLogger } from '../../src/util/log.js'

class FakeConn implements EncryptedConn {
  sent: Buffer[] = []
  quickAcks: number[] = []
  errors: number[] = []
  closed: string | undefined
  readonly info = { transport: 'tcp' as const }
  constructor(
    readonly id: string,
    readonly remoteAddress = '127.0.0.1:4000',
  ) {}
  send(p: Buffer): void {
    this.sent.push(p)
  }
  sendQuickAck(t: number): void {
    this.quickAcks.push(t)
  }
  sendTransportError(c: number): void {
    this.errors.push(c)
  }
  close(reason: string): void {
    this.closed = reason
  }
}

class FakeSessions implements SessionService {
  got: InboundMessage[] = []
  closedConns: string[] = []
  queries = 0
  gate: Promise<void> = Promise.resolve()
  constructor(private readonly keys: Map<bigint, Buffer>) {}
  async queryAuthKey(id: bigint): Promise<AuthKeyRecord | undefined> {
    this.queries++
    await this.gate
    const key = this.keys.get(id)
    return key === undefined ? undefined : { id, key, type: 0, createdAt: 0 }
  }
  sendData(msg: InboundMessage): void {
    this.got.push(msg)
  }
  closeConnection(connId: string): void {
    this.closedConns.push(connId)
  }
}

function setup(opts: { cacheSize?: number; cacheTtlMs?: number } = {}) {
  const key = new AuthKey(randomBytes(256))
  const sessions = new FakeSessions(new Map([[key.id, key.key]]))
  const clock = new ManualClock(1_700_000_000_000)
  const path = new EncryptedPath({ gatewayId: 'gw1', clock, log: createLogger('test'), ...opts })
  path.attach(sessions)
  return { key, sessions, path, clock }
}

function clientPacket(key: AuthKey, msgId: bigint, body: Buffer, salt = 0x0102030405060708n, sessionId = 99n, seqNo = 1): Buffer {
  const plain = Buffer.alloc(32 + body.length)
  plain.writeBigInt64LE(salt, 0)
  plain.writeBigInt64LE(sessionId, 8)
  plain.writeBigInt64LE(msgId, 16)
  plain.writeInt32LE(seqNo, 24)
  plain.writeInt32LE(body.length, 28)
  body.copy(plain, 32)
  return encryptMessage(key, plain, 'client')
}

const flush = () => new Promise<void>((r) => setImmediate(r))

test('decrypts, hands every field to the session layer, and caches the key', async () => {
  const { key, sessions, path } = setup()
  const conn = new FakeConn('c1')
  const body = Buffer.from('0123456789abcdef')
  path.onPacket(conn, clientPacket(key, 0x6000000000000004n, body), false, 2)
  await flush()
  path.onPacket(conn, clientPacket(key, 0x6000000000000008n, body, 5n, 6n, 3), false, 2)
  assert.equal(sessions.got.length, 2)
  const [a, b] = sessions.got
  assert.equal(a!.authKeyId, key.id)
  assert.equal(a!.salt, 0x0102030405060708n)
  assert.equal(a!.sessionId, 99n)
  assert.equal(a!.msgId, 0x6000000000000004n)
  assert.equal(a!.seqNo, 1)
  assert.deepEqual(a!.body, body)
  assert.equal(a!.connId, 'c1')
  assert.equal(a!.gatewayId, 'gw1')
  assert.equal(a!.clientAddr, '127.0.0.1:4000')
  assert.equal(a!.receivedAt, 1_700_000_000_000)
  assert.equal(b!.salt, 5n)
  assert.equal(b!.seqNo, 3)
  assert.equal(sessions.queries, 1, 'second packet served from the cache')
  // another connection with the same key: no store query either
  path.onPacket(new FakeConn('c2'), clientPacket(key, 0x600000000000000cn, body), false, 2)
  assert.equal(sessions.queries, 1)
  assert.equal(sessions.got.length, 3)
})

test('packets arriving during the key lookup are processed in order afterwards', async () => {
  const { key, sessions, path } = setup()
  let release!: () => void
  sessions.gate = new Promise((r) => (release = r))
  const conn = new FakeConn('c1')
  for (let i = 1; i <= 5; i++) path.onPacket(conn, clientPacket(key, BigInt(i * 4), Buffer.alloc(4)), false, 2)
  await flush()
  assert.equal(sessions.got.length, 0)
  release()
  await flush()
  assert.deepEqual(sessions.got.map((m) => m.msgId), [4n, 8n, 12n, 16n, 20n])
  assert.equal(sessions.queries, 1)
})

test('quick ack requested → token from msg_key_large through the connection', async () => {
  const { key, path } = setup()
  const conn = new FakeConn('c1')
  const packet = clientPacket(key, 4n, Buffer.alloc(8))
  const expected = quickAckToken(decryptMessage(key, packet, 'client').msgKeyLarge)
  path.onPacket(conn, packet, true, 2)
  await flush()
  assert.deepEqual(conn.quickAcks, [expected])
  assert.ok(expected >= 0x80000000)
})

test('unknown auth_key_id → -404 and close; the session layer hears the close', async () => {
  const { path, sessions } = setup()
  const other = new AuthKey(randomBytes(256))
  const conn = new FakeConn('c9')
  path.onPacket(conn, clientPacket(other, 4n, Buffer.alloc(4)), false, 2)
  path.onPacket(conn, clientPacket(other, 8n, Buffer.alloc(4)), false, 2)
  await flush()
  assert.deepEqual(conn.errors, [-404])
  assert.equal(conn.closed, 'unknown auth key')
  assert.deepEqual(sessions.closedConns, ['c9'])
  assert.equal(sessions.got.length, 0)
  assert.equal(path.stats.unknownKey, 1)
  assert.equal(path.connections, 0)
})

test('tampered packet, short packet, bad length: discarded and the connection closed, no -404', async () => {
  const { key, path, sessions } = setup()
  const good = clientPacket(key, 4n, Buffer.alloc(16))
  const tampered = Buffer.from(good)
  tampered[40] ^= 1
  const c1 = new FakeConn('t1')
  path.onPacket(c1, tampered, false, 2)
  await flush()
  assert.equal(c1.closed, 'decrypt failed')
  assert.deepEqual(c1.errors, [])
  const c2 = new FakeConn('t2')
  path.onPacket(c2, Buffer.from([1, 2, 3]), false, 2)
  assert.equal(c2.closed, 'short packet')
  const c3 = new FakeConn('t3')
  path.onPacket(c3, good.subarray(0, good.length - 16), false, 2)
  await flush()
  assert.equal(c3.closed, 'decrypt failed')
  assert.equal(sessions.got.length, 0)
  assert.equal(path.stats.decryptFailed, 2)
})

test('GatewayLink.send encrypts with the server direction; the client decrypts it', async () => {
  const { key, path } = setup()
  const conn = new FakeConn('c1')
  path.onPacket(conn, clientPacket(key, 4n, Buffer.alloc(4)), false, 2)
  await flush()
  const body = randomBytes(100 * 4)
  path.send('c1', { authKeyId: key.id, salt: 7n, sessionId: 99n, msgId: 0x6000000000000001n, seqNo: 1, body })
  assert.equal(conn.sent.length, 1)
  const { plaintext } = decryptMessage(key, conn.sent[0]!, 'server')
  assert.equal(plaintext.readBigInt64LE(0), 7n)
  assert.equal(plaintext.readBigInt64LE(8), 99n)
  assert.equal(plaintext.readBigInt64LE(16), 0x6000000000000001n)
  assert.equal(plaintext.readInt32LE(24), 1)
  assert.deepEqual(plaintext.subarray(32), body)
  // unknown connection or key: dropped, no throw
  path.send('nope', { authKeyId: key.id, salt: 0n, sessionId: 0n, msgId: 1n, seqNo: 0, body })
  path.send('c1', { authKeyId: 5n, salt: 0n, sessionId: 0n, msgId: 1n, seqNo: 0, body })
  assert.equal(conn.sent.length, 1)
})

test('closeConnection from the session layer closes; connectionClosed forgets the connection', async () => {
  const { key, path, sessions } = setup()
  const conn = new FakeConn('c1')
  path.onPacket(conn, clientPacket(key, 4n, Buffer.alloc(4)), false, 2)
  await flush()
  path.closeConnection('c1', 'ping_delay_disconnect')
  assert.equal(conn.closed, 'ping_delay_disconnect')
  assert.deepEqual(sessions.closedConns, ['c1'])
  path.onPacket(conn, clientPacket(key, 8n, Buffer.alloc(4)), false, 2)
  const c2 = new FakeConn('c2')
  path.onPacket(c2, clientPacket(key, 12n, Buffer.alloc(4)), false, 2)
  path.connectionClosed('c2')
  path.connectionClosed('c2')
  assert.deepEqual(sessions.closedConns, ['c1', 'c2'])
})

test('LRU cache evicts; a connection keeps its own key', async () => {
  const { key, path, sessions } = setup({ cacheSize: 1 })
  const k2 = new AuthKey(randomBytes(256))
  ;(sessions as unknown as { keys: Map<bigint, Buffer> }).keys.set(k2.id, k2.key)
  const c1 = new FakeConn('c1')
  path.onPacket(c1, clientPacket(key, 4n, Buffer.alloc(4)), false, 2)
  await flush()
  path.onPacket(new FakeConn('c2'), clientPacket(k2, 4n, Buffer.alloc(4)), false, 2)
  await flush()
  assert.equal(sessions.queries, 2)
  path.onPacket(c1, clientPacket(key, 8n, Buffer.alloc(4)), false, 2) // c1 keeps key 1
  assert.equal(sessions.queries, 2)
  path.onPacket(new FakeConn('c3'), clientPacket(key, 4n, Buffer.alloc(4)), false, 2) // evicted from the LRU
  await flush()
  assert.equal(sessions.queries, 3)
  assert.equal(sessions.got.length, 4)
})

test('cache entries expire after cacheTtlMs: new connections look the key up again; live ones keep it', async () => {
  const { key, path, sessions, clock } = setup({ cacheTtlMs: 1000 })
  const c1 = new FakeConn('c1')
  path.onPacket(c1, clientPacket(key, 4n, Buffer.alloc(4)), false, 2)
  await flush()
  assert.equal(sessions.queries, 1)
  clock.advance(500)
  path.onPacket(new FakeConn('c2'), clientPacket(key, 8n, Buffer.alloc(4)), false, 2)
  assert.equal(sessions.queries, 1, 'still fresh')
  clock.advance(1001)
  ;(sessions as unknown as { keys: Map<bigint, Buffer> }).keys.delete(key.id) // destroyed meanwhile
  const c3 = new FakeConn('c3')
  path.onPacket(c3, clientPacket(key, 12n, Buffer.alloc(4)), false, 2)
  await flush()
  assert.equal(sessions.queries, 2)
  assert.deepEqual(c3.errors, [-404])
  path.onPacket(c1, clientPacket(key, 16n, Buffer.alloc(4)), false, 2) // the live connection keeps its key
  assert.equal(sessions.got.length, 3)
})

test('warm(): a key created by the handshake is served without a lookup', async () => {
  const { path, sessions } = setup()
  const fresh = new AuthKey(randomBytes(256))
  path.warm({ id: fresh.id, key: fresh.key })
  path.onPacket(new FakeConn('w1'), clientPacket(fresh, 4n, Buffer.alloc(4)), false, 2)
  assert.equal(sessions.queries, 0)
  assert.equal(sessions.got.length, 1)
})

test('one connection may use two keys (e.g. a new key after a handshake on it); answers go out with the right one', async () => {
  const { key, path, sessions } = setup()
  const k2 = new AuthKey(randomBytes(256))
  ;(sessions as unknown as { keys: Map<bigint, Buffer> }).keys.set(k2.id, k2.key)
  const c = new FakeConn('two')
  path.onPacket(c, clientPacket(key, 4n, Buffer.alloc(4)), false, 2)
  await flush()
  path.onPacket(c, clientPacket(k2, 4n, Buffer.alloc(4)), false, 2)
  await flush()
  path.onPacket(c, clientPacket(key, 8n, Buffer.alloc(4)), false, 2)
  path.onPacket(c, clientPacket(k2, 8n, Buffer.alloc(4)), false, 2)
  assert.deepEqual(sessions.got.map((m) => m.authKeyId), [key.id, k2.id, key.id, k2.id])
  const body = Buffer.alloc(8)
  path.send('two', { authKeyId: k2.id, salt: 1n, sessionId: 2n, msgId: 5n, seqNo: 1, body })
  path.send('two', { authKeyId: key.id, salt: 1n, sessionId: 2n, msgId: 9n, seqNo: 1, body })
  assert.equal(decryptMessage(k2, c.sent[0]!, 'server').plaintext.readBigInt64LE(16), 5n)
  assert.equal(decryptMessage(key, c.sent[1]!, 'server').plaintext.readBigInt64LE(16), 9n)
})
