/**
 * `mtgate decode` on a pcapng of mtcute's first connection (obfuscated2 intermediate) recorded by a
 * relay: the key exchange's unencrypted objects, then its help.getConfig and the config answering it.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AuthKey } from '../../../src/crypto/message.js'
import { startE2eServer, type E2eServer } from '../../e2e/harness.js'
import { mtcuteAuthKey, mtcuteClient } from '../../helpers/mtcute.js'
import type { Relay } from '../../helpers/relay.js'
import { writeCapture } from './pcap-writer.js'
import { startRecordingRelay } from './recorder.js'

const MAIN = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url))

type Rec = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

describe('mtgate decode on a key exchange (mtcute)', () => {
  let e: E2eServer
  let relay: Relay
  let dir: string
  let key: AuthKey
  let pcap: string

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mtgate-decode-hs-'))
    e = await startE2eServer({ host: '127.0.77.63', tcpPort: 0 })
    const rec = await startRecordingRelay(e.host, { host: e.host, port: e.tcpPort! })
    relay = rec.relay
    const tg = await mtcuteClient({ host: relay.host, port: relay.port, pem: e.publicPem, transport: 'obfuscated' })
    try {
      const cfg = await tg.call({ _: 'help.getConfig' })
      assert.equal(cfg._, 'config')
      key = new AuthKey((await mtcuteAuthKey(tg))!)
    } finally {
      await tg.destroy()
    }
    pcap = join(dir, 'mtcute.pcapng')
    writeFileSync(pcap, writeCapture(rec.segments, { format: 'pcapng', link: 'sll', ipv6: true }))
  })

  after(async () => {
    await relay?.close()
    await e?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('the handshake objects in order, then the encrypted query and its config', () => {
    const r = spawnSync(process.execPath, [MAIN, 'decode', '--key', key.key.toString('hex'), pcap], { encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Rec)
    for (const l of lines) assert.deepEqual([l.transport, l.obfuscated, l.error], ['intermediate', true, undefined], JSON.stringify(l))
    const plain = lines.filter((l) => l.auth_key_id === '0')
    assert.deepEqual(
      plain.map((l) => `${l.from} ${l.body._}`),
      ['client req_pq_multi', 'server resPQ', 'client req_DH_params', 'server server_DH_params_ok', 'client set_client_DH_params', 'server dh_gen_ok'],
    )
    assert.equal(plain[1]!.body.nonce, plain[0]!.body.nonce)
    assert.match(plain[1]!.body.server_public_key_fingerprints[0], /^-?\d+$/)
    const encrypted = lines.filter((l) => l.auth_key_id !== '0' && l.quick_ack_token === undefined)
    assert.ok(encrypted.length >= 2)
    for (const l of encrypted) assert.equal(l.auth_key_id, key.id.toString())
    const bodies = (from: string) =>
      encrypted.filter((l) => l.from === from).flatMap((l) => (l.body._ === 'msg_container' ? l.body.messages.map((m: Rec) => ({ msg_id: m.msg_id, body: m.body })) : [{ msg_id: l.msg_id, body: l.body }]))
    const query = bodies('client').find((m) => m.body._ === 'invokeWithLayer')
    assert.ok(query, 'the client wraps its first query in invokeWithLayer')
    let inner = query.body.query
    while (inner.query !== undefined) inner = inner.query
    assert.equal(inner._, 'help.getConfig')
    const result = bodies('server').find((m) => m.body._ === 'rpc_result' && m.body.req_msg_id === query.msg_id)
    assert.ok(result)
    const config = result.body.result._ === 'gzip_packed' ? result.body.result.body : result.body.result
    assert.equal(config._, 'config')
  })
})
