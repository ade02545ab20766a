/**
 * TDLib 1.8.65 with an MTProto proxy (proxyTypeMtproto) whose address is our server's TCP port:
 * TDLib talks to mtgate as to an MTProxy, and mtgate, configured with the secret
 * (mtproxy.secrets, plain obfuscation off), serves it. A `dd` secret: obfuscated2 keyed by the
 * secret around padded intermediate; an `ee` secret: the same inside fake-TLS (TDLib's ClientHello
 * with the domain as SNI, our answer checked by TDLib). Runs in a loopback-only network namespace
 * like test/interop/tdlib.test.ts; the SOCKS5 redirector is not used.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { drive, served, type Run } from './tdlib/drive.js'

const DOMAIN = 'mtgate.example'

/** TDLib got ready and its RPCs were answered over connections keyed by the secret, as `kind` has them. */
function assertServedThroughMtproxy(r: Run, fakeTls: boolean): void {
  for (const s of ['authorizationStateWaitPhoneNumber', 'connectionStateReady', 'rpc:getCountryCode', 'rpc:testNetwork']) {
    assert.ok(s in r.stages, `${s} not reached: ${JSON.stringify(r.stages)}`)
  }
  assert.equal(r.countryCode, 'XT')
  assert.equal(r.testNetwork, 'ok')
  assert.deepEqual(r.socksRequests, [], 'TDLib went through the SOCKS5 redirector')
  assert.ok(r.accepted.length > 0)
  for (const c of r.accepted) {
    assert.deepEqual({ ...c, dcId: Math.abs(c.dcId ?? 0) }, { codec: 'padded', obfuscated: true, fakeTls, secretIndex: 0, dcId: 1 }, JSON.stringify(r.accepted))
  }
  assert.ok(served(r, 'help.getNearestDc').length > 0, `help.getNearestDc not served: ${JSON.stringify(r.rpcs)}`)
  assert.deepEqual([...new Set(r.rpcs.map((c) => c.dcId))], [1])
  assert.deepEqual(r.rejectLines, [], 'the server rejected a connection')
  assert.deepEqual(r.limitLines, [], 'the server logged a limit refusal')
}

describe('TDLib with mtgate as its MTProto proxy', () => {
  it('dd secret: obfuscated2 keyed by the secret around padded intermediate', async () => {
    const r = await drive({ mtproxySecret: 'dd' + randomBytes(16).toString('hex') })
    assertServedThroughMtproxy(r, false)
  })

  it(`ee secret (fake-TLS, SNI ${DOMAIN}): TDLib accepts our ServerHello and its stream is served inside TLS records`, async () => {
    const r = await drive({ mtproxySecret: 'ee' + randomBytes(16).toString('hex') + Buffer.from(DOMAIN).toString('hex') })
    assertServedThroughMtproxy(r, true)
  })

  it("ee secret naming another domain than the server's: each ClientHello refused for its SNI, TDLib never ready", async () => {
    const key = randomBytes(16).toString('hex')
    const r = await drive({
      mtproxySecret: 'ee' + key + Buffer.from('www.example.org').toString('hex'),
      mtproxyServerSecret: 'ee' + key + Buffer.from(DOMAIN).toString('hex'),
      mtproxyRefusedMs: 3000,
    })
    assert.ok(!('connectionStateReady' in r.stages), JSON.stringify(r.stages))
    assert.deepEqual(r.accepted, [])
    assert.deepEqual(r.rpcs, [])
    const refusals = r.rejectLines.map((l) => JSON.parse(l) as { reason: string; err: string })
    assert.ok(refusals.length > 0, 'no refusal logged')
    for (const x of refusals) {
      assert.equal(x.reason, 'fake_tls_sni')
      assert.match(x.err, /www\.example\.org/)
    }
  })
})
