#!/usr/bin/env node
/**
 * mtgate command line: `serve` (what `npm start` runs), `gateway`, `session`, `keygen`, `keys`
 * (and `keys retire|unretire FP`), `config [--explain]`.
 * Human-readable output goes to stdout; logs (pino) go to stderr.
 */
import { join } from 'node:path'
import { ConfigError, configErrorList, loadClusterConfig, loadConfig, type ClusterConfig } from '../config/index.js'
import { explainConfig, formatExplained } from '../config/explain.js'
import type { PublicAddress, ServerConfig } from '../config/index.js'
import { fingerprintHex } from '../handshake/rsa-key.js'
import { createKeyFile, loadKeySet } from '../handshake/rsa-keyset.js'
import type { ListenAddress } from '../gateway/front.js'
import { MtgateServer } from '../server/server.js'
import { configureLogging, rootLogger } from '../util/log.js'
import { tuneV8 } from '../util/v8-tuning.js'
import { GatewayNode } from '../cluster/gateway-node.js'
import { SessionNode } from '../cluster/session-node.js'
import { drainOnSignal, reloadTlsOnHangup } from './signals.js'
import { changeKey } from './keys.js'
import { parseArgs, USAGE, UsageError, type CliArgs } from './args.js'
import { runDecode } from './decode/command.js'

const out = (line: string): void => {
  process.stdout.write(line + '\n')
}

function listKeys(config: ServerConfig): void {
  const set = loadKeySet(config.dataDir)
  if (set.size === 0) {
    out(`no RSA keys in ${join(config.dataDir, 'rsa')} (mtgate keygen or mtgate serve creates one)`)
    return
  }
  for (const k of set.all()) {
    const fp = fingerprintHex(k.fingerprint)
    out(`${fp}  ${k.retired ? 'retired' : 'offered'}  ${join(config.dataDir, 'rsa', fp + '.pub')}`)
  }
}

async function serve(config: ServerConfig): Promise<void> {
  const server = await MtgateServer.start(config)
  out(`mtgate serving (dc ${config.dcIds.join(', ')}; default ${config.dcId})`)
  for (const a of server.addresses) out(describeAddress(a, config))
  for (const k of server.rsaKeyInfo()) {
    out(`  rsa  fingerprint ${k.fingerprint}${k.retired ? ' (retired)' : ''}  public key ${k.publicKeyPath}`)
  }
  out(`  ${server.storeDescription}`)
  out(`  aes-ige backend: ${server.igeBackend}`)
  out(`  v8 flags: ${tuneV8().join(' ') || 'as node was started'}`)
  out(`  data dir: ${config.dataDir}`)
  out(`  api_id allowed: ${config.apiIds.length === 0 ? 'any' : config.apiIds.join(', ')}`)
  out(`  dc_options: ${describeDcOptions(config.publicAddresses)}`)
  for (const u of config.upstream.upstreams) {
    out(`  upstream ${u.name}: ${u.discovery === undefined ? u.targets.join(', ') : `etcd ${u.discovery.etcd.join(', ')} key ${u.discovery.key}/`}`)
  }
  if (server.backendApiAddress !== undefined) out(`  backend api: grpc ${server.backendApiAddress} (mtgate.upstream.v1.Mtgate)`)

  drainOnSignal(server, { say: out })
  reloadTlsOnHangup(server, { say: out })
}

/** "ip:port (dc 1, 2)" per address, in config order. */
function describeDcOptions(addresses: readonly PublicAddress[]): string {
  const byAddress = new Map<string, number[]>()
  for (const a of addresses) {
    const where = `${a.ipv6 ? `[${a.ip}]` : a.ip}:${a.port}${a.mediaOnly ? ' media' : ''}`
    byAddress.set(where, [...(byAddress.get(where) ?? []), a.dcId])
  }
  return [...byAddress].map(([where, dcs]) => `${where} (dc ${dcs.join(', ')})`).join(', ')
}

