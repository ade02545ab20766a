/**
 * The per-key state end to end in `mtgate serve` with the SQLite store: a handler binds a user and
 * the client announces its layer; after a restart of the whole server the same key comes back with
 * the same user id (a push to the user reaches it) and layer. Also the session control calls on
 * MtgateServer.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseConfig } from '../../src/config/index.js'
import { AuthKey } from '../../src/crypto/message.js'
import { MtgateServer } from '../../src/server/server.js'
import { UnknownAuthKeyError } from '../../src/session/manager.js'
import { encode, type TlObject } from '../../src/tl/index.js'
import { RawClient } from '../e2e/raw-client.js'

describe('serve + SQLite: per-key state across a restart', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mtgate-state-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  const start = async (): Promise<MtgateServer> => {
    const config = parseConfig({ host: '127.0.0.1', tcp_ports: [0], ws_port: null, data_dir: dir, store: { backend: 'sqlite' } }, {})
    const s = await MtgateServer.start(config, { inlineHandshakeCrypto: true })
    s.handle('updates.getState', (_q, ctx) => {
      ctx.userId = 31337n
      return { _: 'updates.state', pts: 1, qts: 0, date: Math.floor(Date.now() / 1000), seq: 1, unread_count: 0 }
    })
    s.handle('help.getNearestDc', (_q, ctx) => ({ _: 'nearestDc', country: `${ctx.userId ?? 'none'}/${ctx.layer ?? 'none'}`, this_dc: 2, nearest_dc: 2 }))
    return s
  }
  const port = (s: MtgateServer): number => s.addresses.find((a) => a.kind === 'tcp')!.port

  it('the user id and layer a key had survive a server restart', async () => {
    const key = new AuthKey(randomBytes(256))
    let s = await start()
    try {
      await s.store.put({ id: key.id, key: key.key, type: 0, createdAt: Math.floor(Date.now() / 1000) })
      const c = await RawClient.connect({ host: '127.0.0.1', port: port(s), key })
      try {
        assert.equal(((await c.invoke({ _: 'invokeWithLayer', layer: 185, query: { _: 'updates.getState' } } as TlObject)) as TlObject)._, 'updates.state')
        assert.equal(s.sessions.userIdOf(key.id), 31337n)
      } finally {
        c.close()
      }
      // the save runs in the background: wait until it landed
      const t0 = Date.now()
      while ((await s.store.loadState(key.id))?.userId !== 31337n && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20))
    } finally {
      await s.stop()
    }
    s = await start()
    try {
      const c = await RawClient.connect({ host: '127.0.0.1', port: port(s), key })
      try {
        const r = (await c.invoke({ _: 'help.getNearestDc' })) as TlObject & { country: string }
        assert.equal(r.country, '31337/185', 'user id and layer from the store')
        assert.equal(s.push({ userId: 31337n }, encode({ _: 'updatesTooLong' })), 1)
        const t0 = Date.now()
        while (c.log.pushes.length === 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20))
        assert.equal(c.log.pushes.length, 1, 'the push to the user reached the client')
      } finally {
        c.close()
      }
    } finally {
      await s.stop()
    }
  })

  it('MtgateServer.createSession / closeSession', async () => {
    const s = await start()
    try {
      const key = new AuthKey(randomBytes(256))
      await s.store.put({ id: key.id, key: key.key, type: 0, createdAt: Math.floor(Date.now() / 1000) })
      assert.equal(await s.createSession(key.id, 1n), true)
      assert.equal(await s.createSession(key.id, 1n), false)
      assert.equal(s.sessions.sessionCount, 1)
      assert.equal(s.closeSession(key.id, 1n), true)
      assert.equal(s.closeSession(key.id, 1n), false)
      await assert.rejects(s.createSession(new AuthKey(randomBytes(256)).id, 1n), UnknownAuthKeyError)
    } finally {
      await s.stop()
    }
  })
})
