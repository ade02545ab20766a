/**
 * Every fenced block of README.md is checked, so none can rot; a block no check claims (or one that
 * two checks claim) fails the first test, so a new snippet needs a check here.
 *
 * How each kind of block is checked:
 * - set-up (```sh with `npm start`) and the banner (the block starting `mtgate serving`): the npm
 *   scripts exist; what `npm start` runs is started in a new directory on 127.0.88.6 with free ports
 *   (MTGATE_HOST / MTGATE_TCP_PORTS / MTGATE_WS_PORT) and its banner equals the block line by line
 *   (README's default address and ports mapped to those, `<cwd>` and `<fingerprint>` to the run's);
 *   the key file it names exists, the private key is mode 0600; SIGINT stops it with exit code 0.
 * - commands (lines `npx mtgate COMMAND [ACTION ARG] [--config FILE]  text`): each command and option
 *   is in the CLI's USAGE and parses; `keygen` twice, `keys`, `keys retire` and `keys` again run in a
 *   new directory: both keys listed, then the first one retired.
 * - cluster (```sh with `npx mtgate gateway`): see assertClusterBlock (no etcd is started).
 * - decode (```sh `npx mtgate decode` and the ```json after it): the command runs on a fixed
 *   conversation (test/readme/decode.ts) and prints the output block exactly.
 * - ```yaml: each one loads as configuration (parseConfig); the `mtproxy` one is also the whole
 *   server's configuration in test/e2e/mtproxy.test.ts, with GramJS as its MTProxy client.
 * - client snippets (```js GramJS and mtcute, ```python Telethon and Kurigram, ```go gotd/td): each is
 *   run for real against its own server and must create an auth key and get help.getConfig
 *   answered (test/readme/clients.ts says how placeholders are filled).
 */
import assert from 'node:assert/strict'
import { mkdirSync, rmSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { parse } from 'yaml'
import { parseConfig } from '../../src/config/index.js'
import { freePort } from '../helpers/services.js'
import { readmeBlocks, where, type Block } from './blocks.js'
import { assertBanner, assertClusterBlock, assertCommandsBlock, assertKeyFiles, assertKeygenAndKeys, assertSetupBlock, serveBanner } from './cli.js'
import { CLIENT_CHECKS, runClientSnippet } from './clients.js'
import { assertDecodeBlocks, isDecodeCommand, isDecodeOutput } from './decode.js'
import { JS_PARENT, SCRATCH_PARENT } from './run.js'

const blocks = readmeBlocks()

const isSetup = (b: Block) => b.lang === 'sh' && /\bnpm start\b/.test(b.body)
const isBanner = (b: Block) => b.lang === '' && b.body.startsWith('mtgate serving')
const isCommands = (b: Block) => b.lang === '' && /^(npx mtgate \w+ .*\n)+$/.test(b.body)
const isCluster = (b: Block) => b.lang === 'sh' && /^npx mtgate gateway /m.test(b.body)
const isYaml = (b: Block) => b.lang === 'yaml'

/** Every check by the blocks it claims. */
const CLAIMS: { name: string; claims(b: Block): boolean }[] = [
  { name: 'set-up', claims: isSetup },
  { name: 'banner', claims: isBanner },
  { name: 'commands', claims: isCommands },
  { name: 'cluster', claims: isCluster },
  { name: 'yaml', claims: isYaml },
  { name: 'decode command', claims: isDecodeCommand },
  { name: 'decode output', claims: isDecodeOutput },
  ...CLIENT_CHECKS,
]

/** The one block `claims` picks (fails unless exactly one does). */
function only(claims: (b: Block) => boolean, what: string): Block {
  const found = blocks.filter(claims)
  assert.equal(found.length, 1, `README.md has one ${what} block (found at ${found.map((b) => b.line).join(', ') || 'none'})`)
  return found[0]!
}

before(() => {
  mkdirSync(SCRATCH_PARENT, { recursive: true })
})
after(() => {
  rmSync(SCRATCH_PARENT, { recursive: true, force: true })
  rmSync(JS_PARENT, { recursive: true, force: true })
})

describe('README.md code blocks', () => {
  it('every fenced block is claimed by exactly one check', () => {
    assert.ok(blocks.length >= 10, `README.md has ${blocks.length} fenced blocks`)
    const wrong = blocks
      .map((b) => ({ b, by: CLAIMS.filter((c) => c.claims(b)).map((c) => c.name) }))
      .filter((x) => x.by.length !== 1)
      .map((x) => `${where(x.b)}: ${x.by.length === 0 ? 'no check' : `claimed by ${x.by.join(', ')}`}\n${x.b.body}`)
    assert.deepEqual(wrong, [], 'add a check to test/readme/snippets.test.ts for each of these blocks')
  })

  it('set-up: npm start prints the banner of the output block, keeps its key private and stops on SIGINT', async () => {
    const argv = assertSetupBlock(only(isSetup, 'set-up'))
    const banner = only(isBanner, 'banner')
    const [a, b, ws] = [await freePort(), await freePort(), await freePort()]
    const s = await serveBanner(argv, banner.body.trimEnd().split('\n').length, '127.0.88.6', { tcp: [a, b], ws })
    try {
      const { fingerprint } = assertBanner(banner, s)
      assertKeyFiles(s, fingerprint)
    } finally {
      const end = await s.stop()
      assert.equal(end.code, 0, `exit code after SIGINT\nstdout:\n${end.stdout}\nstderr:\n${end.stderr}`)
      assert.deepEqual(end.stdout.trimEnd().split('\n').slice(-2), ['SIGINT: draining…', 'stopped'])
    }
  })

  it('commands: each is in the CLI usage and parses; keygen adds keys that keys lists, keys retire retires one', async () => {
    const commands = assertCommandsBlock(only(isCommands, 'commands'))
    for (const c of ['serve', 'keygen', 'keys']) assert.ok(commands.includes(c), `the commands block lists ${c}`)
    await assertKeygenAndKeys()
  })

  it('cluster: every command line parses and its comment is a valid cluster config', () => {
    assertClusterBlock(only(isCluster, 'cluster'))
  })

  it('yaml: every block loads as configuration', () => {
    const yaml = blocks.filter(isYaml)
    assert.ok(yaml.length >= 2)
    for (const b of yaml) assert.doesNotThrow(() => parseConfig(parse(b.body) as Record<string, unknown>, {}), where(b))
  })

  it('decode: the command prints the output block for its fixed conversation', async () => {
    await assertDecodeBlocks(only(isDecodeCommand, 'decode command'), only(isDecodeOutput, 'decode output'))
  })

  for (const check of CLIENT_CHECKS) {
    it(`${check.name}: the snippet connects, creates an auth key and gets help.getConfig answered`, async () => {
      await runClientSnippet(check, only(check.claims, check.name))
    })
  }
})
