/**
 * The hand-written hot-path codec (src/cluster/wire*.ts) against protobufjs reading the .proto:
 * what we write, a generic implementation reads identically, and the other way round — including
 * negative ids, negative seq_no, empty and large bodies, unicode strings, unknown fields.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import * as protoLoader from '@grpc/proto-loader'
import { protoDir } from '../../src/cluster/proto.js'
import { WireError, type WireGatewayFrame, type WireSessionFrame } from '../../src/cluster/wire.js'
import { decodeGatewayFrame, decodeSessionFrame } from '../../src/cluster/wire-decode.js'
import { encodeGatewayFrame, encodeSessionFrame } from '../../src/cluster/wire-encode.js'

// protobufjs as loaded by proto-loader (the generic path), with int64 as strings
const pkg = protoLoader.loadSync(join(protoDir(), 'mtgate_session.proto'), { keepCase: false, longs: String, bytes: Buffer, defaults: false, oneofs: true })
const connect = (pkg['mtgate.session.v1.Session'] as unknown as Record<string, protoLoader.MethodDefinition<object, object>>).Connect!

const gwFrame: WireGatewayFrame = {
  items: [
    { hello: { gatewayId: 'gw-1' } },
    {
      data: {
        gatewayId: '',
        connId: '17',
        clientAddr: '127.0.0.1:5555',
        dcId: 4,
        transport: 'ws',
        authKeyId: -0x7123456789abcdefn,
        salt: 0x1122334455667788n,
        sessionId: -1n,
        msgId: 0x6f0000000000001cn,
        seqNo: 7,
        body: randomBytes(1000),
        receivedAt: 1795613932928,
      },
    },
    { data: { gatewayId: '', connId: 'é✓', clientAddr: '', dcId: 0, transport: 'http', authKeyId: 1n, salt: 0n, sessionId: 0n, msgId: 4n, seqNo: -3, body: Buffer.alloc(0), receivedAt: 0 } },
    { closed: { connId: '17' } },
  ],
}

const sFrame: WireSessionFrame = {
  items: [
    { send: { connId: '17', authKeyId: -5n, salt: 9n, sessionId: 0x7fffffffffffffffn, msgId: -0x8000000000000000n, seqNo: 2147483647, body: randomBytes(70000) } },
    { close: { connId: '18', reason: 'ping_delay_disconnect' } },
    { goodbye: { nodeId: 's1' } },
  ],
}

/** InboundMessage.transport's numbers on the wire. */
const TRANSPORT_NUMBERS: Record<string, number> = { tcp: 1, ws: 2, http: 3 }

/** Our objects in protobufjs's shape (int64 as decimal strings, the transport as its number). */
function generic(x: unknown): unknown {
  if (typeof x === 'bigint') return x.toString()
  if (Buffer.isBuffer(x)) return x
  if (Array.isArray(x)) return x.map(generic)
  if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, k === 'transport' ? TRANSPORT_NUMBERS[v as string] : generic(v)]))
  return x
}

