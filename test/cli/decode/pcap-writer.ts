/**
 * Writes a TCP connection as a packet capture (classic pcap or pcapng; Ethernet, Linux cooked or
 * DLT_NULL; IPv4 or IPv6), segment by segment in the order given, for the decoder's tests.
 */

export type Link = 'ethernet' | 'sll' | 'null'

export interface CapturedSegment {
  from: 'client' | 'server'
  /** Offset of `data` in its direction's stream. */
  offset: number
  data: Buffer
  /** Seconds since the epoch. */
  time: number
}

export interface CaptureOptions {
  format?: 'pcap' | 'pcapng'
  link?: Link
  ipv6?: boolean
  client?: { ip: string; port: number }
  server?: { ip: string; port: number }
  /** Initial sequence numbers (near 2^32 to cross the wrap). */
  isn?: { client: number; server: number }
  /** Leave out the SYN / SYN-ACK pair (a capture started mid-connection). */
  noHandshake?: boolean
}

const LINK_TYPE: Record<Link, number> = { ethernet: 1, sll: 113, null: 0 }

/** `data` cut into segments of at most `size` bytes, with their offsets. */
export function cut(from: 'client' | 'server', data: Buffer, size: number, time: number): CapturedSegment[] {
  const out: CapturedSegment[] = []
  for (let o = 0; o < data.length; o += size) out.push({ from, offset: o, data: data.subarray(o, o + size), time: time + o / 1e6 })
  return out
}

function ipBytes(ip: string, v6: boolean): Buffer {
  if (!v6) return Buffer.from(ip.split('.').map(Number))
  const b = Buffer.alloc(16)
  const [head, tail] = ip.split('::') as [string, string | undefined]
  const h = head === '' ? [] : head.split(':')
  const t = tail === undefined || tail === '' ? [] : tail.split(':')
  const words = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
  words.forEach((w, i) => b.writeUInt16BE(parseInt(w, 16), i * 2))
  return b
}

function packet(o: Required<Omit<CaptureOptions, 'format' | 'noHandshake'>>, from: 'client' | 'server', seq: number, flags: number, payload: Buffer): Buffer {
  const [src, dst] = from === 'client' ? [o.client, o.server] : [o.server, o.client]
  const tcp = Buffer.alloc(20 + payload.length)
  tcp.writeUInt16BE(src.port, 0)
  tcp.writeUInt16BE(dst.port, 2)
  tcp.writeUInt32BE(seq >>> 0, 4)
  tcp[12] = 5 << 4
  tcp[13] = flags
  tcp.writeUInt16BE(65535, 14)
  payload.copy(tcp, 20)
  let ip: Buffer
  if (o.ipv6) {
    ip = Buffer.alloc(40)
    ip[0] = 0x60
    ip.writeUInt16BE(tcp.length, 4)
    ip[6] = 6
    ip[7] = 64
    ipBytes(src.ip, true).copy(ip, 8)
    ipBytes(dst.ip, true).copy(ip, 24)
  } else {
    ip = Buffer.alloc(20)
    ip[0] = 0x45
    ip.writeUInt16BE(20 + tcp.length, 2)
    ip[8] = 64
    ip[9] = 6
    ipBytes(src.ip, false).copy(ip, 12)
    ipBytes(dst.ip, false).copy(ip, 16)
  }
  let link: Buffer
  if (o.link === 'ethernet') {
    link = Buffer.alloc(14)
    link.writeUInt16BE(o.ipv6 ? 0x86dd : 0x0800, 12)
  } else if (o.link === 'sll') {
    link = Buffer.alloc(16)
    link.writeUInt16BE(o.ipv6 ? 0x86dd : 0x0800, 14)
  } else {
    link = Buffer.alloc(4)
    link.writeUInt32LE(o.ipv6 ? 30 : 2, 0)
  }
  return Buffer.concat([link, ip, tcp])
}

function record(format: 'pcap' | 'pcapng', time: number, frame: Buffer): Buffer {
  const sec = Math.floor(time)
  const usec = Math.round((time - sec) * 1e6)
  if (format === 'pcap') {
    const h = Buffer.alloc(16)
    h.writeUInt32LE(sec, 0)
    h.writeUInt32LE(usec, 4)
    h.writeUInt32LE(frame.length, 8)
    h.writeUInt32LE(frame.length, 12)
    return Buffer.concat([h, frame])
  }
  const padded = (frame.length + 3) & ~3
  const b = Buffer.alloc(32 + padded)
  const ts = BigInt(sec) * 1_000_000n + BigInt(usec)
  b.writeUInt32LE(6, 0)
  b.writeUInt32LE(b.length, 4)
  b.writeUInt32LE(0, 8)
  b.writeUInt32LE(Number(ts >> 32n), 12)
  b.writeUInt32LE(Number(ts & 0xffffffffn), 16)
  b.writeUInt32LE(frame.length, 20)
  b.writeUInt32LE(frame.length, 24)
  frame.copy(b, 28)
  b.writeUInt32LE(b.length, b.length - 4)
  return b
}

function fileHeader(format: 'pcap' | 'pcapng', linkType: number): Buffer {
  if (format === 'pcap') {
    const h = Buffer.alloc(24)
    h.writeUInt32LE(0xa1b2c3d4, 0)
    h.writeUInt16LE(2, 4)
    h.writeUInt16LE(4, 6)
    h.writeUInt32LE(262144, 16)
    h.writeUInt32LE(linkType, 20)
    return h
  }
  const shb = Buffer.alloc(28)
  shb.writeUInt32LE(0x0a0d0d0a, 0)
  shb.writeUInt32LE(28, 4)
  shb.writeUInt32LE(0x1a2b3c4d, 8)
  shb.writeUInt16LE(1, 12)
  shb.writeBigInt64LE(-1n, 16)
  shb.writeUInt32LE(28, 24)
  const idb = Buffer.alloc(20)
  idb.writeUInt32LE(1, 0)
  idb.writeUInt32LE(20, 4)
  idb.writeUInt16LE(linkType, 8)
  idb.writeUInt32LE(262144, 12)
  idb.writeUInt32LE(20, 16)
  return Buffer.concat([shb, idb])
}

/** A capture of one connection carrying `segments` (in the order given), after a SYN / SYN-ACK unless told not to. */
export function writeCapture(segments: readonly CapturedSegment[], opts: CaptureOptions = {}): Buffer {
  const o = {
    link: opts.link ?? 'ethernet',
    ipv6: opts.ipv6 ?? false,
    client: opts.client ?? { ip: opts.ipv6 ? '::1' : '127.0.0.1', port: 40000 },
    server: opts.server ?? { ip: opts.ipv6 ? '::1' : '127.0.0.1', port: 10443 },
    isn: opts.isn ?? { client: 0xfffffff0, server: 0x7ffffffe },
  }
  const format = opts.format ?? 'pcap'
  const t0 = segments[0]?.time ?? 0
  const parts = [fileHeader(format, LINK_TYPE[o.link])]
  if (!opts.noHandshake) {
    parts.push(record(format, t0 - 0.002, packet(o, 'client', o.isn.client, 0x02, Buffer.alloc(0))))
    parts.push(record(format, t0 - 0.001, packet(o, 'server', o.isn.server, 0x12, Buffer.alloc(0))))
  }
  for (const s of segments) {
    const seq = (o.isn[s.from] + 1 + s.offset) >>> 0
    parts.push(record(format, s.time, packet(o, s.from, seq, 0x18, s.data)))
  }
  return Buffer.concat(parts)
}
