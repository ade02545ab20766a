/**
 * A relay in front of a test server that records both directions of what it carries as capture
 * segments (offsets per direction, a fixed clock moving 1 ms per chunk), for writeCapture.
 */
import type { Socket } from 'node:net'
import { startRelay, type Relay } from '../../helpers/relay.js'
import type { CapturedSegment } from './pcap-writer.js'

export interface RecordingRelay {
  relay: Relay
  segments: CapturedSegment[]
  /** Everything one side sent. */
  sent(from: 'client' | 'server'): Buffer
}

export const CAPTURE_START = 1_700_000_000

export async function startRecordingRelay(host: string, target: { host: string; port: number }): Promise<RecordingRelay> {
  const segments: CapturedSegment[] = []
  const offsets = { client: 0, server: 0 }
  let t = CAPTURE_START
  const note = (from: 'client' | 'server', data: Buffer): void => {
    segments.push({ from, offset: offsets[from], data: Buffer.from(data), time: (t += 0.001) })
    offsets[from] += data.length
  }
  const relay = await startRelay(host, target, (client: Socket) => {
    client.on('data', (d: Buffer) => note('client', d))
    // the relay pipes the server's bytes into client.write
    const write = client.write.bind(client) as (chunk: Buffer, ...rest: unknown[]) => boolean
    client.write = ((chunk: Buffer, ...rest: unknown[]) => {
      note('server', chunk)
      return write(chunk, ...rest)
    }) as typeof client.write
  })
  const sent = (from: 'client' | 'server') => Buffer.concat(segments.filter((s) => s.from === from).map((s) => s.data))
  return { relay, segments, sent }
}
