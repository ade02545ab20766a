/**
 * Checks of README's command-line blocks against the real CLI (dist/src/cli/main.js):
 * - the set-up `sh` block names package.json scripts, and `npm start`'s command prints the banner of
 *   the output block (serveBanner / assertBanner);
 * - the commands block matches the CLI's USAGE and parser, and keygen / keys do what it says;
 * - the cluster `sh` block: every `npx mtgate` line parses, its comment is a cluster config.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { parseArgs, USAGE } from '../../src/cli/args.js'
import { loadClusterConfig } from '../../src/config/index.js'
import { where, ROOT, type Block } from './blocks.js'
import { describeRun, run, SCRATCH_PARENT } from './run.js'

const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; bin: Record<string, string> }
const START_TIMEOUT_MS = 20_000
const STOP_TIMEOUT_MS = 15_000

/** A block's command lines: `\` continuations joined, `# comments` split off, blank lines dropped. */
export function commandLines(b: Block): { cmd: string; comment: string }[] {
  const joined = b.body.replace(/\\\n\s*/g, ' ')
  return joined
    .split('\n')
    .map((l) => {
      const hash = l.search(/\s#\s/)
      return hash < 0 ? { cmd: l.trim(), comment: '' } : { cmd: l.slice(0, hash).trim(), comment: l.slice(hash).replace(/^\s*#\s*/, '').trim() }
    })
    .filter((l) => l.cmd !== '')
}

/** The argv of package.json's `scripts[name]` when it runs node (throws otherwise). */
function nodeScript(name: string): string[] {
  const words = PACKAGE.scripts[name]?.split(/\s+/) ?? []
  assert.equal(words[0], 'node', `scripts.${name} runs node (it is "${PACKAGE.scripts[name]}")`)
  return words.slice(1)
}

/** Set-up block: every `npm X` is a script package.json has; returns the argv `npm start` runs. */
export function assertSetupBlock(b: Block): string[] {
  const npm = commandLines(b).flatMap((l) => l.cmd.split('&&').map((c) => c.trim().split(/\s+/)))
  assert.ok(npm.length >= 2, `${where(b)}: no npm commands`)
  for (const [tool, sub, script] of npm) {
    assert.equal(tool, 'npm', `${where(b)}: only npm commands are expected`)
    if (sub === 'install') {
      assert.match(PACKAGE.scripts.prepare ?? '', /\btsc\b/, 'npm install builds the TypeScript (scripts.prepare)')
      assert.match(PACKAGE.scripts.install ?? '', /node-gyp rebuild/, 'npm install builds the native addon (scripts.install)')
    } else {
      const name = sub === 'run' ? script! : sub!
      assert.ok(PACKAGE.scripts[name] !== undefined, `${where(b)}: package.json has no script "${name}"`)
    }
  }
  return nodeScript('start')
}

export interface ServeRun {
  cwd: string
  host: string
  ports: { tcp: [number, number]; ws: number }
  banner: string[]
  /** Sends SIGINT and resolves with the exit code and the whole output. */
  stop(): Promise<{ code: number | null; stdout: string; stderr: string }>
}

/** Runs `argv` (npm start's command) in a new directory on `host` with the given ports, until its banner's `lines` lines are out. */
export async function serveBanner(argv: string[], lines: number, host: string, ports: ServeRun['ports']): Promise<ServeRun> {
  const cwd = realpathSync(mkdtempSync(join(SCRATCH_PARENT, 'serve-')))
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MTGATE_')))
  Object.assign(env, { MTGATE_HOST: host, MTGATE_TCP_PORTS: ports.tcp.join(','), MTGATE_WS_PORT: String(ports.ws), MTGATE_LOG_LEVEL: 'warn' })
  const child = spawn(process.execPath, [join(ROOT, argv[0]!), ...argv.slice(1)], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const deadline = Date.now() + START_TIMEOUT_MS
  while (stdout.split('\n').length <= lines) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`serve printed no ${lines}-line banner (${child.exitCode === null ? 'timed out' : `exit ${child.exitCode}`})\nstdout:\n${stdout}\nstderr:\n${stderr}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    cwd,
    host,
    ports,
    banner: stdout.split('\n').slice(0, lines),
    async stop() {
      child.kill('SIGINT')
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
      const code = await exited
      clearTimeout(timer)
      return { code, stdout, stderr }
    },
  }
}

/**
 * The output block against what serve printed: equal line by line once the README's defaults
 * (127.0.0.1 with ports 10443, 5222 and 11443) are mapped to the run's address and ports and
 * `<cwd>` / `<fingerprint>` to the run's directory and key.
 */
export function assertBanner(b: Block, s: ServeRun): { fingerprint: string } {
  const fp = /rsa {2}fingerprint ([0-9a-f]{16}) /.exec(s.banner.join('\n'))?.[1]
  assert.ok(fp !== undefined, `no rsa fingerprint line in the banner:\n${s.banner.join('\n')}`)
  const map: [string, string][] = [
    ['127.0.0.1:10443', `${s.host}:${s.ports.tcp[0]}`],
    ['127.0.0.1:5222', `${s.host}:${s.ports.tcp[1]}`],
    ['127.0.0.1:11443', `${s.host}:${s.ports.ws}`],
    ['<cwd>', s.cwd],
    ['<fingerprint>', fp],
  ]
  let expected = b.body
  for (const [from, to] of map) {
    assert.ok(expected.includes(from), `${where(b)} has no ${from}`)
    expected = expected.split(from).join(to)
  }
  assert.deepEqual(s.banner, expected.trimEnd().split('\n'), `${where(b)} is what npm start prints`)
  return { fingerprint: fp }
}

/** The key serve made: its .pub exists where the banner says and the private key is mode 0600. */
export function assertKeyFiles(s: ServeRun, fingerprint: string): void {
  const pub = join(s.cwd, 'data', 'rsa', `${fingerprint}.pub`)
  assert.ok(s.banner.some((l) => l.endsWith(`public key ${pub}`)), `the banner names ${pub}`)
  assert.match(readFileSync(pub, 'utf8'), /^-----BEGIN RSA PUBLIC KEY-----\n/)
  assert.equal(statSync(join(s.cwd, 'data', 'rsa', `${fingerprint}.key`)).mode & 0o777, 0o600)
}

/** The commands block: each line's command and options are what USAGE lists and the parser takes. */
export function assertCommandsBlock(b: Block): string[] {
  const usageCommands = USAGE.split('options:')[0]!.split('\n').map((l) => /^ {2}(\w+) {2,}/.exec(l)?.[1]).filter((c) => c !== undefined)
  const commands: string[] = []
  for (const line of b.body.trimEnd().split('\n')) {
    const m = /^npx mtgate (\w+)((?: [a-z]+ [A-Z]+)?)\s+((?:\[--\w+ [A-Z]+\]\s*)*)\s{2,}(\S.*)$/.exec(line)
    assert.ok(m, `${where(b)}: "${line}" is not "npx mtgate COMMAND [ACTION ARG] [--option VALUE]  what it does"`)
    const [, command, action, options, text] = m
    assert.ok(usageCommands.includes(command!), `${command} is a command of USAGE (${usageCommands.join(', ')})`)
    if (action !== '') assert.ok(USAGE.includes(`  ${command}${action} `), `USAGE lists ${command}${action}`)
    const positional = action!.split(' ').filter((w) => w !== '').map((w) => (w === 'FP' ? 'c3b42b026ce86b21' : w))
    const argv = [command!, ...positional, ...[...options!.matchAll(/\[(--\w+) ([A-Z]+)\]/g)].flatMap((o) => [o[1]!, o[2]!])]
    for (const o of argv.filter((a) => a.startsWith('--'))) assert.ok(USAGE.includes(`  ${o} `), `USAGE lists ${o}`)
    const parsed = parseArgs(argv)
    assert.equal(parsed.command, command)
    if (argv.includes('--config')) assert.equal(parsed.config, argv[argv.indexOf('--config') + 1])
    if (text!.includes('npm start')) {
      const [main, ...args] = nodeScript('start')
      assert.equal(main, PACKAGE.bin.mtgate, 'npm start runs the `mtgate` of package.json bin')
      assert.deepEqual(args, [command], `npm start runs mtgate ${command}`)
    }
    commands.push(command!)
  }
  return commands
}

/**
 * Runs `mtgate keygen --config FILE` twice and `mtgate keys --config FILE` in a new directory: both
 * keys are listed as offered; after `mtgate keys retire FP` of the first, `keys` lists it retired.
 */
export async function assertKeygenAndKeys(): Promise<void> {
  const cwd = mkdtempSync(join(SCRATCH_PARENT, 'keys-'))
  writeFileSync(join(cwd, 'mtgate.yaml'), 'data_dir: keys-here\n')
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MTGATE_')))
  const mtgate = (...args: string[]) => run(process.execPath, [join(ROOT, nodeScript('start')[0]!), ...args, '--config', 'mtgate.yaml'], { cwd, env, timeoutMs: 30_000 })
  const made: string[] = []
  for (let i = 0; i < 2; i++) {
    const r = await mtgate('keygen')
    assert.equal(r.code, 0, describeRun(r))
    const m = /^created RSA key ([0-9a-f]{16}) {2}public key (\S+)$/m.exec(r.stdout)
    assert.ok(m, `keygen's output: ${r.stdout}`)
    assert.equal(m[2], join(cwd, 'keys-here', 'rsa', `${m[1]}.pub`))
    assert.ok(existsSync(m[2]!))
    made.push(m[1]!)
  }
  const r = await mtgate('keys')
  assert.equal(r.code, 0, describeRun(r))
  const listed = r.stdout.trimEnd().split('\n').sort()
  const line = (fp: string, state: string) => `${fp}  ${state}  ${join(cwd, 'keys-here', 'rsa', `${fp}.pub`)}`
  assert.deepEqual(listed, made.map((fp) => line(fp, 'offered')).sort())
  const retired = await mtgate('keys', 'retire', made[0]!)
  assert.equal(retired.code, 0, describeRun(retired))
  const after = await mtgate('keys')
  assert.deepEqual(after.stdout.trimEnd().split('\n').sort(), [line(made[0]!, 'retired'), line(made[1]!, 'offered')].sort())
}

/**
 * The cluster block: the etcd line's client URL, then `npx mtgate session|gateway --config F  # YAML`
 * lines whose comment (`...` standing for the keys of the first node's cluster section) loads as
 * that node's cluster config; node ids, gRPC addresses, config files and gateway ports differ.
 */
export function assertClusterBlock(b: Block): void {
  const lines = commandLines(b)
  const etcd = lines.find((l) => l.cmd.startsWith('etcd '))
  assert.ok(etcd, `${where(b)}: no etcd line`)
  const url = /--advertise-client-urls (\S+)/.exec(etcd.cmd)?.[1]
  assert.ok(url !== undefined && etcd.cmd.includes(`--listen-client-urls ${url}`), `${where(b)}: etcd listens on and advertises one URL`)
  const nodes = lines.filter((l) => l !== etcd)
  assert.ok(nodes.length >= 2)
  let first: Record<string, unknown> | undefined
  const seen = { ids: new Set<string>(), listen: new Set<string>(), files: new Set<string>(), ports: new Set<number>() }
  for (const { cmd, comment } of nodes) {
    const [npx, tool, ...argv] = cmd.split(/\s+/)
    assert.equal(`${npx} ${tool}`, 'npx mtgate', `${where(b)}: "${cmd}"`)
    const args = parseArgs(argv)
    assert.ok(args.command === 'gateway' || args.command === 'session', `${cmd}: a cluster command`)
    assert.ok(args.config !== undefined && !seen.files.has(args.config), `${cmd}: its own --config file`)
    seen.files.add(args.config)
    const elided = /,\s*\.\.\.\s*,/.test(comment)
    const doc = parse(`{ ${comment.replace(/,\s*\.\.\.\s*,/, ',')} }`) as { cluster: Record<string, unknown>; tcp_ports?: number[] }
    if (elided) {
      assert.ok(first, `${cmd}: "..." needs an earlier node's cluster section`)
      doc.cluster = { ...first, ...doc.cluster }
    } else first ??= doc.cluster
    const c = loadClusterConfig({ doc: { store: { backend: 'memory' }, ...doc }, env: {} })
    assert.deepEqual(c.cluster.etcd, [url], `${cmd}: the etcd of the etcd line`)
    for (const [set, v] of [[seen.ids, c.cluster.nodeId], [seen.listen, c.cluster.listen]] as const) {
      assert.ok(!set.has(v), `${cmd}: ${v} is used by another node`)
      set.add(v)
    }
    if (args.command === 'gateway') {
      assert.ok(doc.tcp_ports !== undefined, `${cmd}: a gateway's tcp_ports`)
      for (const p of c.server.tcpPorts) {
        assert.ok(!seen.ports.has(p), `${cmd}: port ${p} is used by another gateway`)
        seen.ports.add(p)
      }
    }
  }
}
