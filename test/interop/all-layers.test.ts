/**
 * Clients of seven layers on one server at once, each unmodified: GramJS (198), teleproto (214),
 * mtcute (227), gotd/td (228), Telethon 1.25 from Debian (144), Telethon 1.45 and
 * Kurigram from PyPI (229). Each ties its key to one user (account.updateStatus, see
 * push-clients.ts) and registers its update handler; then ONE push to that user reaches every
 * client, converted and written once per distinct layer, and each handler reads the message with
 * the `message` constructor of its own layer.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { RpcContext } from '../../src/session/api.js'
import { servedLayer } from '../../src/tl/index.js'
import { gramjs, gramjsClient, type GramClient, type GramObject } from '../helpers/gramjs.js'
import { mtcuteClient, type MtcuteClient } from '../helpers/mtcute.js'
import { waitFor } from '../helpers/wait.js'
import { startE2eServer, type E2eServer } from '../e2e/harness.js'
import { buildProbe, type ProbeResult } from './gotd/probe.js'
import { installPushReadiness, messageCtorFor, pushNewMessage, pushText, startGotdPushClient, startPythonPushClient, withText, type PushClient, type PythonPushResult } from './push-clients.js'
import { answerGetMeUnauthorized } from './python/driver.js'

const USER = 7n
const DEBIAN = { python: '/usr/bin/python3', install: 'Debian\'s python3-telethon is not installed: run `bash .ci/deps/python-debian.sh`' }

type MtUpdate = { _: string; update?: { _: string; message?: { _: string; message?: string } } }

describe('one push, seven clients of six layers, one server', () => {
  let e: E2eServer
  let dir: string
  const clients: { gram?: GramClient; tele?: GramClient; mt?: MtcuteClient } = {}
  const gramGot: GramObject[] = []
  const teleGot: GramObject[] = []
  const mtGot: MtUpdate[] = []
  let python: Record<string, PushClient<PythonPushResult>>
  let gotd: PushClient<ProbeResult>
  let ready: RpcContext[]
  const text = pushText('one push, every layer')
  let reached = 0

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mtgate-all-layers-'))
    const bin = join(dir, 'gotd-probe')
    await buildProbe(bin)
    e = await startE2eServer({ host: '127.0.78.1' })
    const pem = join(dir, 'server.pub')
    writeFileSync(pem, e.publicPem)
    const readiness = installPushReadiness(e, USER)
    answerGetMeUnauthorized(e)
    e.server.handle('updates.getState', () => ({ _: 'updates.state' as const, pts: 0, qts: 0, date: Math.floor(Date.now() / 1000), seq: 0, unread_count: 0 }))

    python = {
      'Telethon 1.25 (Debian)': startPythonPushClient(e, 'telethon', text, DEBIAN),
      'Telethon (PyPI)': startPythonPushClient(e, 'telethon', text),
      'Kurigram (PyPI)': startPythonPushClient(e, 'pyrogram', text),
    }
    gotd = startGotdPushClient(e, bin, pem, dir, text)

    clients.gram = gramjsClient({ host: e.host, key: e, transport: 'full' })
    clients.tele = gramjsClient({ host: e.host, key: e, transport: 'abridged', lib: 'teleproto' })
    for (const [c, got, lib] of [[clients.gram, gramGot, 'telegram'], [clients.tele, teleGot, 'teleproto']] as const) {
      await c.connect()
      c.addEventHandler((u) => got.push(u), new (gramjs(lib).Raw)({}))
      const { account } = gramjs(lib).Api as unknown as { account: { UpdateStatus: new (a: object) => object } }
      await c.invoke(new account.UpdateStatus({ offline: false }))
    }
    clients.mt = await mtcuteClient({ host: e.host, port: 80, pem: e.publicPem, updates: true })
    ;(clients.mt._client as unknown as { onServerUpdate: { add(cb: (u: MtUpdate) => void): void } }).onServerUpdate.add((u) => mtGot.push(u))
    await clients.mt.call({ _: 'account.updateStatus', offline: false })

    await Promise.all([...Object.values(python).map((p) => p.ready), gotd.ready])
    ready = await readiness.waitFor(7, 60_000)
    reached = pushNewMessage(e, USER, text)
  })
  after(async () => {
    await clients.gram?.destroy()
    await clients.tele?.destroy()
    await clients.mt?.destroy()
    await e?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('seven keys of the user, at layers 144, 198, 214, 227, 228, 229, 229; the one push reached every session', () => {
    assert.deepEqual(
      ready.map((c) => c.layer).sort(),
      [144, 198, 214, 227, 228, 229, 229],
    )
    assert.equal(new Set(ready.map((c) => c.authKeyId)).size, 7)
    assert.equal(reached, 7)
    assert.deepEqual([...new Set(ready.map((c) => servedLayer(c.layer)))].sort(), [144, 198, 214, 227, 228, 229])
  })

  for (const [name, lib] of [['GramJS', 'gram'], ['teleproto', 'tele']] as const) {
    const layer = lib === 'gram' ? 198 : 214
    it(`${name} (${layer}): its Raw handler reads the message as message#${messageCtorFor(layer)}`, async () => {
      const got = lib === 'gram' ? gramGot : teleGot
      await waitFor(() => got.some((u) => u.className === 'UpdateNewMessage'), 20_000, `UpdateNewMessage in ${name}`)
      const m = got.find((u) => u.className === 'UpdateNewMessage')!.message as GramObject
      assert.equal(m.message, text)
      assert.equal((m as unknown as { CONSTRUCTOR_ID: number }).CONSTRUCTOR_ID.toString(16).padStart(8, '0'), messageCtorFor(layer))
    })
  }

  it('mtcute (227): its server-update handler reads the message', async () => {
    await waitFor(() => mtGot.some((u) => u._ === 'updates'), 20_000, 'updates in mtcute')
    const u = mtGot.find((x) => x._ === 'updates') as unknown as { updates: { _: string; message: { _: string; message: string } }[] }
    assert.deepEqual(u.updates.map((x) => [x._, x.message._, x.message.message]), [['updateNewMessage', 'message', text]])
  })

  it(`gotd (228): its UpdateDispatcher reads the message as message#${messageCtorFor(228)}`, async () => {
    const res = await gotd.result
    assert.equal(res.layer, 228)
    assert.deepEqual(withText(res.received, text).map((r) => [r.update, r.message_ctor]), [['updateNewMessage', messageCtorFor(228)]])
  })

  for (const [name, layer] of [['Telethon 1.25 (Debian)', 144], ['Telethon (PyPI)', 229], ['Kurigram (PyPI)', 229]] as const) {
    it(`${name} (${layer}): its raw update handler reads the message as message#${messageCtorFor(layer)}`, async () => {
      const res = await python[name]!.result
      assert.equal(res.layer, layer)
      assert.equal(res.status, true)
      const got = withText(res.received, text)
      assert.equal(got.length, 1, JSON.stringify(res.received))
      assert.equal(got[0]!.message_ctor, messageCtorFor(layer))
    })
  }
})
