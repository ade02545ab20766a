/**
 * PROXY protocol on the web listener (WebSocket / HTTP port, here with TLS): the header comes
 * before TLS and HTTP, and its address is what the server uses — a real haproxy (TCP mode,
 * send-proxy-v2, set-src) in front of https://, headers written by the test for the per-address
 * handshake bucket, and a header from a peer that is not trusted refused.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { connect as tcpConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { clientHandshake } from '../../src/handshake/client.js'
import { buildUnencrypted } from '../../src/gateway/unencrypted.js'
import { encode } from '../../src/tl/index.js'
import { startHaproxy, type Haproxy } from '../helpers/haproxy.js'
import { proxyHeaderV1 } from '../helpers/proxy-header.js'
import { freePort } from '../helpers/services.js'
import { HttpMtClient } from './http-client.js'
import { startE2eServer, type E2eServer } from './harness.js'

const HOST = '127.0.79.41'
const PROXY = '127.0.0.1'

/** One HTTPS request written after `preamble` on a fresh TCP connection from `local`; the status code, or 'closed'. */
function rawHttps(port: number, preamble: Buffer, body: Buffer, ca: Buffer, local = PROXY): Promise<number | 'closed'> {
  return new Promise((resolve) => {
    const tcp: Socket = tcpConnect({ host: HOST, port, localAddress: local }, () => {
      tcp.write(preamble)
      const t = tlsConnect({ socket: tcp, ca, host: HOST }, () => {
        t.write(Buffer.concat([Buffer.from(`POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`, 'latin1'), body]))
      })
      let out = ''
      t.on('data', (d: Buffer) => {
        out += d.toString('latin1')
        const m = /^HTTP\/1\.1 (\d+)/.exec(out)
        if (m !== null) {
          t.destroy()
          resolve(Number(m[1]))
        }
      })
      t.on('error', () => resolve('closed'))
      t.on('close', () => resolve('closed'))
    })
    tcp.on('error', () => resolve('closed'))
  })
}

describe('PROXY protocol on the web listener (TLS)', () => {
  let dir: string
  let e: E2eServer
  let hp: Haproxy
  let port: number
  let front: number
  let ca: Buffer
  const saw: string[] = []

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mtgate-pp-web-'))
    const cert = join(dir, 'c.crt')
    const key = join(dir, 'c.key')
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=mtgate-pp', '-addext', `subjectAltName=IP:${HOST},IP:${PROXY}`], { encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    ca = readFileSync(cert)
    port = await freePort()
    e = await startE2eServer({
      host: HOST,
      tcpPort: null,
      wsPort: port,
      config: { tls: { cert, key }, proxy_protocol: { ports: [port], trusted: [PROXY] }, limits: { handshakes_per_second_per_ip: 1, handshakes_burst_per_ip: 1 } },
    })
    e.server.handle('help.getPromoData', (_req, ctx) => {
      saw.push(ctx.connection.clientAddr)
      return { _: 'help.promoDataEmpty', expires: 0 }
    })
    front = await freePort()
    hp = startHaproxy([{ port: front, target: { host: HOST, port }, proxy: 'send-proxy-v2', lines: ['tcp-request connection set-src ipv4(203.0.113.9)'] }])
    for (let i = 0; i < 100; i++) {
      if ((await rawHttps(front, Buffer.alloc(0), Buffer.alloc(0), ca)) !== 'closed') break
      await new Promise((res) => setTimeout(res, 50))
    }
  })
  after(async () => {
    hp?.stop()
    await e?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('through haproxy (send-proxy-v2, set-src) to https://: key exchange, and a handler sees the address haproxy set', async () => {
    const c = new HttpMtClient(`https://${PROXY}:${front}`, ca)
    try {
      const r = await clientHandshake(c.plain, { publicKeys: e.server.rsaKeys.all().map((k) => k.publicKey), dcId: 2 })
      c.useKey(r.authKey, r.serverSalt)
      const got = await c.until((await c.send(encode({ _: 'help.getPromoData' }), true)).messages, (m) => m.result !== undefined)
      assert.ok(got.some((m) => m.result?._ === 'help.promoDataEmpty'))
      assert.match(saw.at(-1)!, /^203\.0\.113\.9:\d+$/)
    } finally {
      c.close()
    }
  })

  it('headers written by the test: the handshake bucket is per header address; untrusted peers may not send one', async () => {
    const reqPq = (): Buffer => buildUnencrypted(4n << 32n, encode({ _: 'req_pq_multi', nonce: Buffer.alloc(16, 3) }))
    assert.equal(await rawHttps(port, proxyHeaderV1('203.0.113.21', 40001), reqPq(), ca), 200)
    assert.equal(await rawHttps(port, proxyHeaderV1('203.0.113.21', 40002), reqPq(), ca), 429, 'the same address: its bucket of 1 is spent')
    assert.equal(await rawHttps(port, proxyHeaderV1('203.0.113.22', 40003), reqPq(), ca), 200, 'another address: a bucket of its own')
    assert.equal(await rawHttps(port, proxyHeaderV1('203.0.113.23', 40004), reqPq(), ca, '127.0.0.2'), 'closed', 'a header from a peer not trusted')
    assert.equal(await rawHttps(port, Buffer.alloc(0), reqPq(), ca), 'closed', 'a trusted proxy must send the header')
  })
})
