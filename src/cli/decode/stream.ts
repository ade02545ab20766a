/**
 * The frames of one captured connection: the transport is detected on the client's first bytes
 * (src/transport/detect.ts), then each direction goes through the codec of the side that read it:
 * the client's bytes through a server codec (quick-ack-requested bits), the server's through a
 * client codec (quick-ack tokens). For obfuscated2 both CTR streams derive from the client's init:
 * acceptObfuscatedInit gives the server's reading of it, createObfuscatedClient rebuilt from the
 * same init gives the client's.
 */
import { secureRandom } from '../../crypto/random.js'
import type { Codec, CodecName, Frame } from '../../transport/codec.js'
import { createCodec } from '../../transport/create-codec.js'
import { detectTransport } from '../../transport/detect.js'
import { acceptObfuscatedInit, createObfuscatedClient, OBFUSCATED_INIT_LENGTH } from '../../transport/obfuscated.js'
import type { StreamChunk } from './pcap.js'

/** Largest frame read from a capture. */
export const MAX_FRAME_SIZE = 16 * 1024 * 1024

/** Who sent a frame. */
export type Sender = 'client' | 'server'

export interface WireFrame {
  from: Sender
  /** Seconds since the epoch of the segment that completed the frame (captures only). */
  time?: number
  frame: Frame
}

export interface FramedConnection {
  transport: CodecName
  obfuscated: boolean
  /** The DC id at offset 60 of an obfuscated2 init. */
  dcId?: number
  /** Client frames, then server frames; merged by time when every frame has one. */
  frames: WireFrame[]
  warnings: string[]
}

/** A stream's bytes with the first `skip` dropped, chunk boundaries (and times) kept. */
function* after(chunks: readonly StreamChunk[], skip: number): Generator<StreamChunk> {
  for (const c of chunks) {
    if (skip >= c.data.length) {
      skip -= c.data.length
      continue
    }
    yield skip > 0 ? { time: c.time, data: c.data.subarray(skip) } : c
    skip = 0
  }
}

function frames(from: Sender, codec: Codec, chunks: Iterable<StreamChunk>, warnings: string[]): WireFrame[] {
  const out: WireFrame[] = []
  try {
    for (const c of chunks) for (const frame of codec.push(c.data)) out.push({ from, time: c.time, frame })
  } catch (e) {
    warnings.push(`${from} stream: ${(e as Error).message}; the rest of it is left out`)
    return out
  }
  if (codec.buffered > 0) warnings.push(`${from} stream ends inside a frame (${codec.buffered} bytes left over)`)
  return out
}

/**
 * Frames both directions of a connection. `time` of a raw file's single chunk is NaN: frames then
 * keep the client-first order. `secrets`: MTProxy keys (16 bytes) an obfuscated2 init may be keyed by.
 */
export function frameConnection(toServer: readonly StreamChunk[], toClient: readonly StreamChunk[], secrets: readonly Uint8Array[] = []): FramedConnection {
  const head = Buffer.concat(toServer.map((c) => c.data)).subarray(0, OBFUSCATED_INIT_LENGTH)
  const d = detectTransport(head, { maxFrameSize: MAX_FRAME_SIZE })
  if (d.kind === 'more') throw new Error(`the client stream has ${head.length} bytes: too short to tell its transport`)
  if (d.kind === 'reject') throw new Error(`the client stream is not MTProto over TCP: ${d.reason}`)
  const warnings: string[] = []
  let result: Omit<FramedConnection, 'frames' | 'warnings'>
  let server: Codec
  let client: Codec
  if (d.kind === 'plain') {
    server = createCodec(d.codec, { side: 'server', maxFrameSize: MAX_FRAME_SIZE })
    client = createCodec(d.codec, { side: 'client', maxFrameSize: MAX_FRAME_SIZE })
    result = { transport: d.codec, obfuscated: false }
  } else {
    const accepted = acceptObfuscatedInit(head, { codec: { maxFrameSize: MAX_FRAME_SIZE }, secrets })
    const secret = accepted.secretIndex === null ? undefined : secrets[accepted.secretIndex]
    server = accepted.codec
    let first = true
    const replay = (n: number): Buffer => {
      if (!first) return secureRandom(n)
      first = false
      return Buffer.from(head)
    }
    const name = accepted.codec.name as Exclude<CodecName, 'full'>
    client = createObfuscatedClient({ codec: name, maxFrameSize: MAX_FRAME_SIZE, random: replay, secret }).codec
    result = { transport: name, obfuscated: true, dcId: accepted.dcId }
  }
  const all = [
    ...frames('client', server, after(toServer, d.header), warnings),
    ...frames('server', client, after(toClient, 0), warnings),
  ]
  if (all.every((f) => Number.isFinite(f.time))) all.sort((a, b) => a.time! - b.time!)
  return { ...result, frames: all, warnings }
}
