/**
 * The admin status page of a real `mtgate serve` seen in headless Chromium: mtcute over WebSocket
 * and over obfuscated TCP, a raw client on TCP abridged and one over HTTP are connected, a client
 * sends HTTP to the TCP port (a warning the server logs); then /status.json, the DOM Chromium
 * builds from / and the screenshot it takes (a PNG of the window size whose OCR text holds the
 * figures and the error) all show them; the page refreshes itself. Needs Debian's `chromium` and
 * `tesseract-ocr`.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { pino } from 'pino'
import { MtgateMetrics } from '../../src/admin/metrics.js'
import { AdminServer } from '../../src/admin/server.js'
import { REFRESH_MS } from '../../src/admin/status-page.js'
import type { StatusSnapshot } from '../../src/admin/status.js'
import { AuthKey } from '../../src/crypto/message.js'
import { clientHandshake } from '../../src/handshake/client.js'
import { MemoryAuthKeyStore } from '../../src/store/memory.js'
import type { AuthKeyRecord } from '../../src/store/types.js'
import { encode } from '../../src/tl/index.js'
import { recentProblems, rootLogger } from '../../src/util/log.js'
import { HttpMtClient } from '../e2e/http-client.js'
import { RawClient } from '../e2e/raw-client.js'
import { startE2eServer, waitFor, type E2eServer } from '../e2e/harness.js'
import { mtcuteClient, type MtcuteClient } from '../helpers/mtcute.js'
import { get } from './scrape.js'

const HOST = '127.0.0.1'
const WIDTH = 1200
const HEIGHT = 900

/** The path of `cmd` on PATH, or undefined. */
function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, cmd)
    if (dir !== '' && existsSync(p)) return p
  }
  return undefined
}

function run(file: string, args: string[], timeoutMs = 60_000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')}: ${err.message}\n${stderr}`))
      else resolve({ stdout, stderr })
    })
  })
}

/** Headless Chromium on `url` with its own throwaway profile; `mode` is --dump-dom or --screenshot=FILE (more flags may precede it). */
async function chromium(bin: string, url: string, ...mode: string[]): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'mtgate-chromium-'))
  try {
    const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--hide-scrollbars', '--no-first-run', `--user-data-dir=${profile}`, `--window-size=${WIDTH},${HEIGHT}`, ...mode, url]
    return (await run(bin, args)).stdout
  } finally {
    rmSync(profile, { recursive: true, force: true })
  }
}

/** Width and height from a PNG's IHDR (throws when `png` is not a PNG). */
function pngSize(png: Buffer): { width: number; height: number } {
  assert.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'PNG signature')
  assert.equal(png.toString('latin1', 12, 16), 'IHDR')
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) }
}

/** The big number of figure `id` in the page's HTML. */
function figure(html: string, id: string): string | undefined {
  return new RegExp(`<section class="fig" id="${id}">.*?<div class="value">([^<]*)</div>`, 's').exec(html)?.[1]
}

