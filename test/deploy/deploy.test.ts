/**
 * The deployment files: deploy/mtgate@.service passes `systemd-analyze verify` (with this checkout
 * and this node in place of /opt/mtgate and /usr/bin/node), its instances are mtgate commands, and
 * every YAML block of docs/deploy.md loads as the configuration of the command it is for.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parse } from 'yaml'
import { loadClusterConfig, parseConfig } from '../../src/config/index.js'
import { parseArgs } from '../../src/cli/args.js'
import { fencedBlocks, ROOT } from '../readme/blocks.js'

const UNIT = readFileSync(join(ROOT, 'deploy/mtgate@.service'), 'utf8')
const GUIDE = readFileSync(join(ROOT, 'docs/deploy.md'), 'utf8')

describe('deploy/ and docs/deploy.md', () => {
  it('systemd-analyze verify: the unit is valid, with no warning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtgate-unit-'))
    try {
      const unit = join(dir, 'mtgate@serve.service')
      writeFileSync(unit, UNIT.replaceAll('/opt/mtgate', ROOT).replaceAll('/usr/bin/node', process.execPath))
      const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' })
      if (r.error !== undefined) throw new Error(`systemd-analyze: ${r.error.message} (the systemd package; .ci/run installs it)`)
      assert.equal(r.status, 0, r.stderr)
      assert.equal(r.stderr.trim(), '', 'no warnings')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('the instance is the command and names its config; reload is SIGHUP; exit 2 is not restarted', () => {
    assert.match(UNIT, /^ExecStart=\/usr\/bin\/node \/opt\/mtgate\/dist\/src\/cli\/main\.js %i --config \/etc\/mtgate\/%i\.yaml$/m)
    assert.match(UNIT, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m)
    assert.match(UNIT, /^RestartPreventExitStatus=2$/m)
    for (const command of ['serve', 'gateway', 'session']) {
      assert.equal(parseArgs([command, '--config', `/etc/mtgate/${command}.yaml`]).command, command)
      assert.ok(GUIDE.includes(`mtgate@${command}`), `the guide starts mtgate@${command}`)
    }
  })

  it('each YAML block of the guide loads as the config of its command', () => {
    const yaml = fencedBlocks(GUIDE).filter((b) => b.lang === 'yaml')
    assert.equal(yaml.length, 3)
    const [serve, session, gateway] = yaml.map((b) => parse(b.body) as Record<string, unknown>)
    assert.deepEqual(parseConfig(serve, {}).tcpPorts, [443, 5222])
    assert.equal(loadClusterConfig({ doc: session, env: {} }).cluster.nodeId, 's1')
    const g = loadClusterConfig({ doc: gateway, env: {} })
    assert.equal(g.cluster.nodeId, 'g1')
    assert.deepEqual(g.server.proxyProtocol.ports, [443, 8443])
  })
})
