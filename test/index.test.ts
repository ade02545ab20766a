/**
 * The package as a user gets it: `npm install <this repository>` (offline, a linked directory
 * dependency) into a new project, then `import ... from 'mtgate'` in node, the same import
 * type-checked by the repository's tsc against the built .d.ts, and `npx mtgate` from node_modules/.bin.
 * Needs the build (dist/src) the test itself runs from.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

/** The child's whole output, for assertion messages. */
const describeRun = (r: SpawnSyncReturns<string>): string => `exit ${r.status ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`

/** Runs the program in `cwd` without MTGATE_* variables (logs silenced). */
function runIn(cwd: string, cmd: string, args: string[], timeout = 60_000): SpawnSyncReturns<string> {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MTGATE_')))
  env.MTGATE_LOG_LEVEL = 'silent'
  return spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout })
}

/** Starts a server through the package's name on a free loopback port, connects to it, stops it. */
const START_AND_STOP = `
import { connect } from 'node:net'
import { createServer, MtgateServer, RpcError, ConfigError, parseConfig, loadConfig } from 'mtgate'
const dataDir = process.argv[1]
const server = await createServer({ host: '127.0.0.1', tcp_ports: [0], ws_port: null, data_dir: dataDir, store: { backend: 'memory' } })
server.handle('help.getNearestDc', (req, ctx) => { throw new RpcError(400, 'NOPE') })
const tcp = server.addresses.find((a) => a.kind === 'tcp')
await new Promise((resolve, reject) => connect(tcp.port, tcp.host).once('connect', function () { this.destroy(); resolve() }).once('error', reject))
const parsed = parseConfig({ host: '127.0.0.1', tcp_ports: [0], ws_port: null, store: { backend: 'memory' } }, {}, dataDir)
const again = await createServer(parsed, { inlineHandshakeCrypto: true })
let refused = ''
try { await createServer({ tcp_ports: [99999] }) } catch (e) { refused = e instanceof ConfigError ? e.path : String(e) }
const keys = server.rsaKeyInfo().length
await again.stop()
await server.stop()
console.log(JSON.stringify({
  port: tcp.port,
  isServer: server instanceof MtgateServer && again instanceof MtgateServer,
  keys,
  refused,
  loadConfig: typeof loadConfig,
}))
`

/** A user's TypeScript: typed config, handler, push target and error. */
const TYPED_USE = `
import { createServer, RpcError, type RpcContext, type PushTarget, type ServerConfig, type HandlerMap } from 'mtgate'

export async function start(config: ServerConfig): Promise<void> {
  const server = await createServer(config, { tickIntervalMs: 500 })
  const nearest: HandlerMap['help.getNearestDc'] = (_req, ctx: RpcContext) => ({ _: 'nearestDc', country: 'DE', this_dc: ctx.connection.dcId, nearest_dc: 2 })
  server.handle('help.getNearestDc', nearest)
  server.handle('help.getConfig', () => {
    throw new RpcError(420, 'FLOOD_WAIT_3')
  })
  const target: PushTarget = { userId: 42n }
  const sent: number = server.push(target, { _: 'updatesTooLong' })
  console.log(sent)
  await server.stop()
}
`

/** The same with a handler returning the wrong type: tsc must refuse it. */
const MISTYPED_USE = `
import { createServer } from 'mtgate'
const server = await createServer({})
server.handle('help.getNearestDc', () => ({ _: 'nearestDc', country: 7 }))
`

describe('the mtgate package, installed into a new project', () => {
  let project: string
  before(() => {
    project = realpathSync(mkdtempSync(join(tmpdir(), 'mtgate-package-')))
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'uses-mtgate', version: '1.0.0', private: true, type: 'module' }))
    const r = runIn(project, 'npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock', ROOT])
    assert.equal(r.status, 0, describeRun(r))
  })
  after(() => rmSync(project, { recursive: true, force: true }))

  it('import { createServer, ... } from "mtgate" starts a server on a free loopback port and stops it', () => {
    const r = runIn(project, process.execPath, ['--input-type=module', '-e', START_AND_STOP, join(project, 'data')])
    assert.equal(r.status, 0, describeRun(r))
    const got = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>
    assert.ok(typeof got.port === 'number' && got.port > 0, describeRun(r))
    assert.deepEqual({ ...got, port: 0 }, { port: 0, isServer: true, keys: 1, refused: 'tcp_ports[0]', loadConfig: 'function' })
    assert.ok(existsSync(join(project, 'data', 'rsa')), 'the key went into data_dir')
  })

  it('tsc type-checks a file importing from "mtgate" against the built declarations, and refuses a mistyped handler', () => {
    const tsc = (file: string) =>
      runIn(project, process.execPath, [TSC, '--noEmit', '--strict', '--target', 'ES2022', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--types', 'node', '--typeRoots', join(ROOT, 'node_modules', '@types'), '--skipLibCheck', file], 180_000)
    writeFileSync(join(project, 'use.ts'), TYPED_USE)
    const ok = tsc('use.ts')
    assert.equal(ok.status, 0, describeRun(ok))
    writeFileSync(join(project, 'mistyped.ts'), MISTYPED_USE)
    const bad = tsc('mistyped.ts')
    assert.notEqual(bad.status, 0, describeRun(bad))
    assert.match(bad.stdout, /mistyped\.ts\(4,/)
  })

  it('npx mtgate help runs the bin (node_modules/.bin/mtgate, a node script)', () => {
    const bin = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).bin.mtgate as string
    assert.ok(readFileSync(join(ROOT, bin), 'utf8').startsWith('#!/usr/bin/env node\n'), `${bin} starts with a node shebang`)
    assert.ok(existsSync(join(project, 'node_modules', '.bin', 'mtgate')))
    assert.notEqual(statSync(join(ROOT, bin)).mode & 0o111, 0, `npm install made ${bin} executable`)
    const r = runIn(project, 'npx', ['--no-install', 'mtgate', 'help'])
    assert.equal(r.status, 0, describeRun(r))
    assert.match(r.stdout, /^usage: mtgate <command>/)
  })

  it('npm pack takes the built code, its declarations, the .proto files and the native addon sources, no tests', () => {
    const r = runIn(ROOT, 'npm', ['pack', '--dry-run', '--json', '--ignore-scripts'])
    assert.equal(r.status, 0, describeRun(r))
    const files = new Set((JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path))
    for (const f of ['package.json', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js', 'proto/mtgate_session.proto', 'proto/mtgate_upstream.proto', 'binding.gyp']) {
      assert.ok(files.has(f), `the package holds ${f}`)
    }
    assert.deepEqual([...files].filter((f) => f.startsWith('dist/test/') || f.startsWith('test/') || f.startsWith('src/')), [])
  })
})
