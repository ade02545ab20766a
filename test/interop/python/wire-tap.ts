/**
 * A TCP relay in front of a test server that names the framing each client connection opens with
 * (the server detects it from the same bytes): abridged (0xef), intermediate (0xeeeeeeee), padded
 * intermediate (0xdddddddd), full (a length, then seq_no 0) or obfuscated2, whose inner framing is
 * the protocol tag at bytes 56..60 of its 64-byte header decrypted with the key and IV the header
 * itself carries (AES-256-CTR, key = bytes 8..40, IV = bytes 40..56).
 */
import { createDecipheriv } from 'node:crypto'
import { startRelay } from '../../helpers/relay.js'

export type Framing = 'abridged' | 'intermediate' | 'padded' | 'full'
export type WireTransport = Framing | `obfuscated/${Framing | 'unknown'}` | 'undetermined'

function plainTag(tag: number): Framing | undefined {
  if (tag === 0xefefefef) return 'abridged'
  if (tag === 0xeeeeeeee) return 'intermediate'
  if (tag === 0xdddddddd) return 'padded'
  return undefined
}

/**
 * The framing of a connection whose first bytes are `head`, or undefined while more bytes are
 * needed. Obfuscated2 clients never start a header with 0xef, a plain tag, or 0 in bytes 4..8.
 */
export function classify(head: Buffer): WireTransport | undefined {
  if (head.length >= 1 && head[0] === 0xef) return 'abridged'
  if (head.length < 4) return undefined
  const first = plainTag(head.readUInt32LE(0))
  if (first !== undefined) return first
  if (head.length < 8) return undefined
  if (head.readUInt32LE(4) === 0) return 'full'
  if (head.length < 64) return undefined
  const clear = createDecipheriv('aes-256-ctr', head.subarray(8, 40), head.subarray(40, 56)).update(head.subarray(0, 64))
  return `obfuscated/${plainTag(clear.readUInt32LE(56)) ?? 'unknown'}`
}

export interface WireTap {
  host: string
  port: number
  /** One entry per client connection, in order. */
  connections: WireTransport[]
  close(): Promise<void>
}

/** Listens on `host` (an ephemeral port) and relays every connection to `target`. */
export async function startWireTap(host: string, target: { host: string; port: number }): Promise<WireTap> {
  const connections: WireTransport[] = []
  const relay = await startRelay(host, target, (client) => {
    let head = Buffer.alloc(0)
    const index = connections.push('undetermined') - 1
    const sniff = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk])
      const found = classify(head)
      if (found === undefined) return
      connections[index] = found
      client.off('data', sniff)
    }
    client.on('data', sniff)
  })
  return { host, port: relay.port, connections, close: () => relay.close() }
}
