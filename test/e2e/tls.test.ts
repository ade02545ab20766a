/**
 * TLS on the web listeners, with certificates openssl makes here: GramJS (unmodified; it dials
 * wss:// on port 443) over wss://, Telethon's HTTP transport (https:// on port 443; its reader
 * corrected as in test/interop/telethon-http.test.ts), MTProto over https:// (key exchange and a
 * query) from our own client, and the
 * certificate swapped on disk then reloaded — in process (reloadTls) and by SIGHUP to `mtgate
 * serve` — while the server keeps running: new connections see the new certificate.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { clientHandshake } from '../../src/handshake/client.js'
import { encode } from '../../src/tl/index.js'
import { answerGetMeUnauthorized, drive, PYPI, type DriverOutput } from '../interop/python/driver.js'
import { HttpMtClient } from './http-client.js'
import { startE2eServer, type E2eServer } from './harness.js'

const HOST = '127.0.77.73'
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))
const DRIVER = fileURLToPath(new URL('./gramjs-wss-driver.js', import.meta.url))

/** A self-signed certificate for `ip` (CN names it, so two differ): { cert, key } paths. */
function makeCert(dir: string, name: string, ip: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`)
  const key = join(dir, `${name}.key`)
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=mtgate-${name}`, '-addext', `subjectAltName=IP:${ip}`], { encoding: 'utf8' })
  if (r.error !== undefined || r.status !== 0) throw new Error(`openssl failed (the openssl package is installed by .ci/run): ${r.error?.message ?? r.stderr}`)
  return { cert, key }
}

/** The CN of the certificate a new TLS connection to host:port is served. */
function servedCn(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host, port, rejectUnauthorized: false }, () => {
      const raw = s.getPeerX509Certificate()
      s.destroy()
      resolve(raw === undefined ? '' : (/CN=([^\n,]+)/.exec(raw.subject)?.[1] ?? ''))
    })
    s.on('error', reject)
  })
}