describe('hot-path wire codec vs protobufjs', () => {
  it('GatewayFrame: ours → protobufjs', () => {
    const theirs = connect.requestDeserialize(encodeGatewayFrame(gwFrame)) as { items: Record<string, unknown>[] }
    assert.equal(theirs.items.length, 4)
    const d = theirs.items[1]!.data as Record<string, unknown>
    assert.equal(d.authKeyId, (-0x7123456789abcdefn).toString())
    assert.equal(d.sessionId, '-1')
    assert.equal(d.receivedAt, '1795613932928')
    assert.equal(d.transport, 2)
    assert.deepEqual(d.body, (gwFrame.items[1] as { data: { body: Buffer } }).data.body)
    const d2 = theirs.items[2]!.data as Record<string, unknown>
    assert.equal(d2.connId, 'é✓')
    assert.equal(d2.seqNo, -3)
    assert.equal(d2.transport, 3)
    assert.deepEqual((theirs.items[3]!.closed as { connId: string }).connId, '17')
    assert.deepEqual((theirs.items[0]!.hello as { gatewayId: string }).gatewayId, 'gw-1')
  })

  it('GatewayFrame: protobufjs → ours (and ours → ours)', () => {
    const bytes = connect.requestSerialize(generic(gwFrame) as object)
    const ours = decodeGatewayFrame(bytes)
    assert.deepEqual(ours, { items: gwFrame.items.map((it) => ('data' in it ? { data: { ...it.data, body: Buffer.from(it.data.body) } } : it)) })
    assert.deepEqual(decodeGatewayFrame(encodeGatewayFrame(gwFrame)), ours)
  })

  it('SessionFrame both ways', () => {
    const theirs = connect.responseDeserialize(encodeSessionFrame(sFrame)) as { items: Record<string, unknown>[] }
    const s = theirs.items[0]!.send as Record<string, unknown>
    assert.equal(s.msgId, (-0x8000000000000000n).toString())
    assert.equal(s.sessionId, 0x7fffffffffffffffn.toString())
    assert.equal(s.seqNo, 2147483647)
    assert.deepEqual(theirs.items[1]!.close, { connId: '18', reason: 'ping_delay_disconnect' })
    assert.deepEqual(theirs.items[2]!.goodbye, { nodeId: 's1' })
    const ours = decodeSessionFrame(connect.responseSerialize(generic(sFrame) as object))
    assert.deepEqual(ours, sFrame)
  })

  it('runs of one connection (strings reused by bytes), ids of equal length, gatewayId not on the wire', () => {
    const conns = ['17', '17', '18', '18', '17', 'é✓', 'é✓', 'x'.repeat(70), 'x'.repeat(70), 'x'.repeat(69) + 'y', '', '17']
    const addrs = ['127.0.0.1:1', '127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:2', '127.0.0.1:1', '::1', '::1', 'a', 'a', 'b', '', '127.0.0.1:1']
    const items: WireGatewayFrame['items'] = conns.map((connId, i) => ({
      data: { gatewayId: 'gw-1', connId, clientAddr: addrs[i]!, dcId: i % 6, transport: (['tcp', 'ws', 'http'] as const)[i % 3]!, authKeyId: BigInt(i) - 5n, salt: -BigInt(i), sessionId: 1n << BigInt(i * 5), msgId: BigInt(i), seqNo: i, body: randomBytes(i * 7), receivedAt: 1795613932928 + i },
    }))
    const frame: WireGatewayFrame = { items: [...items.slice(0, 6), { closed: { connId: '17' } }, ...items.slice(6)] }
    // twice: the second decode starts with the strings of the first one's last item cached
    for (let round = 0; round < 2; round++) {
      const back = decodeGatewayFrame(encodeGatewayFrame(frame))
      assert.deepEqual(back, { items: frame.items.map((it) => ('data' in it ? { data: { ...it.data, gatewayId: '' } } : it)) })
      const theirs = connect.requestDeserialize(encodeGatewayFrame(frame)) as { items: { data?: { connId: string; clientAddr: string } }[] }
      assert.deepEqual(
        theirs.items.filter((it) => it.data).map((it) => [it.data!.connId, it.data!.clientAddr ?? '']),
        conns.map((c, i) => [c, addrs[i]]),
      )
    }
    const outs: WireSessionFrame['items'] = conns.map((connId, i) => ({ send: { connId, authKeyId: BigInt(i), salt: 0n, sessionId: -BigInt(i), msgId: 7n, seqNo: 1 - i, body: randomBytes(i) } }))
    assert.deepEqual(decodeSessionFrame(encodeSessionFrame({ items: outs })), { items: outs })
  })

  it('many connections interleaved (more ids than the decoder keeps: evictions, slot collisions)', () => {
    const ids = Array.from({ length: 1500 }, (_, i) => String((i * 7919) % 1500))
    const mk = (connId: string, i: number) => ({ data: { gatewayId: '', connId, clientAddr: `10.0.${i % 3}.1:${4000 + (i % 700)}`, dcId: 2, transport: 'tcp' as const, authKeyId: 1n, salt: 0n, sessionId: 0n, msgId: 0n, seqNo: 0, body: Buffer.alloc(0), receivedAt: 0 } })
    for (let round = 0; round < 3; round++) {
      const frame: WireGatewayFrame = { items: ids.map((c, i) => mk(round === 2 ? c + 'é' : c, i + round)) }
      assert.deepEqual(decodeGatewayFrame(encodeGatewayFrame(frame)), frame)
    }
  })

  it('varints across their byte boundaries (received_at up to 2^53, seq_no of both signs)', () => {
    const vals = [0, 1, 127, 128, 16383, 16384, 2 ** 28 - 1, 2 ** 28, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 35 - 1, 2 ** 35, 2 ** 42 + 5, 1795613932928, 2 ** 53 - 1]
    const frame: WireGatewayFrame = {
      items: vals.map((v, i) => ({
        data: { gatewayId: '', connId: 'c', clientAddr: 'a', dcId: v % 1000, transport: 'ws', authKeyId: 1n, salt: 2n, sessionId: 3n, msgId: 4n, seqNo: i % 2 === 0 ? Math.min(v, 2 ** 31 - 1) : -Math.min(v, 2 ** 31), body: Buffer.alloc(i), receivedAt: v },
      })),
    }
    const bytes = encodeGatewayFrame(frame)
    assert.deepEqual(decodeGatewayFrame(bytes), frame)
    const theirs = connect.requestDeserialize(bytes) as { items: { data: { receivedAt?: string; seqNo?: number } }[] }
    assert.deepEqual(
      theirs.items.map((it) => [it.data.receivedAt ?? '0', it.data.seqNo ?? 0]),
      frame.items.map((it) => ('data' in it ? [String(it.data.receivedAt), it.data.seqNo] : [])),
    )
  })

  it('an encode or a decode inside another (from a getter of the frame, from the input buffer) leaves both results intact', () => {
    const many: WireSessionFrame = {
      items: Array.from({ length: 40 }, (_, i) => ({ send: { connId: `c${i}`, authKeyId: BigInt(i), salt: 1n, sessionId: -2n, msgId: 3n, seqNo: i, body: randomBytes(i * 3) } })),
    }
    const manyBytes = encodeSessionFrame(many)

    // encodes and decodes inside an encode: the body getter of item 1 (read while sizing and while writing)
    const items = gwFrame.items.map((it) => ('data' in it ? { data: { ...it.data } } : it))
    const data = (items[1] as { data: { body: Buffer } }).data
    const body = data.body
    let gets = 0
    Object.defineProperty(data, 'body', {
      enumerable: true,
      get() {
        gets++
        assert.deepEqual(encodeSessionFrame(many), manyBytes)
        assert.deepEqual(decodeSessionFrame(manyBytes), many)
        assert.deepEqual(decodeGatewayFrame(encodeGatewayFrame({ items: [{ closed: { connId: 'inner' } }] })), { items: [{ closed: { connId: 'inner' } }] })
        return body
      },
    })
    const gwBytes = encodeGatewayFrame(gwFrame)
    assert.deepEqual(encodeGatewayFrame({ items }), gwBytes)
    assert.equal(gets, 2)

    // encodes and decodes inside a decode: the input buffer's subarray (taking item 1's body)
    const plain = decodeGatewayFrame(gwBytes)
    const hooked = Buffer.from(gwBytes)
    let calls = 0
    Object.defineProperty(hooked, 'subarray', {
      value(this: Buffer, start?: number, end?: number): Buffer {
        calls++
        assert.deepEqual(decodeSessionFrame(manyBytes), many)
        assert.deepEqual(encodeSessionFrame(many), manyBytes)
        return Buffer.prototype.subarray.call(this, start, end)
      },
    })
    assert.deepEqual(decodeGatewayFrame(hooked), plain)
    assert.equal(calls, 1)

    // and the codec is left as a top-level call finds it
    assert.deepEqual(decodeSessionFrame(encodeSessionFrame(sFrame)), sFrame)
  })

  it('an empty frame, unknown fields skipped, truncated input rejected with WireError', () => {
    assert.deepEqual(decodeGatewayFrame(encodeGatewayFrame({ items: [] })), { items: [] })
    assert.equal(encodeSessionFrame({ items: [] }).length, 0)
    // an unknown varint field (number 15) before the items
    const extra = Buffer.concat([Buffer.from([15 << 3, 0x96, 0x01]), encodeSessionFrame(sFrame)])
    assert.deepEqual(decodeSessionFrame(extra), sFrame)
    const full = encodeGatewayFrame(gwFrame)
    assert.throws(() => decodeGatewayFrame(full.subarray(0, full.length - 10)), WireError)
  })
})
