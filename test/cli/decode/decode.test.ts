/**
 * `mtgate decode` on a connection recorded by a relay between a real server and the raw client
 * (obfuscated2 around padded intermediate, quick acks requested): the raw files, a pcap built from
 * the same bytes, and the key from the command line, a file or a data directory's store.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AuthKey } from '../../../src/crypto/message.js'
import { SqliteAuthKeyStore } from '../../../src/store/sqlite.js'
import { startE2eServer, type E2eServer } from '../../e2e/harness.js'
import { isRpcError, RawClient, withInitConnection } from '../../e2e/raw-client.js'
import type { Relay } from '../../helpers/relay.js'
import { writeCapture, type CapturedSegment } from './pcap-writer.js'
import { CAPTURE_START, startRecordingRelay } from './recorder.js'

const MAIN = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url))

type Rec = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

/** The messages of a record: the message itself, or each message of its container. */
function messages(r: Rec): { msg_id: string; body: Rec }[] {
  if (r.body === undefined) return []
  if (r.body._ === 'msg_container') return r.body.messages as { msg_id: string; body: Rec }[]
  return [{ msg_id: r.msg_id as string, body: r.body as Rec }]
}

function decodeCli(...args: string[]): { lines: Rec[]; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, [MAIN, 'decode', ...args], { encoding: 'utf8', env: { ...process.env, MTGATE_LOG_LEVEL: 'silent' } })
  return { lines: r.stdout.trimEnd().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Rec), stderr: r.stderr, status: r.status }
}

