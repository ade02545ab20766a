/**
 * README's "Limits against hostile clients" lists every per-source limit (the `limits:` keys per
 * address and per prefix, and the total) in one YAML block, each with its real default.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parse } from 'yaml'
import { DEFAULT_LIMITS, parseConfig } from '../../src/config/index.js'
import type { ServerLimits } from '../../src/config/types.js'
import { readmeBlocks, where } from './blocks.js'

const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())

test('README lists every per-source limit with its default', () => {
  const found = readmeBlocks().filter((b) => b.lang === 'yaml' && b.body.startsWith('# the per-source limits and their defaults\n'))
  assert.equal(found.length, 1, 'one block of per-source limits')
  const block = found[0]!
  assert.equal(block.section, 'Limits against hostile clients', where(block))
  const listed = (parse(block.body) as { limits: Record<string, number> }).limits
  const perSource = (Object.keys(DEFAULT_LIMITS) as (keyof ServerLimits)[]).filter((k) => /Per(Ip|Prefix)$/.test(k) || k === 'maxConnections')
  assert.ok(perSource.includes('handshakesBurstPerIp') && perSource.includes('newConnectionsPerSecondPerPrefix'))
  assert.deepEqual(Object.keys(listed).sort(), perSource.map(snake).sort(), where(block))
  for (const k of perSource) assert.equal(listed[snake(k)], DEFAULT_LIMITS[k], `${snake(k)}: README says ${listed[snake(k)]}, the default is ${DEFAULT_LIMITS[k]}`)
  assert.deepEqual(parseConfig(parse(block.body) as Record<string, unknown>, {}).limits, DEFAULT_LIMITS, 'the block loads as the defaults')
})