async function runNode(role: 'gateway' | 'session', config: ClusterConfig): Promise<void> {
  const { cluster } = config
  if (role === 'session') {
    const node = await SessionNode.start(config)
    drainOnSignal(node)
    out(`mtgate session node ${node.nodeId}: grpc ${node.address}, etcd ${cluster.etcd.join(', ')}`)
    out(`  ${config.server.store.backend} store; keys are shared with the other session nodes through it`)
    return
  }
  const node = await GatewayNode.start(config)
  drainOnSignal(node)
  reloadTlsOnHangup(node)
  out(`mtgate gateway node ${node.nodeId}: grpc ${node.address}, etcd ${cluster.etcd.join(', ')}`)
  for (const a of node.addresses) out(describeAddress(a, config.server))
}

/** One listener as the start-up lines show it. */
function describeAddress(a: ListenAddress, config: ServerConfig): string {
  const at = `${a.host}:${a.port}`
  const s = a.tls ? 's' : ''
  if (a.kind === 'tcp') return `  tcp  ${at}  (abridged, intermediate, padded, full, obfuscated)`
  const http = `  http http${s}://${at}/api  (POST, long poll)`
  if (a.kind === 'http') return http
  return `  ws   ws${s}://${at}${config.wsPath}  (subprotocol binary)` + (config.http.enabled ? `\n${http}` : '')
}

/** The loaded configuration; undefined after printing its ConfigErrors, one a line (the caller exits 2). */
function configOrReport<C>(load: () => C): C | undefined {
  try {
    return load()
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const one of configErrorList(e)) process.stderr.write(`mtgate: ${one.message}\n`)
      return undefined
    }
    throw e
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  let args: CliArgs
  try {
    args = parseArgs(argv, process.env)
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`mtgate: ${e.message}\n\n${USAGE}`)
      return 2
    }
    throw e
  }
  if (args.command === 'help') {
    out(USAGE)
    return 0
  }
  if (args.command === 'decode') return runDecode(args.decode!, out, (line) => process.stderr.write(`mtgate decode: ${line}\n`))
  if (args.command === 'gateway' || args.command === 'session') {
    const cluster = configOrReport(() => loadClusterConfig({ file: args.config }))
    if (cluster === undefined) return 2
    configureLogging(cluster.server.log)
    await runNode(args.command, cluster)
    return -1 // keeps running; SIGTERM/SIGINT drain and exit
  }
  if (args.command === 'config') {
    const values = configOrReport(() => explainConfig({ file: args.config }))
    if (values === undefined) return 2
    for (const line of formatExplained(values, args.explain === true)) out(line)
    return 0
  }
  const config = configOrReport(() => loadConfig({ file: args.config }))
  if (config === undefined) return 2
  configureLogging(config.log)
  switch (args.command) {
    case 'keys': {
      if (args.keyChange === undefined) {
        listKeys(config)
        return 0
      }
      const r = changeKey(config.dataDir, args.keyChange)
      if (r.code === 0) out(r.message)
      else process.stderr.write(`mtgate: ${r.message}\n`)
      return r.code
    }
    case 'keygen': {
      const k = createKeyFile(config.dataDir, args.bits)
      const fp = fingerprintHex(k.fingerprint)
      out(`created RSA key ${fp}  public key ${join(config.dataDir, 'rsa', fp + '.pub')}`)
      return 0
    }
    case 'serve':
      await serve(config)
      return -1 // keeps running
  }
}

process.on('uncaughtException', (e) => {
  rootLogger.fatal({ err: e }, 'uncaught exception')
})
process.on('unhandledRejection', (e) => {
  rootLogger.error({ err: e }, 'unhandled rejection')
})

tuneV8()
main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code
  },
  (e: unknown) => {
    rootLogger.fatal({ err: e }, 'mtgate failed to start')
    process.stderr.write(`mtgate: ${(e as Error).message ?? String(e)}\n`)
    process.exit(1)
  },
)
