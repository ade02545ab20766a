import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs, UsageError } from '../../src/cli/args.js'
import { freePort, startEtcd, type EtcdInstance } from '../helpers/services.js'

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
    assert.deepEqual(parseArgs(['gateway', '-c', 'g.yaml']), { command: 'gateway', config: 'g.yaml', bits: 2048 })
    assert.deepEqual(parseArgs(['session', '-c', 's.yaml']), { command: 'session', config: 's.yaml', bits: 2048 })
    assert.deepEqual(parseArgs(['keys', 'retire', 'C3B42B026CE86B21', '-c', 'x']), {
      command: 'keys',
      config: 'x',
      bits: 2048,
      keyChange: { action: 'retire', fingerprint: 'c3b42b026ce86b21' },
    })
    assert.deepEqual(parseArgs(['keys', 'unretire', 'c3b42b026ce86b21']).keyChange, { action: 'unretire', fingerprint: 'c3b42b026ce86b21' })
    assert.deepEqual(parseArgs(['config', '--explain', '-c', 'x']), { command: 'config', config: 'x', bits: 2048, explain: true })
  })
  it('bad input is a UsageError', () => {
    const keys = [['keys', 'drop', 'c3b42b026ce86b21'], ['keys', 'retire'], ['keys', 'retire', 'c3b42b026ce86b2'], ['keys', 'retire', '--config', 'x'], ['keys', 'retire', 'c3b42b026ce86b21', 'more']]
    for (const argv of [['start'], ['serve', '--port', '1'], ['serve', '--config'], ['keygen', '--bits', '12'], ['keygen', '--bits', 'x'], ...keys]) {
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

  it('every config error on its own line, exit 2, no stack trace; a typo under store.mysql too', () => {
    const bad = join(dir, 'many.yaml')
    writeFileSync(bad, 'ws_port: 99999\nhots: x\nstore: { backend: mysql, mysql: { hots: db } }\nlog: { format: xml }\n')
    const b = run('serve', '--config', bad)
    assert.equal(b.status, 2)
    const lines = b.stderr.trimEnd().split('\n')
    assert.deepEqual(lines.map((l) => /^mtgate: config: (\S+): /.exec(l)?.[1]).sort(), ['hots', 'log.format', 'store.mysql.hots', 'ws_port'])
    const typo = join(dir, 'typo.yaml')
    writeFileSync(typo, 'store: { backend: mysql, mysql: { url: "mysql://u@127.0.0.1:9/x", pasword: p } }\n')
    const t = run('serve', '--config', typo)
    assert.equal(t.status, 2)
    assert.match(t.stderr, /^mtgate: config: store\.mysql\.pasword: unknown key/)
    assert.doesNotMatch(t.stderr, /\n\s+at /)
  })

  it('config --explain: the effective values and their sources', () => {
    const r = spawnSync(process.execPath, [MAIN, 'config', '--explain', '--config', config], {
      encoding: 'utf8',
      env: { ...process.env, MTGATE_LOG_LEVEL: 'silent', MTGATE_CACHE: 'none' },
    })
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /^host +127\.0\.0\.1 +\(file\)$/m)
    assert.match(r.stdout, /^store\.backend +memory +\(file\)$/m)
    assert.match(r.stdout, /^store\.cache +none +\(env MTGATE_CACHE\)$/m)
    assert.match(r.stdout, /^ws_path +\/apiws +\(default\)$/m)
    const plain = run('config', '--config', config)
    assert.equal(plain.status, 0)
    assert.match(plain.stdout, /^ws_path +\/apiws$/m)
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

  it('keys retire / unretire: the state keys lists; unknown, last offered and malformed fingerprints refused', () => {
    const own = join(dir, 'retire.yaml')
    writeFileSync(own, [`data_dir: ${join(dir, 'retire-data')}`, 'store: { backend: memory }'].join('\n'))
    const fps = [1, 2].map(() => /created RSA key ([0-9a-f]{16})/.exec(run('keygen', '--config', own, '--bits', '1024').stdout)![1]!)
    const states = () => Object.fromEntries(run('keys', '--config', own).stdout.trim().split('\n').map((l) => l.split('  ').slice(0, 2)))
    const [a, b] = fps as [string, string]
    const retired = run('keys', 'retire', a.toUpperCase(), '--config', own)
    assert.equal(retired.status, 0, retired.stderr)
    assert.match(retired.stdout, new RegExp(`^retired RSA key ${a}: no longer offered, still decrypts`))
    assert.deepEqual(states(), { [a]: 'retired', [b]: 'offered' })
    assert.equal(run('keys', 'retire', a, '--config', own).status, 0, 'retiring a retired key changes nothing')
    const last = run('keys', 'retire', b, '--config', own)
    assert.equal(last.status, 1)
    assert.match(last.stderr, new RegExp(`${b} is the only offered key; add another first \\(mtgate keygen\\)`))
    assert.deepEqual(states(), { [a]: 'retired', [b]: 'offered' })
    const back = run('keys', 'unretire', a, '--config', own)
    assert.equal(back.status, 0, back.stderr)
    assert.match(back.stdout, new RegExp(`RSA key ${a} is offered again`))
    assert.deepEqual(states(), { [a]: 'offered', [b]: 'offered' })
    const unknown = run('keys', 'retire', '1234567890abcdef', '--config', own)
    assert.equal(unknown.status, 1)
    assert.match(unknown.stderr, /no RSA key 1234567890abcdef in .*retire-data\/rsa/)
    const malformed = run('keys', 'retire', 'xyz', '--config', own)
    assert.equal(malformed.status, 2)
    assert.match(malformed.stderr, /keys retire needs a fingerprint/)
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

describe('mtgate session / gateway (real etcd)', () => {
  let dir: string
  let etcd: EtcdInstance
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mtgate-cli-cluster-'))
    etcd = await startEtcd()
  })
  after(async () => {
    await etcd?.destroy()
    rmSync(dir, { recursive: true, force: true })
  })

  const waitFor = async (p: ReturnType<typeof spawn>, text: string): Promise<string> => {
    let out = ''
    p.stdout!.on('data', (d: Buffer) => (out += d.toString()))
    const t0 = Date.now()
    while (!out.includes(text) && Date.now() - t0 < 30_000 && p.exitCode === null) await new Promise((r) => setTimeout(r, 50))
    return out
  }
  const stop = async (p: ReturnType<typeof spawn>): Promise<number | null> => {
    const code = new Promise<number | null>((r) => p.once('exit', (c) => r(c)))
    p.kill('SIGTERM')
    return code
  }

  it('a config without a cluster node id is refused with exit 2 naming the key', () => {
    const f = join(dir, 'plain.yaml')
    writeFileSync(f, 'store: { backend: memory }\n')
    const r = spawnSync(process.execPath, [MAIN, 'session', '--config', f], { encoding: 'utf8', env: { ...process.env, MTGATE_LOG_LEVEL: 'silent' } })
    assert.equal(r.status, 2)
    assert.match(r.stderr, /cluster/)
  })

  it('starts a session node and a gateway from YAML, both register and drain on SIGTERM', async () => {
    const data = join(dir, 'data')
    const common = ['host: 127.0.0.1', 'ws_port: null', `data_dir: ${data}`, `store: { backend: sqlite, sqlite_path: ${join(dir, 'keys.sqlite')} }`]
    const s1 = join(dir, 's1.yaml')
    writeFileSync(s1, [...common, 'tcp_ports: [0]', 'cluster:', '  node_id: s1', `  etcd: [${etcd.endpoint}]`, `  listen: 127.0.0.1:${await freePort()}`].join('\n'))
    const g1 = join(dir, 'g1.yaml')
    writeFileSync(g1, [...common, 'tcp_ports: [0]', 'cluster:', '  node_id: g1', `  etcd: [${etcd.endpoint}]`, `  listen: 127.0.0.1:${await freePort()}`].join('\n'))
    const env = { ...process.env, MTGATE_LOG_LEVEL: 'silent' }
    const session = spawn(process.execPath, [MAIN, 'session', '--config', s1], { env })
    const sOut = await waitFor(session, 'store')
    assert.match(sOut, /mtgate session node s1: grpc 127\.0\.0\.1:\d+, etcd http/)
    const gateway = spawn(process.execPath, [MAIN, 'gateway', '--config', g1], { env })
    const gOut = await waitFor(gateway, 'tcp ')
    assert.match(gOut, /mtgate gateway node g1: grpc 127\.0\.0\.1:\d+/)
    assert.match(gOut, /tcp {2}127\.0\.0\.1:\d+/)
    assert.equal(await stop(gateway), 0)
    assert.equal(await stop(session), 0)
  })
})
