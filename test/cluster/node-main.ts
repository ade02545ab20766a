/**
 * Child-process entry for cluster tests and benches: `node node-main.js session|gateway|serve <config.json>`
 * starts one node as `mtgate session|gateway|serve` does (SIGTERM drains) and prints one JSON line when ready.
 * Session nodes use a shared SQLite file when the config says so (the store survives kill -9).
 */
import { readFileSync } from 'node:fs'
import { loadClusterConfig } from '../../src/config/cluster.js'
import { drainOnSignal } from '../../src/cli/signals.js'
import { GatewayNode } from '../../src/cluster/gateway-node.js'
import { SessionNode } from '../../src/cluster/session-node.js'
import { MtgateServer } from '../../src/server/server.js'

const [role, file] = process.argv.slice(2)
// `node --test dist/test/` also runs every .js under test/ as a file: without arguments, do nothing.
if (role === undefined) process.exit(0)
const config = loadClusterConfig({ doc: JSON.parse(readFileSync(file!, 'utf8')) as unknown, env: {} })
if (role === 'session') {
  const node = await SessionNode.start(config, { registryIntervalMs: 300 })
  drainOnSignal(node)
  // help.getNearestDc answers with this node's id as `country`: tests see which node served a call.
  node.handle('help.getNearestDc', () => ({ _: 'nearestDc' as const, country: node.nodeId, this_dc: config.server.dcId, nearest_dc: config.server.dcId }))
  // updates.getState "signs in" user 4242 on the calling key (tests of the per-key state)
  node.handle('updates.getState', (_q, ctx) => {
    ctx.userId = 4242n
    return { _: 'updates.state' as const, pts: 1, qts: 0, date: Math.floor(Date.now() / 1000), seq: 1, unread_count: 0 }
  })
  process.stdout.write(JSON.stringify({ ready: true, grpc: node.address }) + '\n')
} else if (role === 'gateway') {
  const node = await GatewayNode.start(config, { inlineHandshakeCrypto: true, registryIntervalMs: 300 })
  drainOnSignal(node)
  process.stdout.write(JSON.stringify({ ready: true, grpc: node.address, tcp: node.addresses.find((a) => a.kind === 'tcp')?.port }) + '\n')
} else if (role === 'serve') {
  const server = await MtgateServer.start(config.server, { inlineHandshakeCrypto: true })
  drainOnSignal(server)
  process.stdout.write(JSON.stringify({ ready: true, tcp: server.addresses.find((a) => a.kind === 'tcp')?.port }) + '\n')
} else {
  process.stderr.write(`usage: node-main.js session|gateway|serve <config.json>\n`)
  process.exit(2)
}
