/**
 * The client snippets of README "Pointing clients at it", run for real: each one against its own
 * in-process server (test/e2e/harness.ts) on a 127.0.88.x address, with the placeholders
 * `<fingerprint>`, `127.0.0.1` and `10443` replaced by that server's, in a directory holding
 * `data/rsa/<fingerprint>.pub`. The servers' key has a negative fingerprint (as a signed int64), the
 * case a wrong signed/unsigned conversion fails on. A snippet is a whole program: it creates an auth key, calls
 * help.getConfig and prints `this_dc 2`; the server records which auth key asked.
 */
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fingerprintHex } from '../../src/handshake/rsa-key.js'
import { createKeyFile } from '../../src/handshake/rsa-keyset.js'
import { RpcError } from '../../src/rpc/errors.js'
import { startE2eServer, type E2eServer } from '../e2e/harness.js'
import { recordGetConfig } from '../e2e/scenario.js'
import { substitute, where, type Block } from './blocks.js'
import { copyGotdModule, describeRun, goEnv, JS_PARENT, run, SCRATCH_PARENT, snippetDir, type RunResult } from './run.js'

export interface ClientCheck {
  name: string
  claims(b: Block): boolean
  /** The server's address (one per client). */
  host: string
  /** The TCP port the server listens on: 80 for GramJS (it dials 80 whatever it is given), else any. */
  port: 0 | 80
  /** Where the snippet's directory is made. */
  parent: string
  /** Runs the (substituted) snippet in `dir`. */
  exec(code: string, dir: string): Promise<RunResult>
  /** Handlers the client needs besides the built-in ones (as README says). */
  handlers?(e: E2eServer): void
}

const NODE_TIMEOUT_MS = 30_000
const PYTHON_TIMEOUT_MS = 60_000
/** A cold compile of gotd takes minutes (.ci/deps/gotd.sh warms Go's build cache); a warm one seconds. */
const GO_TIMEOUT_MS = 10 * 60_000

async function node(code: string, dir: string): Promise<RunResult> {
  writeFileSync(join(dir, 'snippet.mjs'), code)
  return run(process.execPath, ['snippet.mjs'], { cwd: dir, timeoutMs: NODE_TIMEOUT_MS })
}

async function python(code: string, dir: string): Promise<RunResult> {
  writeFileSync(join(dir, 'snippet.py'), code)
  return run('python3', ['snippet.py'], { cwd: dir, timeoutMs: PYTHON_TIMEOUT_MS })
}

async function go(code: string, dir: string): Promise<RunResult> {
  copyGotdModule(dir)
  writeFileSync(join(dir, 'main.go'), code)
  const built = await run('go', ['build', '-o', 'snippet', '.'], { cwd: dir, env: goEnv(), timeoutMs: GO_TIMEOUT_MS })
  if (built.code !== 0) return { ...built, stderr: `go build failed (Go modules missing? run bash .ci/deps/gotd.sh)\n${built.stderr}` }
  return run(join(dir, 'snippet'), [], { cwd: dir, timeoutMs: NODE_TIMEOUT_MS })
}

const has = (lang: string, text: string) => (b: Block) => b.lang === lang && b.body.includes(text)

export const CLIENT_CHECKS: ClientCheck[] = [
  { name: 'GramJS', claims: has('js', "from 'telegram'"), host: '127.0.88.1', port: 80, parent: JS_PARENT, exec: node },
  { name: 'mtcute', claims: has('js', "from '@mtcute/node'"), host: '127.0.88.2', port: 0, parent: JS_PARENT, exec: node },
  {
    name: 'Telethon',
    claims: has('python', 'from telethon'),
    host: '127.0.88.3',
    port: 0,
    parent: SCRATCH_PARENT,
    exec: python,
    // connect() asks for the signed-in user; Telegram answers 401 on a key that is not signed in.
    handlers: (e) =>
      e.server.handle('users.getUsers', () => {
        throw new RpcError(401, 'AUTH_KEY_UNREGISTERED')
      }),
  },
  { name: 'Kurigram', claims: has('python', 'from pyrogram'), host: '127.0.88.4', port: 0, parent: SCRATCH_PARENT, exec: python },
  { name: 'gotd/td', claims: has('go', 'github.com/gotd/td/telegram'), host: '127.0.88.5', port: 0, parent: SCRATCH_PARENT, exec: go },
]

/** Starts a server for `check`, runs the snippet of `b` against it and asserts what it did. */
export async function runClientSnippet(check: ClientCheck, b: Block): Promise<void> {
  const e: E2eServer = await startE2eServer({ host: check.host, tcpPort: check.port, config: { data_dir: negativeKeyDataDir() } })
  assert.ok(e.fingerprint < 0n)
  check.handlers?.(e)
  const asked = recordGetConfig(e)
  const fp = fingerprintHex(e.fingerprint)
  const dir = snippetDir(check.parent, fp, e.publicPem)
  try {
    const values: Record<string, string> = { '<fingerprint>': fp, "'127.0.0.1'": `'${e.host}'`, '"127.0.0.1"': `"${e.host}"` }
    if (check.port !== 80) values['10443'] = String(e.tcpPort)
    const code = substitute(b, onlyPresent(b, values, ["'127.0.0.1'", '"127.0.0.1"']))
    const r = await check.exec(code, dir)
    const lines = r.stdout.split('\n').map((l) => l.trim())
    assert.equal(r.code, 0, `${check.name} snippet at ${where(b)} failed: ${describeRun(r)}`)
    assert.ok(lines.includes('this_dc 2'), `${check.name} snippet printed no "this_dc 2": ${describeRun(r)}`)
    assert.ok(asked.length >= 1, `the server never got help.getConfig from ${check.name}`)
    for (const { authKeyId: id } of asked) assert.ok((await e.server.store.get(id)) !== undefined, `help.getConfig came on auth key ${id}, which the server created and stored`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
    await e.close()
  }
}

let keyDir: string | undefined

/**
 * A data dir whose one RSA key has a fingerprint with its top bit set (negative as a signed int64),
 * so that a snippet converting it to GramJS's or Kurigram's signed form wrongly fails.
 */
function negativeKeyDataDir(): string {
  if (keyDir !== undefined) return keyDir
  mkdirSync(SCRATCH_PARENT, { recursive: true })
  const dir = mkdtempSync(join(SCRATCH_PARENT, 'key-'))
  while (createKeyFile(dir).fingerprint >= 0n) rmSync(join(dir, 'rsa'), { recursive: true, force: true })
  keyDir = dir
  return dir
}

/**
 * `values` without those of `alternatives` that `b` lacks, as long as one of them is present (an
 * address is quoted with ' in JS and Python, with " in Go).
 */
function onlyPresent(b: Block, values: Record<string, string>, alternatives: string[]): Record<string, string> {
  const out = { ...values }
  const present = alternatives.filter((k) => b.body.includes(k))
  if (present.length === 0) throw new Error(`${where(b)} has no address placeholder (${alternatives.join(' or ')})`)
  for (const k of alternatives) if (!present.includes(k)) delete out[k]
  return out
}