describe('mtgate decode on a recorded connection', () => {
  let e: E2eServer
  let relay: Relay
  let dir: string
  const key = new AuthKey(randomBytes(256))
  let segments: CapturedSegment[]
  let sessionId: bigint
  const files = { client: '', server: '', pcap: '', keyHex: '', dataDir: '' }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mtgate-decode-'))
    e = await startE2eServer({ host: '127.0.77.62', tcpPort: 0 })
    await e.server.store.put({ id: key.id, key: key.key, type: 0, createdAt: Math.floor(Date.now() / 1000) })
    const rec = await startRecordingRelay(e.host, { host: e.host, port: e.tcpPort! })
    relay = rec.relay
    segments = rec.segments
    const c = await RawClient.connect({ host: relay.host, port: relay.port, key, codec: 'padded', obfuscatedDc: 2, quickAck: true })
    sessionId = c.sessionId
    const cfg = await c.invoke(withInitConnection(222, 4, { _: 'help.getConfig' }))
    assert.ok(!isRpcError(cfg) && !Buffer.isBuffer(cfg) && cfg._ === 'config')
    await c.ping()
    c.close()

    files.client = join(dir, 'client.bin')
    files.server = join(dir, 'server.bin')
    files.pcap = join(dir, 'conn.pcap')
    files.keyHex = join(dir, 'key.hex')
    writeFileSync(files.client, rec.sent('client'))
    writeFileSync(files.server, rec.sent('server'))
    writeFileSync(files.pcap, writeCapture(segments, { client: { ip: '127.0.77.62', port: 41000 }, server: { ip: '127.0.77.62', port: e.tcpPort! } }))
    writeFileSync(files.keyHex, key.key.toString('hex') + '\n')
    files.dataDir = join(dir, 'data')
    const store = new SqliteAuthKeyStore({ path: join(files.dataDir, 'mtgate.sqlite'), writer: 'inline' })
    await store.put({ id: key.id, key: key.key, type: 0, createdAt: 1 })
    await store.close()
  })

  after(async () => {
    await relay?.close()
    await e?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('raw files: the transport, quick acks, msg ids, the query and its config, the ping and its pong', () => {
    const { lines, stderr, status } = decodeCli('--key', key.key.toString('hex'), '--server', files.server, files.client)
    assert.equal(status, 0, stderr)
    assert.equal(stderr, '')
    for (const r of lines) assert.deepEqual([r.transport, r.obfuscated, r.error], ['padded', true, undefined], JSON.stringify(r))
    const sent = lines.filter((r) => r.from === 'client')
    const got = lines.filter((r) => r.from === 'server')
    assert.ok(sent.length >= 3 && got.length >= 3)
    for (const r of sent) {
      assert.equal(r.quick_ack, true)
      assert.equal(r.auth_key_id, key.id.toString())
      assert.equal(r.session_id, sessionId.toString())
      assert.match(r.msg_key, /^[0-9a-f]{32}$/)
    }
    assert.ok(got.some((r) => /^0x[89a-f][0-9a-f]{7}$/.test(r.quick_ack_token ?? '')), 'the server quick-acked')
    const clientIds = sent.flatMap((r) => [r.msg_id, ...messages(r).map((m) => m.msg_id)])
    for (const id of clientIds) assert.ok(/^\d+$/.test(id) && BigInt(id) % 4n === 0n, `client msg_id ${id}`)
    const serverIds = got.filter((r) => r.msg_id !== undefined).map((r) => BigInt(r.msg_id))
    for (const id of serverIds) assert.ok(id % 4n === 1n || id % 4n === 3n, `server msg_id ${id}`)

    const queries = sent.flatMap(messages).filter((m) => m.body._ === 'invokeWithLayer')
    assert.ok(queries.length >= 1)
    for (const q of queries) {
      assert.equal(q.body.layer, 222)
      assert.equal(q.body.query._, 'initConnection')
      assert.equal(q.body.query.api_id, 4)
      assert.deepEqual(q.body.query.query, { _: 'help.getConfig' })
    }
    const results = got.flatMap(messages).filter((m) => m.body._ === 'rpc_result')
    const answer = results.find((m) => queries.some((q) => q.msg_id === m.body.req_msg_id))
    assert.ok(answer, 'an rpc_result answers the query')
    const config = answer.body.result._ === 'gzip_packed' ? answer.body.result.body : answer.body.result
    assert.equal(config._, 'config')
    assert.ok(Array.isArray(config.dc_options) && config.dc_options.length > 0)
    assert.equal(typeof config.date, 'number')

    const ping = sent.flatMap(messages).find((m) => m.body._ === 'ping')
    assert.ok(ping)
    assert.match(ping.body.ping_id, /^-?\d+$/)
    const pong = got.flatMap(messages).find((m) => m.body._ === 'pong')
    assert.deepEqual(pong?.body, { _: 'pong', msg_id: ping.msg_id, ping_id: ping.body.ping_id })
    assert.ok(got.flatMap(messages).some((m) => m.body._ === 'new_session_created'))
  })

  it('a pcap of the same connection: the same records, in time order; the key from a file or the data dir', () => {
    const raw = decodeCli('--key-file', files.keyHex, '--server', files.server, files.client)
    const pcap = decodeCli('--key-file', files.keyHex, files.pcap)
    assert.equal(pcap.status, 0, pcap.stderr)
    assert.equal(pcap.stderr, `mtgate decode: connection 127.0.77.62:41000 -> 127.0.77.62:${e.tcpPort}\n`)
    const times = pcap.lines.map((r) => r.time as number)
    assert.deepEqual(times, [...times].sort((a, b) => a - b))
    assert.ok(times[0]! > CAPTURE_START)
    const strip = (rs: Rec[]) => rs.map(({ time: _t, ...r }) => JSON.stringify(r)).sort()
    assert.deepEqual(strip(pcap.lines), strip(raw.lines))
    assert.ok(pcap.lines.findIndex((r) => r.from === 'server') < pcap.lines.map((r) => r.from).lastIndexOf('client'), 'directions interleave')

    const store = decodeCli('--data-dir', files.dataDir, files.pcap)
    assert.equal(store.status, 0, store.stderr)
    assert.deepEqual(store.lines, pcap.lines)
  })

  it('another key: headers only, with the reason; usage and file errors exit non-zero', () => {
    const other = decodeCli('--key', randomBytes(256).toString('hex'), files.client)
    assert.equal(other.status, 0)
    for (const r of other.lines) {
      assert.equal(r.error, 'no key for this auth_key_id')
      assert.equal(r.auth_key_id, key.id.toString())
      assert.equal(r.body, undefined)
    }
    const none = decodeCli(files.client)
    assert.equal(none.status, 2)
    assert.match(none.stderr, /decode needs one of --key, --key-file, --data-dir/)
    const missing = decodeCli('--key-file', files.keyHex, join(dir, 'nope.bin'))
    assert.equal(missing.status, 1)
    assert.match(missing.stderr, /nope\.bin/)
    const empty = decodeCli('--data-dir', join(dir, 'empty'), files.client)
    assert.equal(empty.status, 1)
    assert.match(empty.stderr, /no SQLite store at/)
  })
})