describe('TLS: wss:// and https://', () => {
  let dir: string
  let e: E2eServer
  let live: { cert: string; key: string }
  let a: { cert: string; key: string }
  let b: { cert: string; key: string }
  let httpsPort: number

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mtgate-tls-'))
    a = makeCert(dir, 'a', HOST)
    b = makeCert(dir, 'b', HOST)
    live = { cert: join(dir, 'live.crt'), key: join(dir, 'live.key') }
    copyFileSync(a.cert, live.cert)
    copyFileSync(a.key, live.key)
    e = await startE2eServer({ host: HOST, tcpPort: null, wsPort: 443, config: { tls: live, http: { port: 0 } } })
    httpsPort = e.server.addresses.find((x) => x.kind === 'http')!.port
  })
  after(async () => {
    await e?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('GramJS over wss:// (port 443): key exchange and help.getConfig; without our CA it cannot connect', async () => {
    const run = (ca: string | undefined): Promise<{ thisDc?: number; error?: string }> =>
      new Promise((resolve, reject) => {
        const env = { ...process.env, NODE_EXTRA_CA_CERTS: ca }
        if (ca === undefined) delete env.NODE_EXTRA_CA_CERTS
        const arg = JSON.stringify({ host: HOST, fingerprint: e.fingerprint.toString(), modulus: e.modulus.toString() })
        const p = spawn(process.execPath, [DRIVER, arg], { env, stdio: ['ignore', 'pipe', 'ignore'] })
        let out = ''
        const timer = setTimeout(() => p.kill('SIGKILL'), 30_000)
        p.stdout.on('data', (x: Buffer) => (out += x.toString()))
        p.on('error', reject)
        p.on('exit', () => {
          clearTimeout(timer)
          resolve(out.trim() === '' ? { error: 'no answer' } : (JSON.parse(out.trim().split('\n').pop()!) as { thisDc?: number; error?: string }))
        })
      })
    assert.deepEqual(await run(a.cert), { thisDc: 2 })
    assert.equal((await run(undefined)).thisDc, undefined, 'an untrusted certificate is refused by the client')
  })

  it("Telethon's HTTP transport over https:// (port 443): a new key, help.getConfig, ping, a reconnect", async () => {
    answerGetMeUnauthorized(e)
    const r = await drive<DriverOutput & { config?: { this_dc: number }; pong?: { type: string }; reconnect?: { nearest: { this_dc: number } } }>('scenarios.py', 'telethon', e, { port: 443, transport: 'ConnectionHttpFixed', ping_id: '5' }, PYPI, {
      env: { SSL_CERT_FILE: a.cert },
    })
    assert.equal(r.config?.this_dc, 2)
    assert.equal(r.pong?.type, 'Pong')
    assert.equal(r.reconnect?.nearest.this_dc, 2)
  })

  it('MTProto over https://: key exchange and a query', async () => {
    const c = new HttpMtClient(`https://${HOST}:${httpsPort}`, readFileSync(a.cert))
    try {
      const r = await clientHandshake(c.plain, { publicKeys: e.server.rsaKeys.all().map((k) => k.publicKey), dcId: 2 })
      c.useKey(r.authKey, r.serverSalt)
      const got = await c.until((await c.send(encode({ _: 'help.getNearestDc' }), true)).messages, (m) => m.result?._ === 'nearestDc')
      assert.ok(got.some((m) => m.result?._ === 'nearestDc'))
    } finally {
      c.close()
    }
  })

  it('reloadTls: new connections get the certificate now on disk; a bad file keeps the old one', async () => {
    assert.equal(await servedCn(HOST, 443), 'mtgate-a')
    copyFileSync(b.cert, live.cert)
    copyFileSync(b.key, live.key)
    e.server.reloadTls()
    assert.equal(await servedCn(HOST, 443), 'mtgate-b')
    assert.equal(await servedCn(HOST, httpsPort), 'mtgate-b')
    writeFileSync(live.cert, 'not a certificate')
    assert.throws(() => e.server.reloadTls())
    assert.equal(await servedCn(HOST, 443), 'mtgate-b')
    copyFileSync(b.cert, live.cert)
  })

  it('SIGHUP makes `mtgate serve` reload its certificate', async () => {
    const d = mkdtempSync(join(tmpdir(), 'mtgate-tls-cli-'))
    const files = { cert: join(d, 'c.crt'), key: join(d, 'c.key') }
    copyFileSync(a.cert, files.cert)
    copyFileSync(a.key, files.key)
    const config = join(d, 'mtgate.yaml')
    writeFileSync(config, [`host: ${HOST}`, 'tcp_ports: []', 'ws_port: 0', `data_dir: ${join(d, 'data')}`, 'store: { backend: memory }', `tls: { cert: ${files.cert}, key: ${files.key} }`, ''].join('\n'))
    const p = spawn(process.execPath, [MAIN, 'serve', '--config', config], { env: { ...process.env, MTGATE_LOG_LEVEL: 'silent' } })
    let out = ''
    p.stdout.on('data', (x: Buffer) => (out += x.toString()))
    try {
      const until = async (text: RegExp): Promise<RegExpExecArray> => {
        const t0 = Date.now()
        for (;;) {
          const m = text.exec(out)
          if (m !== null) return m
          if (Date.now() - t0 > 20_000) throw new Error(`no ${text} in: ${out}`)
          await new Promise((r) => setTimeout(r, 50))
        }
      }
      const port = Number((await until(/ws {3}wss:\/\/[\d.]+:(\d+)\/apiws/))[1])
      assert.match(out, /http https:\/\/[\d.]+:\d+\/api/)
      assert.equal(await servedCn(HOST, port), 'mtgate-a')
      copyFileSync(b.cert, files.cert)
      copyFileSync(b.key, files.key)
      p.kill('SIGHUP')
      await until(/SIGHUP: tls certificate reloaded/)
      assert.equal(await servedCn(HOST, port), 'mtgate-b')
      assert.equal(new X509Certificate(readFileSync(files.cert)).subject.includes('mtgate-b'), true)
    } finally {
      const code = new Promise((r) => p.once('exit', r))
      p.kill('SIGTERM')
      await code
      rmSync(d, { recursive: true, force: true })
    }
  })
})
