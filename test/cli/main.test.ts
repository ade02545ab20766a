import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs, UsageError } from '../../src/cli/args.js'

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

describe('argument parsing', () => {
  it('commands and options', () => {
    assert.deepEqual(parseArgs([]), { command: 'help', bits: 2048 })
    assert.deepEqual(parseArgs(['serve', '--config', 'a.yaml']), { command: 'serve', config: 'a.yaml', bits: 2048 })
    assert.deepEqual(parseArgs(['serve', '--config=b.yaml']), { command: 'serve', config: 'b.yaml', bits: 2048 })
    assert.deepEqual(parseArgs(['keygen', '--bits', '4096']), { command: 'keygen', bits: 4096 })
    assert.deepEqual(parseArgs(['keys', '-c', 'x']), { command: 'keys', config: 'x', bits: 2048 })
    assert.deepEqual(parseArgs(['serve'], { MTGATE_CONFIG: '/etc/mtgate.yaml' }), { command: 'serve', config: '/etc/mtgate.yaml', bits: 2048 })
    assert.equal(parseArgs(['serve', '--help']).command, 'help')
  })
  it('bad input is a UsageError', () => {
    for (const argv of [['start'], ['serve', '--port', '1'], ['serve', '--config'], ['keygen', '--bits', '12'], ['keygen', '--bits', 'x']]) {
      assert.throws(() => parseArgs(argv), UsageError, argv.join(' '))
    }
  })
})

describe('mtgate command', () => {
  let dir: string
  let config: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mtgate-cli-'))
    config = join(dir, 'mtgate.yaml')
    writeFileSync(config, ['host: 127.0.0.1', 'tcp_ports: [0]', 'ws_port: 0', `data_dir: ${join(dir, 'data')}`, 'store: { backend: memory }'].join('\n'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  const run = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...process.env, MTGATE_LOG_LEVEL: 'silent' } })

  it('help, unknown command (exit 2), bad config (exit 2 naming the key)', () => {
    const h = run('help')
    assert.equal(h.status, 0)
    assert.match(h.stdout, /usage: mtgate/)
    const u = run('frobnicate')
    assert.equal(u.status, 2)
    assert.match(u.stderr, /unknown command: frobnicate/)
    const bad = join(dir, 'bad.yaml')
    writeFileSync(bad, 'tcp_ports: [99999]\n')
    const b = run('serve', '--config', bad)
    assert.equal(b.status, 2)
    assert.match(b.stderr, /tcp_ports\[0\]/)
  })

  it('keygen adds a key, keys lists them', () => {
    const k1 = run('keygen', '--config', config, '--bits', '1024')
    assert.equal(k1.status, 0, k1.stderr)
    assert.match(k1.stdout, /created RSA key [0-9a-f]{16}/)
    const list = run('keys', '--config', config)
    assert.equal(list.status, 0)
    const lines = list.stdout.trim().split('\n')
    assert.equal(lines.length, 1)
    assert.match(lines[0]!, /^[0-9a-f]{16}  offered  .*\.pub$/)
  })

  it('serve prints ports, fingerprint, public key path, store and IGE backend; SIGTERM drains and exits 0', async () => {
    const p = spawn(process.execPath, [MAIN, 'serve', '--config', config], { env: { ...process.env, MTGATE_LOG_LEVEL: 'silent' } })
    let out = ''
    p.stdout.on('data', (d: Buffer) => (out += d.toString()))
    const t0 = Date.now()
    while (!out.includes('aes-ige backend') && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 50))
    assert.match(out, /tcp {2}127\.0\.0\.1:\d+/)
    assert.match(out, /ws {3}ws:\/\/127\.0\.0\.1:\d+\/apiws/)
    assert.match(out, /rsa {2}fingerprint [0-9a-f]{16} {2}public key .*\.pub/)
    assert.match(out, /auth keys: memory/)
    assert.match(out, /aes-ige backend: (native|portable)/)
    const code = new Promise<number | null>((r) => p.once('exit', (c) => r(c)))
    p.kill('SIGTERM')
    assert.equal(await code, 0)
    assert.match(out, /SIGTERM: draining/)
    assert.match(out, /stopped/)
  })
})
