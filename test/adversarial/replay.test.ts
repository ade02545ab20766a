/**
 * replay: a good client's encrypted packet (a ping), captured on the wire, is replayed on fresh
 * sockets from another address. The good client's session must stay where it is: its next answers
 * arrive on its own socket, its connection is not closed, no new session is created.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { assertCommon, runScenario, withServer, withTimeout } from './harness.js'
import { isRpcError } from '../e2e/raw-client.js'

test('replay: a replayed packet does not move the good client session', { timeout: 60_000 }, (t) =>
  withServer(t, { limits: { first_packet_timeout_ms: 2000, frame_timeout_ms: 2000 } }, async (srv, good, say) => {
    // capture the next packet the good client writes (intermediate: 4-byte length + packet)
    const sock = (good.client as unknown as { socket: Socket }).socket
    const captured: Buffer[] = []
    const origWrite = sock.write.bind(sock) as (chunk: Buffer) => boolean
    sock.write = ((chunk: Buffer) => {
      if (Buffer.isBuffer(chunk) && chunk.length > 4) captured.push(Buffer.from(chunk))
      return origWrite(chunk)
    }) as typeof sock.write
    await withTimeout(good.client.ping(), 5000, 'ping to capture')
    sock.write = origWrite as typeof sock.write
    assert.ok(captured.length >= 1, 'no packet captured')
    const frame = captured[captured.length - 1]!
    const packet = frame.subarray(4, 4 + frame.readUInt32LE(0))
    say(`captured a ${packet.length}-byte encrypted packet of the good client`)

    const newSessionsBefore = good.client.log.newSessions
    const r = await runScenario(
      srv,
      good,
      { attack: 'replay', localAddress: '127.0.0.25', intensity: 4, params: { packet, repeat: 5 }, warmupMs: 300, durationMs: 3000, pings: 100, attackMs: 2000, say },
      (idle) => idle + 100,
    )
    assert.ok(r.aliveAfter, `server died: ${srv.exitInfo()}`)
    const rep = r.report
    assert.ok(rep.sent >= 4, `replay sent only ${rep.sent} packets`)
    assert.ok(!good.client.isClosed, 'the good client connection was closed after the replay')
    // the session stays on the good client's socket: answers to new requests arrive there
    await withTimeout(good.client.ping(), 5000, 'ping on the good socket after the replay')
    const cfg = await withTimeout(good.client.invoke({ _: 'help.getNearestDc' } as never), 5000, 'help.getNearestDc on the good socket after the replay')
    assert.ok(!isRpcError(cfg), `help.getNearestDc failed: ${JSON.stringify(cfg)}`)
    assert.equal(good.client.log.newSessions, newSessionsBefore, 'the replay made the server create a new session for the good client')
    say(`replay sockets got back ${rep.packetsBack} packets (${rep.encryptedBack} encrypted, transport errors ${JSON.stringify(rep.transportErrorsBack)})`)
    assertCommon(assert, srv, r, 20)
  }),
)
