/**
 * Telegram Android's network library (tgnet, layer 222) against the whole server, its byte
 * sequences played by our own code (tgnet itself is built and run by hand: docs/tgnet.md). Each
 * test names the tgnet function it stands for.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { AuthKey } from '../../src/crypto/message.js'
import { clientHandshake } from '../../src/handshake/client.js'
import { serialize } from '../../src/handshake/messages.js'
import { AuthKeyType, type AuthKeyRecord } from '../../src/store/types.js'
import { encode, type TlObject } from '../../src/tl/index.js'
import { PlainTcpClient, TransportErrorPacket } from '../helpers/clients.js'
import { buildBindMessage } from '../session/harness.js'
import { startE2eServer, waitFor, type E2eServer } from './harness.js'
import { isRpcError, RawClient, withInitConnection } from './raw-client.js'
import { TgnetPlainRpc } from './tgnet-wire.js'

const nowSec = (): number => Math.floor(Date.now() / 1000)

/** invokeWithLayer(layer, initConnection(api_id 4, query)), as tgnet wraps its first request. */
const withInit = (layer: number, query: TlObject): Buffer => withInitConnection(layer, 4, query as unknown as Record<string, unknown>)

describe('tgnet on the wire', () => {
  let e: E2eServer
  let appConfigCalls = 0

  const putKey = async (type: AuthKeyType, expiresAt?: number): Promise<{ key: AuthKey; record: AuthKeyRecord }> => {
    const key = new AuthKey(randomBytes(256))
    const record: AuthKeyRecord = { id: key.id, key: key.key, type, createdAt: nowSec() }
    if (expiresAt !== undefined) record.expiresAt = expiresAt
    assert.equal(await e.server.store.put(record), 'created')
    return { key, record }
  }
  const connect = (key: AuthKey, salt?: bigint): Promise<RawClient> => RawClient.connect({ host: e.host, port: e.tcpPort!, key, salt })

  before(async () => {
    e = await startE2eServer({ host: '127.0.77.61', tcpPort: 0 })
    e.server.handle('help.getAppConfig', () => {
      appConfigCalls++
      return { _: 'help.appConfigNotModified' } as never
    })
  })
  after(async () => {
    await e.close()
  })

  for (const [codec, paddings] of [
    ['padded', [0, 1, 15, 16, 100, 241]], // plus the 0..15 bytes the padded codec itself adds
    ['intermediate', [0, 4, 128, 252, 256]],
  ] as const) {
    it(`Handshake::sendAckRequest + Connection::sendData over ${codec}: msgs_ack after each answer, 0..256 padding bytes; perm and temp keys stored`, async () => {
      const plain = new TgnetPlainRpc(await PlainTcpClient.connect(e.host, e.tcpPort!, codec), paddings)
      try {
        const publicKeys = e.server.rsaKeys.all().map((k) => k.publicKey)
        plain.ack([1n << 32n]) // before any exchange: dropped, no answer
        const perm = await clientHandshake(plain, { publicKeys, dcId: 2 })
        const temp = await clientHandshake(plain, { publicKeys, dcId: 2, expiresIn: 86400 })
        assert.equal(plain.answered.length, 6, 'three answers per exchange, each acknowledged')
        assert.deepEqual((await e.server.store.get(perm.authKeyId))?.key, perm.authKey)
        assert.equal((await e.server.store.get(temp.authKeyId))?.type, AuthKeyType.temp)
        // The connection is still open: a later exchange on it is answered.
        const again = await plain.call(serialize({ _: 'req_pq_multi', nonce: randomBytes(16) }))
        assert.equal(again.readUInt32LE(0), 0x05162463, 'resPQ')
      } finally {
        plain.client.close()
      }
    })
  }

  it('anything else unencrypted (an rpc, 257 bytes of padding) still gets -404', async () => {
    const ping = new TgnetPlainRpc(await PlainTcpClient.connect(e.host, e.tcpPort!, 'padded'), [0])
    await assert.rejects(ping.call(encode({ _: 'ping', ping_id: 1n })), (err: unknown) => err instanceof TransportErrorPacket && err.code === -404)
    ping.client.close()
    const padded = new TgnetPlainRpc(await PlainTcpClient.connect(e.host, e.tcpPort!, 'padded'), [257])
    await assert.rejects(padded.call(serialize({ _: 'req_pq_multi', nonce: randomBytes(16) })), (err: unknown) => err instanceof TransportErrorPacket && err.code === -404)
    padded.client.close()
  })

  it('ConnectionsManager new_session_created: a first container [destroy_session, request] announces the smallest msg_id; the request runs once', async () => {
    const { key } = await putKey(AuthKeyType.perm)
    const first = await connect(key)
    assert.ok(!isRpcError(await first.invoke(withInit(222, { _: 'help.getNearestDc' }))))
    const oldSession = first.sessionId
    const salt = first.salt
    first.close()

    const restarted = await connect(key, salt)
    try {
      const destroyId = restarted.allocMsgId()
      const requestId = restarted.allocMsgId()
      const calls = appConfigCalls
      const [answer] = await restarted.sendContainer([
        { msgId: destroyId, body: encode({ _: 'destroy_session', session_id: oldSession }), contentRelated: true },
        { msgId: requestId, body: withInit(222, { _: 'help.getAppConfig', hash: 0 } as never), contentRelated: true, query: true },
      ])
      assert.ok(!isRpcError(answer!), 'answered')
      assert.deepEqual(restarted.log.newSessionFirstMsgIds, [destroyId], 'first_msg_id is the first inner message, not the container')
      // tgnet resends every request whose msg_id is below first_msg_id: none here.
      assert.ok(requestId >= restarted.log.newSessionFirstMsgIds[0]!)
      await new Promise((r) => setTimeout(r, 100))
      assert.equal(appConfigCalls - calls, 1, 'the request ran once')
    } finally {
      restarted.close()
    }
  })

  for (const order of ['bind first', 'initConnection first'] as const) {
    it(`Handshake.cpp auth.bindTempAuthKey (${order}): expires_at hours in the past is bound; the newer layer in the container wins`, async () => {
      const perm = await putKey(AuthKeyType.perm)
      const old = await connect(perm.key)
      assert.ok(!isRpcError(await old.invoke(withInit(198, { _: 'help.getNearestDc' }))))
      old.close()
      let stored: { layer?: number } | undefined
      async function poll(): Promise<void> {
        stored = await e.server.store.loadState(perm.record.id)
      }
      const timer = setInterval(() => void poll(), 20)
      try {
        await waitFor(() => stored?.layer === 198, 5000, 'layer 198 stored')
        const temp = await putKey(AuthKeyType.temp, nowSec() + 86400)
        const c = await connect(temp.key)
        try {
          await c.ping() // learns the server salt (bad_server_salt) before the container
          const bindId = c.allocMsgId()
          const initId = c.allocMsgId()
          const expiresAt = nowSec() - 6 * 3600 // tgnet with its clock a day ahead
          const bind = encode({
            _: 'auth.bindTempAuthKey',
            perm_auth_key_id: perm.record.id,
            nonce: 7n,
            expires_at: expiresAt,
            encrypted_message: await buildBindMessage(perm.record, temp.record.id, c.sessionId, order === 'bind first' ? bindId : initId, 7n, expiresAt),
          } as never)
          const init = withInit(222, { _: 'help.getConfig' })
          const msgs =
            order === 'bind first'
              ? [
                  { msgId: bindId, body: bind, contentRelated: true, query: true },
                  { msgId: initId, body: init, contentRelated: true, query: true },
                ]
              : [
                  { msgId: bindId, body: init, contentRelated: true, query: true },
                  { msgId: initId, body: bind, contentRelated: true, query: true },
                ]
          const results = await c.sendContainer(msgs)
          const bound = results[order === 'bind first' ? 0 : 1] as { _: string }
          assert.equal(bound._, 'boolTrue')
          assert.equal((await e.server.store.getBinding(temp.record.id))?.expiresAt, temp.record.expiresAt, "the temp key's lifetime governs")
          await waitFor(() => stored?.layer === 222, 5000, 'layer 222 stored for the permanent key')
        } finally {
          c.close()
        }
      } finally {
        clearInterval(timer)
      }
    })
  }
})
