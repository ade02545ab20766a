import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseConfig } from '../../src/config/index.js'
import { AuthKey } from '../../src/crypto/message.js'
import { MtgateServer } from '../../src/server/server.js'
import { MemoryAuthKeyStore } from '../../src/store/memory.js'
import { AuthKeyType } from '../../src/store/types.js'
import { ManualClock } from '../../src/util/clock.js'
import { encode } from '../../src/tl/index.js'
import { RawClient } from '../e2e/raw-client.js'

describe('MtgateServer', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mtgate-server-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  const start = async (extra: Record<string, unknown> = {}) => {
    const config = parseConfig({ host: '127.0.0.1', tcp_ports: [0, 0], ws_port: 0, data_dir: dir, store: { backend: 'sqlite' }, ...extra }, {})
    return MtgateServer.start(config, { inlineHandshakeCrypto: true })
  }
  const addKey = async (s: MtgateServer) => {
    const key = new AuthKey(randomBytes(256))
    await s.store.put({ id: key.id, key: key.key, type: 0, createdAt: Math.floor(Date.now() / 1000) })
    return key
  }

  it('starts: creates the RSA key (private key mode 0600), binds every listener, builds the configured store', async () => {
    const s = await start()
    try {
      assert.equal(s.addresses.filter((a) => a.kind === 'tcp').length, 2)
      assert.equal(s.addresses.filter((a) => a.kind === 'ws').length, 1)
      for (const a of s.addresses) assert.ok(a.port > 0)
      const keys = s.rsaKeyInfo()
      assert.equal(keys.length, 1)
      assert.match(keys[0]!.fingerprint, /^[0-9a-f]{16}$/)
      assert.equal(statSync(join(dir, 'rsa', keys[0]!.fingerprint + '.key')).mode & 0o777, 0o600)
      assert.ok(statSync(keys[0]!.publicKeyPath).isFile())
      assert.match(s.storeDescription, /sqlite/)
      assert.match(s.igeBackend, /native|portable/)
    } finally {
      await s.stop()
    }
    // a restart reuses the key
    const again = await start()
    try {
      assert.equal(again.rsaKeyInfo().length, 1)
    } finally {
      await again.stop()
    }
  })

  it('a port already in use fails start() cleanly (listeners and store closed)', async () => {
    const s = await start()
    try {
      const busy = s.addresses[0]!.port
      await assert.rejects(start({ tcp_ports: [busy], ws_port: null }), /EADDRINUSE/)
    } finally {
      await s.stop()
    }
  })

  it('stop() drains: an RPC in flight is answered before the connections close; new connections are refused', async () => {
    const s = await start()
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    s.handle('help.getNearestDc', async () => {
      await gate
      return { _: 'nearestDc', country: 'ZZ', this_dc: 2, nearest_dc: 2 }
    })
    const c = await RawClient.connect({ host: '127.0.0.1', port: s.addresses[0]!.port, key: await addKey(s) })
    await c.ping()
    const pending = c.invoke({ _: 'help.getNearestDc' })
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(s.router.inFlight, 1)
    const stopping = s.stop()
    setTimeout(release, 100)
    const r = await pending
    assert.ok(!Buffer.isBuffer(r) && r._ === 'nearestDc')
    await stopping
    assert.equal(s.connectionCount, 0)
    await new Promise<void>((resolve) => {
      const sock = createConnection({ host: '127.0.0.1', port: s.addresses[0]!.port })
      sock.on('error', () => resolve()) // ECONNREFUSED: the listener is gone
      sock.on('close', () => resolve())
    })
    c.close()
  })

  it('drain gives up after drain_timeout_ms', async () => {
    const s = await start({ limits: { drain_timeout_ms: 100 } })
    s.handle('help.getNearestDc', () => new Promise(() => undefined)) // never answers
    const c = await RawClient.connect({ host: '127.0.0.1', port: s.addresses[0]!.port, key: await addKey(s) })
    await c.ping()
    const outcome = c.invoke({ _: 'help.getNearestDc' }).then(
      () => 'answered',
      () => 'connection closed',
    )
    await new Promise((r) => setTimeout(r, 50))
    const t0 = Date.now()
    await s.stop()
    assert.ok(Date.now() - t0 < 2000, 'stop() did not wait for the handler that never answers')
    assert.equal(await outcome, 'connection closed')
  })

  it('removes expired temporary auth keys every limits.expire_temp_interval_seconds (injected clock), not after stop()', async () => {
    const clock = new ManualClock(1_700_000_000_000)
    const sweeps: number[] = []
    class SpyStore extends MemoryAuthKeyStore {
      override async expireTemp(now: number): Promise<number> {
        sweeps.push(now)
        return super.expireTemp(now)
      }
    }
    const store = new SpyStore(clock)
    const nowSec = Math.floor(clock.now() / 1000)
    const temp = new AuthKey(randomBytes(256))
    const perm = new AuthKey(randomBytes(256))
    const fresh = new AuthKey(randomBytes(256))
    await store.put({ id: temp.id, key: temp.key, type: AuthKeyType.temp, createdAt: nowSec - 100, expiresAt: nowSec - 10 })
    await store.put({ id: fresh.id, key: fresh.key, type: AuthKeyType.temp, createdAt: nowSec, expiresAt: nowSec + 3600 })
    await store.put({ id: perm.id, key: perm.key, type: AuthKeyType.perm, createdAt: nowSec - 100 })
    const config = parseConfig({ host: '127.0.0.1', tcp_ports: [0], ws_port: null, data_dir: dir, limits: { expire_temp_interval_seconds: 1 } }, {})
    assert.equal(parseConfig({ data_dir: dir }, {}).limits.expireTempIntervalSeconds, 60, 'default: every minute')
    const s = await MtgateServer.start(config, { inlineHandshakeCrypto: true, store, clock })
    try {
      const t0 = Date.now()
      while (sweeps.length === 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50))
      assert.ok(sweeps.length >= 1, 'expireTemp was called')
      assert.equal(sweeps[0], nowSec, "with the injected clock's now")
      // A destroyed id is remembered: putting the expired key again is refused, the others are still there.
      assert.equal(await store.put({ id: temp.id, key: temp.key, type: AuthKeyType.temp, createdAt: nowSec - 100, expiresAt: nowSec + 10 }), 'exists')
      assert.ok(await store.get(fresh.id))
      assert.ok(await store.get(perm.id))
    } finally {
      await s.stop()
    }
    const after = sweeps.length
    await new Promise((r) => setTimeout(r, 1300))
    assert.equal(sweeps.length, after, 'no sweep after stop()')
  })

  it('push by auth key and by the user id a handler bound through ctx.userId', async () => {
    const s = await start()
    try {
      s.handle('help.getNearestDc', (_req, ctx) => {
        ctx.userId = 777n
        return { _: 'nearestDc', country: 'ZZ', this_dc: 2, nearest_dc: 2 }
      })
      const key = await addKey(s)
      const c = await RawClient.connect({ host: '127.0.0.1', port: s.addresses[0]!.port, key })
      await c.invoke({ _: 'help.getNearestDc' })
      const update = { _: 'updateShort' as const, update: { _: 'updateConfig' as const }, date: 1 }
      assert.equal(s.push({ authKeyId: key.id }, update), 1)
      assert.equal(s.push({ userId: 777n }, encode(update)), 1)
      assert.equal(s.push({ userId: 778n }, update), 0)
      const t0 = Date.now()
      while (c.log.pushes.length < 2 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10))
      assert.equal(c.log.pushes.length, 2)
      for (const p of c.log.pushes) assert.deepEqual(p, encode(update))
      c.close()
    } finally {
      await s.stop()
    }
  })
})
