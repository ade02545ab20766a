/**
 * docs/teamgram-migration.md: each YAML block in it loads as configuration, and the Teamgram config
 * it shows has what the guide says (a teamgram-bff upstream found in etcd, everything routed to it,
 * the session service sync calls, reported to status and registered in etcd, Teamgram's Redis for cache invalidation).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parse } from 'yaml'
import { parseConfig } from '../../src/config/index.js'
import { fencedBlocks, ROOT } from './blocks.js'

const GUIDE = join(ROOT, 'docs/teamgram-migration.md')

describe('docs/teamgram-migration.md', () => {
  const yaml = fencedBlocks(readFileSync(GUIDE, 'utf8')).filter((b) => b.lang === 'yaml')

  it('its YAML blocks load as configuration; the Teamgram one routes everything to a teamgram-bff upstream in etcd', () => {
    assert.ok(yaml.length >= 1)
    const configs = yaml.map((b) => parseConfig(parse(b.body) as Record<string, unknown>, {}))
    const c = configs[0]!
    const bff = c.upstream.upstreams.find((u) => u.name === 'bff')
    assert.equal(bff?.kind, 'teamgram-bff')
    assert.deepEqual(bff?.discovery?.key, 'bff.bff')
    assert.equal(c.upstream.unrouted, 'bff')
    assert.equal(c.teamgram.sessionService, '127.0.0.1:20120')
    assert.equal(c.teamgram.statusService?.discovery?.key, 'service.status')
    assert.deepEqual([c.teamgram.etcd, c.teamgram.sessionKey], [['127.0.0.1:2379'], 'interface.session'])
    assert.equal(c.store.backend, 'mysql')
    assert.ok(c.store.teamgramCache !== undefined)
  })
})
