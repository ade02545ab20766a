/**
 * One deployment answers as every DC of dc_ids (default 1–5): help.getConfig lists each with the
 * server's addresses and says this_dc = the DC the connection came for — the one its obfuscated
 * header names (our raw client sends the header the way TDLib, mtcute and tgnet do), else the one
 * its key exchange named (mtcute over plain intermediate), else dc_id.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { AuthKey } from '../../src/crypto/message.js'
import type { TlObject } from '../../src/tl/index.js'
import { mtcuteClient, type MtcuteClient } from '../helpers/mtcute.js'
import { startE2eServer, type E2eServer } from './harness.js'
import { RawClient, withInitConnection } from './raw-client.js'

type Config = Extract<TlObject, { _: 'config' }>

describe('dc_ids: every served DC, this_dc per connection', () => {
  let e: E2eServer
  let key: AuthKey
  const clients: RawClient[] = []
  const tgs: MtcuteClient[] = []

  before(async () => {
    e = await startE2eServer({ host: '127.0.77.61', tcpPort: 0 })
    key = new AuthKey(randomBytes(256))
    await e.server.store.put({ id: key.id, key: key.key, type: 0, createdAt: Math.floor(Date.now() / 1000) })
  })
  after(async () => {
    for (const c of clients) c.close()
    for (const tg of tgs) await tg.destroy()
    await e?.close()
  })

  async function configVia(o: { obfuscatedDc?: number; codec?: 'abridged' | 'intermediate' | 'padded' }): Promise<Config> {
    const c = await RawClient.connect({ host: e.host, port: e.tcpPort!, key, ...o })
    clients.push(c)
    const cfg = await c.invoke(withInitConnection(222, 4, { _: 'help.getConfig' }))
    assert.ok(!Buffer.isBuffer(cfg) && cfg._ === 'config', JSON.stringify(cfg))
    return cfg as Config
  }

  it('dc_options list DCs 1–5 at the server address', async () => {
    const cfg = await configVia({})
    assert.deepEqual(
      cfg.dc_options.map((d) => `${d.id}@${d.ip_address}:${d.port}`),
      [1, 2, 3, 4, 5].map((dc) => `${dc}@${e.host}:${e.tcpPort}`),
    )
  })

  it('a connection naming no DC gets dc_id (2)', async () => {
    assert.equal((await configVia({})).this_dc, 2)
  })

  it('the obfuscated header names the DC: main (4), media (-5), test-mode form (10003)', async () => {
    assert.equal((await configVia({ obfuscatedDc: 4 })).this_dc, 4)
    assert.equal((await configVia({ obfuscatedDc: -5, codec: 'padded' })).this_dc, 5)
    assert.equal((await configVia({ obfuscatedDc: 10003, codec: 'abridged' })).this_dc, 3)
  })

  it('a header naming an unserved DC is random bytes to us (GramJS, Telethon, Pyrogram): dc_id', async () => {
    assert.equal((await configVia({ obfuscatedDc: 9 })).this_dc, 2)
  })

  it('mtcute at DC 3 over plain intermediate: the key exchange names DC 3, help.getConfig says 3', async () => {
    const tg = await mtcuteClient({ host: e.host, port: e.tcpPort!, pem: e.publicPem, dcId: 3 })
    tgs.push(tg)
    const cfg = await tg.call({ _: 'help.getConfig' })
    assert.equal(cfg.thisDc, 3)
    const near = await tg.call({ _: 'help.getNearestDc' })
    assert.equal(near.thisDc, 3)
  })
})
