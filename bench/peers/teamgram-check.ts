/**
 * Checks the Teamgram peer end to end: builds it if needed, starts it with a fresh RSA key, runs a
 * full auth-key exchange against it over TCP intermediate (our spec client, factoring pq itself,
 * RSA_PAD, p_q_inner_data_dc with the peer's DC), then encrypted pings with that key, and stops it.
 *
 *   node dist/bench/peers/teamgram-check.js [pings]     (default 200 pings)
 *
 * Prints one line per step; exits 1 on the first failure.
 */
import { createPrivateKey } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RsaPrivateKey } from '../../src/handshake/rsa-key.js'
import { clientHandshake } from '../../src/handshake/client.js'
import { AuthKey } from '../../src/crypto/message.js'
import { PlainTcpClient } from '../../test/helpers/clients.js'
import { RawClient } from '../../test/e2e/raw-client.js'
import { teamgramPeer } from './teamgram.js'

const ID_PONG = 0x347773c5
const say = (msg: string): void => void process.stdout.write(`teamgram-check: ${msg}\n`)
const ms = (t0: number): string => `${(performance.now() - t0).toFixed(0)} ms`

async function main(): Promise<void> {
  const pings = Number(process.argv[2] ?? 200)
  const missing = await teamgramPeer.missing()
  if (missing) throw new Error(`cannot run: ${missing}`)
  const key = RsaPrivateKey.generate()
  const workDir = mkdtempSync(join(tmpdir(), 'mtgate-teamgram-check-'))
  let t0 = performance.now()
  const peer = await teamgramPeer.start({ privateKeyPem: createPrivateKey(key.toPem()).export({ type: 'pkcs1', format: 'pem' }).toString(), workDir })
  say(`started in ${ms(t0)}: 127.0.0.1:${peer.port}, dc ${peer.dc}, pids ${peer.pids.join(' ')}`)
  try {
    t0 = performance.now()
    const plain = await PlainTcpClient.connect(peer.host, peer.port, 'intermediate')
    const hs = await clientHandshake(plain, { publicKeys: [key.publicKey], dcId: peer.dc })
    plain.close()
    say(`handshake in ${ms(t0)}: auth_key_id ${BigInt.asUintN(64, hs.authKeyId).toString(16)}, server salt ${hs.serverSalt}, server time skew ${hs.serverTime - Math.floor(Date.now() / 1000)} s`)

    const client = await RawClient.connect({ host: peer.host, port: peer.port, key: new AuthKey(hs.authKey), salt: hs.serverSalt, codec: 'intermediate' })
    try {
      t0 = performance.now()
      const first = await client.ping()
      if (first.readUInt32LE(0) !== ID_PONG) throw new Error(`first ping: expected pong, got constructor ${first.readUInt32LE(0).toString(16)}`)
      say(`first encrypted ping answered in ${ms(t0)} (new_session_created seen: ${client.log.newSessions}, bad_server_salt: ${client.log.badServerSalt})`)
      const rtts: number[] = []
      for (let i = 0; i < pings; i++) {
        const t = performance.now()
        const pong = await client.ping()
        if (pong.readUInt32LE(0) !== ID_PONG) throw new Error(`ping ${i}: not a pong`)
        rtts.push(performance.now() - t)
      }
      rtts.sort((a, b) => a - b)
      const q = (p: number): string => rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))]!.toFixed(2)
      if (rtts.length) say(`${pings} sequential pings: median ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${rtts[rtts.length - 1]!.toFixed(2)} ms`)
    } finally {
      client.close()
    }
    const stalls = await peer.stalls?.()
    if (stalls) say(`stalls: p99 ${stalls.p99Ms} ms (${stalls.source})`)
    say('ok')
  } finally {
    await peer.stop()
    rmSync(workDir, { recursive: true, force: true })
  }
}

main().catch((e: Error) => {
  process.stderr.write(`teamgram-check: FAILED: ${e.stack ?? e.message}\n`)
  process.exit(1)
})
