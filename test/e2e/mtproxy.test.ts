/**
 * The README's `mtproxy` block as the whole server's configuration, and GramJS (npm `telegram`)
 * as an MTProxy client of it (ConnectionTCPMTProxyAbridged with the block's plain secret): its
 * connection is keyed by the secret and its help.getConfig answered.
 */
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { after, before, describe, it } from 'node:test'
import { parse } from 'yaml'
import { gramjs, gramjsClient, type GramClient, type GramObject } from '../helpers/gramjs.js'
import { readmeBlocks } from '../readme/blocks.js'
import { recordAccepted, startE2eServer, type E2eServer } from './harness.js'
import type { ConnectionInfo } from '../../src/transport/index.js'

const { Api } = gramjs()
const require = createRequire(import.meta.url)

/** The README's yaml block with the `mtproxy` key, parsed. */
function readmeMtproxy(): { secrets: string[]; plain_obfuscated?: boolean } {
  const blocks = readmeBlocks().filter((b) => b.lang === 'yaml' && /^mtproxy:/m.test(b.body))
  assert.equal(blocks.length, 1, 'README.md has one yaml block with mtproxy')
  return (parse(blocks[0]!.body) as { mtproxy: { secrets: string[]; plain_obfuscated?: boolean } }).mtproxy
}

describe("GramJS as an MTProxy client of a server configured with the README's mtproxy block", () => {
  const mtproxy = readmeMtproxy()
  const plain = mtproxy.secrets.find((s) => /^[0-9a-f]{32}$/.test(s))!
  let e: E2eServer
  let accepted: ConnectionInfo[]
  let client: GramClient

  before(async () => {
    assert.ok(plain, 'the README block has a plain secret')
    assert.equal(mtproxy.plain_obfuscated, false)
    e = await startE2eServer({ host: '127.0.77.61', tcpPort: 0, config: { mtproxy } })
    accepted = recordAccepted(e.server)
    const { ConnectionTCPMTProxyAbridged } = require('telegram/network/connection/TCPMTProxy.js') as Record<string, unknown>
    client = gramjsClient({
      host: e.host,
      key: e,
      transport: 'obfuscated',
      params: {
        connection: ConnectionTCPMTProxyAbridged,
        proxy: { ip: e.host, port: e.tcpPort, secret: plain, MTProxy: true },
        connectionRetries: 2,
        retryDelay: 200,
        autoReconnect: false,
      },
    })
  })
  after(async () => {
    await client?.destroy().catch(() => undefined)
    await e?.close()
  })

  it('help.getConfig is answered over a connection keyed by the secret', async () => {
    await client.connect()
    const config = await client.invoke<GramObject>(new Api.help.GetConfig())
    assert.equal(config.thisDc, 2)
    assert.ok(accepted.length > 0)
    const index = mtproxy.secrets.indexOf(plain)
    for (const c of accepted) assert.deepEqual([c.obfuscated, c.secretIndex, c.fakeTls, c.codec, c.dcId], [true, index, false, 'abridged', 2])
  })
})
