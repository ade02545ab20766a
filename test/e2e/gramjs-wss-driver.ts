/**
 * GramJS over wss:// in a process of its own: the websocket package GramJS dials with verifies the
 * server's certificate against Node's CA list, which takes a test CA only from NODE_EXTRA_CA_CERTS
 * at start-up. argv[2]: JSON { host, fingerprint, modulus } (bigints as decimal strings); prints
 * one JSON line: { thisDc } or { error }.
 */
import { gramjs, gramjsClient } from '../helpers/gramjs.js'

const a = JSON.parse(process.argv[2]!) as { host: string; fingerprint: string; modulus: string }
const client = gramjsClient({
  host: a.host,
  key: { fingerprint: BigInt(a.fingerprint), modulus: BigInt(a.modulus) },
  transport: 'websocket',
  port: 443,
  params: { connectionRetries: 1, requestRetries: 1, autoReconnect: false },
})
const { Api } = gramjs()
let out: Record<string, unknown>
try {
  await client.connect()
  const config = await client.invoke<{ thisDc: number }>(new Api.help.GetConfig())
  out = { thisDc: config.thisDc }
} catch (e) {
  out = { error: (e as Error).message }
}
process.stdout.write(JSON.stringify(out) + '\n')
await client.destroy().catch(() => undefined)
process.exit(0)