describe('admin status page of mtgate serve, in headless Chromium', () => {
  const tools = { chromium: which('chromium'), tesseract: which('tesseract') }
  let e: E2eServer
  let admin: { host: string; port: number }
  const closers: Array<() => unknown> = []
  let status: StatusSnapshot
  /**
   * Keys the handshakes stored. Three clients make three keys, but mtcute drops a key whose first
   * byte is 0 (1 in 256) and makes another, so the server may have created one more than it uses.
   */
  let stored = 0

  before(async () => {
    // the server's warnings go to the status page's ring only (not to the test's stderr)
    const store = new MemoryAuthKeyStore()
    const put = store.put.bind(store)
    store.put = async (record: AuthKeyRecord) => {
      const out = await put(record)
      if (out === 'created') stored++
      return out
    }
    e = await startE2eServer({ host: HOST, tcpPort: 0, wsPort: 0, admin: true, store, log: pino({ level: 'warn' }, recentProblems) })
    admin = e.server.adminAddress!
    for (const transport of ['websocket', 'obfuscated'] as const) {
      const tg: MtcuteClient = await mtcuteClient({ host: HOST, port: transport === 'websocket' ? e.wsPort! : e.tcpPort!, pem: e.publicPem, transport })
      closers.push(() => tg.destroy())
      assert.equal((await tg.call({ _: 'help.getNearestDc' }))._, 'nearestDc')
    }
    // a key made over HTTP, used there and on TCP abridged
    const http = new HttpMtClient(`http://${HOST}:${e.wsPort}`)
    closers.push(() => http.close())
    const r = await clientHandshake(http.plain, { publicKeys: e.server.rsaKeys.all().map((k) => k.publicKey), dcId: 2 })
    http.useKey(r.authKey, r.serverSalt)
    const first = await http.send(encode({ _: 'help.getNearestDc' }), true)
    await http.until(first.messages, (m) => m.result?._ === 'nearestDc')
    const raw = await RawClient.connect({ host: HOST, port: e.tcpPort!, key: new AuthKey(r.authKey), salt: r.serverSalt, codec: 'abridged' })
    closers.push(() => raw.close())
    assert.equal(((await raw.invoke({ _: 'help.getNearestDc' })) as { _: string })._, 'nearestDc')
    // HTTP spoken to the TCP port: refused, and logged as a warning
    const stray = connect(e.tcpPort!, HOST, () => stray.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
    await new Promise((resolve) => stray.on('close', resolve).on('error', () => undefined))
    await waitFor(() => recentProblems.list().some((p) => p.msg === 'rejecting connection'), 5000, 'the refusal logged')
    status = (await waitForStatus(admin, (s) => s.connections?.total === 4 && s.sessions === 4)) as StatusSnapshot
  })

  after(async () => {
    for (const c of closers.reverse()) await c()
    await e?.close()
  })

  it('/status.json: connections by transport, sessions, keys, this node, the refusal among the recent errors', () => {
    const by = Object.fromEntries(status.connections!.byTransport.map((r) => [r.transport, r.count]))
    assert.deepEqual(by, { 'tcp abridged': 1, 'tcp intermediate': 0, 'tcp padded': 0, 'tcp full': 0, 'tcp obfuscated': 1, 'tcp fake-tls': 0, websocket: 1, http: 1 })
    assert.equal(status.sessions, 4, 'two mtcute sessions, one over HTTP, one on TCP abridged')
    assert.ok(stored >= 3, `${stored} keys stored`)
    assert.deepEqual(status.authKeys, { loaded: 3, createdSinceStart: stored })
    assert.equal(status.role, 'serve')
    assert.deepEqual(status.nodes.map((n) => [n.id, n.role, n.self]), [['e2e', 'serve', true]])
    assert.equal(status.etcdReachable, null)
    assert.match(status.version, /^\d+\.\d+\.\d+/)
    const refusal = status.recentErrors.find((p) => p.msg === 'rejecting connection')
    assert.ok(refusal, 'the refusal is a recent error')
    assert.equal(refusal.level, 'warn')
    assert.match(refusal.detail, /HTTP transport is not served on this port/)
    assert.ok(Math.abs(Date.parse(refusal.time) - Date.now()) < 60_000, 'with its time')
  })

  it('/ and /status answer the page as HTML with a policy allowing nothing from elsewhere; other paths 404', async () => {
    for (const path of ['/', '/status']) {
      const res = await fetch(`http://${admin.host}:${admin.port}${path}`)
      assert.equal(res.status, 200)
      assert.match(res.headers.get('content-type') ?? '', /^text\/html/)
      assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/)
      const html = await res.text()
      assert.equal(figure(html, 'connections'), '4', 'rendered on the server')
      assert.doesNotMatch(html, /(src|href)=["']?(https?:)?\/\//, 'no outside assets')
    }
    assert.equal((await get(admin, '/status.html')).status, 404)
  })

  it('Chromium: the DOM holds the figures and the error, markup in a log line stays text', async () => {
    if (tools.chromium === undefined) assert.fail('chromium not found on PATH: install it (apt-get install -y chromium; .ci/run does)')
    // a warning whose text is markup: shown as text, never parsed
    const log = pino({ level: 'warn' }, recentProblems)
    log.warn({ reason: '<img src=x onerror="document.title=1">' }, 'probe <b id="injected">bold</b>')
    const dom = await chromium(tools.chromium, `http://${admin.host}:${admin.port}/`, '--dump-dom')
    assert.equal(figure(dom, 'connections'), '4')
    assert.equal(figure(dom, 'sessions'), '4')
    assert.equal(figure(dom, 'keys'), '3')
    assert.equal(figure(dom, 'node-count'), '1')
    for (const [row, n] of [['tcp abridged', 1], ['tcp obfuscated', 1], ['websocket', 1], ['http', 1], ['tcp full', 0]] as const) {
      assert.match(dom, new RegExp(`data-transport="${row}"><th>${row}</th><td>${n}</td>`), `${row}: ${n}`)
    }
    assert.match(dom, /<span class="msg">rejecting connection<\/span> <span class="detail">[^<]*HTTP transport is not served on this port/)
    assert.match(dom, /probe &lt;b id="injected"&gt;bold&lt;\/b&gt;/)
    assert.doesNotMatch(dom, /<b id="injected">|<img src=x/)
    assert.match(dom, /<title>mtgate serve e2e: status<\/title>/, 'the injected handler did not run')
  })

  it('Chromium screenshot: a PNG of the window size whose OCR text shows the figures and the error', async () => {
    const missing = Object.entries(tools).filter(([, p]) => p === undefined).map(([n]) => (n === 'tesseract' ? 'tesseract-ocr' : n))
    if (missing.length > 0) assert.fail(`${missing.join(' and ')} not found on PATH: install (apt-get install -y ${missing.join(' ')}; .ci/run does)`)
    const dir = mkdtempSync(join(tmpdir(), 'mtgate-status-'))
    try {
      const file = join(dir, 'status.png')
      await chromium(tools.chromium!, `http://${admin.host}:${admin.port}/`, `--screenshot=${file}`)
      const shown = await waitForStatus(admin, () => true)
      const png = readFileSync(file)
      assert.deepEqual(pngSize(png), { width: WIDTH, height: HEIGHT })
      // sparse text (psm 11): each block on its own, the big figures too
      const words = (await run(tools.tesseract!, [file, '-', '--psm', '11'])).stdout.replace(/\s+/g, ' ')
      for (const w of ['Connections', 'Sessions', 'Auth keys', 'Errors', 'Connections by transport', 'tcp abridged', 'websocket', 'Recent errors', 'WARN rejecting connection', 'HTTP transport is not served']) {
        assert.ok(words.includes(w), `OCR finds "${w}" in: ${words}`)
      }
      const figures = /Connections Sessions Auth keys Nodes Errors (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(words)
      assert.ok(figures, `OCR finds the figures under their labels in: ${words}`)
      assert.deepEqual(figures.slice(1, 5).map(Number), [4, 4, 3, 1], 'connections, sessions, keys, nodes')
      assert.equal(Number(figures[5]), shown.recentErrors.length, 'errors: as many as /status.json has')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('admin status page refresh, in headless Chromium', () => {
  it(`fetches the page again every ${REFRESH_MS / 1000} s and shows the new figures`, async () => {
    const bin = which('chromium')
    if (bin === undefined) assert.fail('chromium not found on PATH: install it (apt-get install -y chromium; .ci/run does)')
    const metrics = new MtgateMetrics({ role: 'serve', node: 'refresh' })
    let renders = 0
    // each snapshot shows one more session: the figure tells which render the DOM holds
    metrics.status.observeSessions({ sessions: { get sessionCount() { return renders++ }, keyCount: 0 } })
    const server = (await AdminServer.start({ host: HOST, port: 0 }, metrics, async () => undefined, rootLogger))!
    try {
      const url = `http://${server.address.host}:${server.address.port}/`
      assert.equal(figure(await chromium(bin, url, '--dump-dom'), 'sessions'), '0', 'no refresh before the page is dumped')
      // virtual time runs the page's timers at once: two refreshes within 2.4 periods
      const dom = await chromium(bin, url, `--virtual-time-budget=${Math.round(REFRESH_MS * 2.4)}`, '--dump-dom')
      assert.equal(figure(dom, 'sessions'), '3', 'the third render of this page (the second refresh)')
      assert.equal(renders, 4)
    } finally {
      await server.close()
    }
  })
})

async function waitForStatus(admin: { host: string; port: number }, pred: (s: StatusSnapshot) => boolean): Promise<StatusSnapshot> {
  let last: StatusSnapshot | undefined
  const t0 = Date.now()
  while (Date.now() - t0 < 10_000) {
    last = JSON.parse((await get(admin, '/status.json')).body) as StatusSnapshot
    if (pred(last)) return last
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`status never settled: ${JSON.stringify(last)}`)
}
