import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { CaptureError, isCapture, readCapture, type StreamChunk } from '../../../src/cli/decode/pcap.js'
import { cut, writeCapture, type CapturedSegment } from './pcap-writer.js'

const joined = (chunks: StreamChunk[]): Buffer => Buffer.concat(chunks.map((c) => c.data))

describe('readCapture', () => {
  const up = randomBytes(3000)
  const down = randomBytes(5000)
  const segments = [...cut('client', up, 700, 1000), ...cut('server', down, 1400, 1000.5)]

  for (const variant of [
    { format: 'pcap', link: 'ethernet', ipv6: false },
    { format: 'pcap', link: 'null', ipv6: true },
    { format: 'pcapng', link: 'sll', ipv6: false },
    { format: 'pcapng', link: 'ethernet', ipv6: true },
  ] as const) {
    it(`${variant.format}, ${variant.link}, IPv${variant.ipv6 ? 6 : 4}: both directions, the SYN sender as client`, () => {
      const file = writeCapture(segments, variant)
      assert.ok(isCapture(file))
      const c = readCapture(file)
      assert.equal(c.client, variant.ipv6 ? '[0:0:0:0:0:0:0:1]:40000' : '127.0.0.1:40000')
      assert.ok(c.server.endsWith(':10443'))
      assert.deepEqual(joined(c.toServer), up)
      assert.deepEqual(joined(c.toClient), down)
      assert.deepEqual(c.warnings, [])
      assert.equal(c.toServer[0]!.time, 1000)
    })
  }

  it('puts out-of-order segments in place, drops retransmissions and overlaps, across the sequence number wrap', () => {
    const s = cut('client', up, 500, 2000)
    const overlap: CapturedSegment = { from: 'client', offset: 250, data: up.subarray(250, 900), time: 2000.1 }
    const file = writeCapture([s[1]!, s[0]!, s[0]!, overlap, s[3]!, s[2]!, ...s.slice(4)], { isn: { client: 0xffffff00, server: 5 } })
    const c = readCapture(file)
    assert.deepEqual(joined(c.toServer), up)
    assert.deepEqual(c.toClient, [])
  })

  it('without a SYN: the stream starts at its lowest sequence number; the first sender is the client', () => {
    const s = cut('client', up, 1000, 3000)
    const c = readCapture(writeCapture([s[1]!, s[0]!, s[2]!, ...cut('server', down, 2000, 3001)], { noHandshake: true }))
    assert.deepEqual(joined(c.toServer), up)
    assert.deepEqual(joined(c.toClient), down)
    assert.equal(c.client, '127.0.0.1:40000')
  })

  it('a gap ends its direction with a warning; other connections are skipped with a warning', () => {
    const s = cut('client', up, 1000, 4000)
    const gap = writeCapture([s[0]!, s[2]!])
    const c = readCapture(gap)
    assert.deepEqual(joined(c.toServer), up.subarray(0, 1000))
    assert.match(c.warnings.join('\n'), /1000 bytes never captured at stream offset 1000/)

    const other = writeCapture([s[1]!], { client: { ip: '10.0.0.9', port: 5555 }, noHandshake: true })
    const mixed = Buffer.concat([writeCapture([s[0]!]), other.subarray(24)])
    const m = readCapture(mixed)
    assert.deepEqual(joined(m.toServer), up.subarray(0, 1000))
    assert.match(m.warnings.join('\n'), /1 segments of other TCP connections skipped/)
  })

  it('refuses what is not a capture and a truncated record', () => {
    assert.equal(isCapture(Buffer.from('efefefef', 'hex')), false)
    assert.throws(() => readCapture(Buffer.from('hello, world')), CaptureError)
    const file = writeCapture(cut('client', up, 1000, 1))
    assert.throws(() => readCapture(file.subarray(0, file.length - 10)), /runs past the end/)
  })
})
