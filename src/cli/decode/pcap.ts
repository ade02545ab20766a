/**
 * Reads one TCP connection out of a packet capture: classic libpcap (either byte order, µs or ns
 * timestamps) or pcapng; link types Ethernet (with 802.1Q tags), Linux cooked (SLL, SLL2),
 * loopback (DLT_NULL, DLT_LOOP) and raw IP; IPv4 and IPv6. Each direction is reassembled by
 * sequence number (retransmissions and overlaps dropped, out-of-order segments put in place).
 */

/** Bytes one side sent, in order, as the segments that carried them (seconds since the epoch). */
export interface StreamChunk {
  time: number
  data: Buffer
}

export interface TcpConnection {
  /** "addr:port" of each end; the client is the side that sent the SYN (else the first segment). */
  client: string
  server: string
  toServer: StreamChunk[]
  toClient: StreamChunk[]
  /** What could not be used: other connections, fragments, gaps in a stream. */
  warnings: string[]
}

interface Packet {
  time: number
  linkType: number
  data: Buffer
}

interface Segment {
  time: number
  from: string
  to: string
  seq: number
  syn: boolean
  payload: Buffer
}

export class CaptureError extends Error {
  override readonly name = 'CaptureError'
}

const PCAPNG_SHB = 0x0a0d0d0a

/** True when `head` starts like a pcap or pcapng file. */
export function isCapture(head: Buffer): boolean {
  if (head.length < 4) return false
  const m = head.readUInt32LE(0)
  return m === PCAPNG_SHB || [0xa1b2c3d4, 0xa1b23c4d, 0xd4c3b2a1, 0x4d3cb2a1].includes(m)
}

function* classicPackets(buf: Buffer): Generator<Packet> {
  if (buf.length < 24) throw new CaptureError('pcap: truncated file header')
  const le = buf.readUInt32LE(0) === 0xa1b2c3d4 || buf.readUInt32LE(0) === 0xa1b23c4d
  const magic = le ? buf.readUInt32LE(0) : buf.readUInt32BE(0)
  const frac = magic === 0xa1b23c4d ? 1e9 : 1e6
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o))
  const linkType = u32(20) & 0x0fffffff
  for (let o = 24; o + 16 <= buf.length; ) {
    const incl = u32(o + 8)
    if (o + 16 + incl > buf.length) throw new CaptureError(`pcap: record at byte ${o} runs past the end`)
    yield { time: u32(o) + u32(o + 4) / frac, linkType, data: buf.subarray(o + 16, o + 16 + incl) }
    o += 16 + incl
  }
}

function* pcapngPackets(buf: Buffer): Generator<Packet> {
  let le = true
  let ifaces: { linkType: number; unit: number }[] = []
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o))
  const u16 = (o: number): number => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o))
  for (let o = 0; o + 12 <= buf.length; ) {
    if (buf.readUInt32LE(o) === PCAPNG_SHB) {
      le = buf.readUInt32LE(o + 8) === 0x1a2b3c4d
      ifaces = []
    }
    const type = u32(o)
    const len = u32(o + 4)
    if (len < 12 || o + len > buf.length) throw new CaptureError(`pcapng: block at byte ${o} has length ${len}`)
    const body = o + 8
    if (type === 1) {
      let unit = 1e-6
      // options after linktype(2) reserved(2) snaplen(4): if_tsresol (code 9) sets the time unit
      for (let p = body + 8; p + 4 <= o + len - 4; ) {
        const code = u16(p)
        const olen = u16(p + 2)
        if (code === 0) break
        if (code === 9 && olen >= 1) {
          const r = buf[p + 4]!
          unit = r & 0x80 ? 2 ** -(r & 0x7f) : 10 ** -r
        }
        p += 4 + ((olen + 3) & ~3)
      }
      ifaces.push({ linkType: u16(body), unit })
    } else if (type === 6) {
      const iface = ifaces[u32(body)]
      if (iface === undefined) throw new CaptureError(`pcapng: packet names interface ${u32(body)} before its description`)
      const ts = u32(body + 4) * 2 ** 32 + u32(body + 8)
      const cap = u32(body + 12)
      yield { time: ts * iface.unit, linkType: iface.linkType, data: buf.subarray(body + 20, body + 20 + cap) }
    } else if (type === 3) {
      const iface = ifaces[0]
      if (iface === undefined) throw new CaptureError('pcapng: simple packet before an interface description')
      const cap = Math.min(u32(body), len - 16)
      yield { time: 0, linkType: iface.linkType, data: buf.subarray(body + 4, body + 4 + cap) }
    }
    o += len
  }
}

/** Where the IP packet starts inside a link-layer frame; null when the frame carries no IP. */
function ipOffset(p: Packet): number | null {
  const d = p.data
  const byEtherType = (type: number, at: number): number | null => (type === 0x0800 || type === 0x86dd ? at : null)
  switch (p.linkType) {
    case 0: // DLT_NULL: address family in the capturing host's byte order
    case 108: {
      // DLT_LOOP: the same, big-endian
      if (d.length < 4) return null
      const fam = p.linkType === 108 ? d.readUInt32BE(0) : d.readUInt32LE(0) > 0xffff ? d.readUInt32BE(0) : d.readUInt32LE(0)
      return fam === 2 || fam === 24 || fam === 28 || fam === 30 ? 4 : null
    }
    case 1: {
      let at = 12
      let type = d.length >= 14 ? d.readUInt16BE(at) : 0
      while ((type === 0x8100 || type === 0x88a8) && d.length >= at + 6) {
        at += 4
        type = d.readUInt16BE(at)
      }
      return byEtherType(type, at + 2)
    }
    case 113:
      return d.length >= 16 ? byEtherType(d.readUInt16BE(14), 16) : null
    case 276:
      return d.length >= 20 ? byEtherType(d.readUInt16BE(0), 20) : null
    case 101:
    case 228:
    case 229:
      return 0
    default:
      throw new CaptureError(`unsupported link type ${p.linkType} (Ethernet, Linux cooked, loopback and raw IP are read)`)
  }
}

/** The TCP segment of a packet; null when it is not TCP over IP; 'fragment' for IP fragments. */
function tcpSegment(p: Packet): Segment | null | 'fragment' {
  const at = ipOffset(p)
  if (at === null || at >= p.data.length) return null
  const ip = p.data.subarray(at)
  let src: string
  let dst: string
  let tcp: Buffer
  const version = ip[0]! >> 4
  if (version === 4) {
    if (ip.length < 20) return null
    const ihl = (ip[0]! & 0x0f) * 4
    if (ip[9] !== 6) return null
    if ((ip.readUInt16BE(6) & 0x3fff) !== 0) return 'fragment'
    src = [...ip.subarray(12, 16)].join('.')
    dst = [...ip.subarray(16, 20)].join('.')
    tcp = ip.subarray(ihl, Math.min(ip.length, ip.readUInt16BE(2) || ip.length))
  } else if (version === 6) {
    if (ip.length < 40) return null
    let next = ip[6]!
    let o = 40
    while (next === 0 || next === 43 || next === 60) {
      if (o + 8 > ip.length) return null
      next = ip[o]!
      o += (ip[o + 1]! + 1) * 8
    }
    if (next === 44) return 'fragment'
    if (next !== 6) return null
    const v6 = (b: Buffer): string => `[${[0, 2, 4, 6, 8, 10, 12, 14].map((i) => b.readUInt16BE(i).toString(16)).join(':')}]`
    src = v6(ip.subarray(8, 24))
    dst = v6(ip.subarray(24, 40))
    tcp = ip.subarray(o, Math.min(ip.length, 40 + ip.readUInt16BE(4)))
  } else {
    return null
  }
  if (tcp.length < 20) return null
  const off = (tcp[12]! >> 4) * 4
  return {
    time: p.time,
    from: `${src}:${tcp.readUInt16BE(0)}`,
    to: `${dst}:${tcp.readUInt16BE(2)}`,
    seq: tcp.readUInt32BE(4),
    syn: (tcp[13]! & 0x02) !== 0,
    payload: tcp.subarray(off),
  }
}

/** One direction's bytes in sequence order; a gap ends the stream (what follows cannot be framed). */
function reassemble(segs: Segment[], name: string, warnings: string[]): StreamChunk[] {
  if (segs.length === 0) return []
  const first = segs[0]!.seq
  const rel = (seq: number): number => (((seq - first) | 0) as number)
  const syn = segs.find((s) => s.syn)
  const data = segs.filter((s) => s.payload.length > 0).map((s, i) => ({ s, at: rel(s.seq), i }))
  if (data.length === 0) return []
  let next = syn !== undefined ? rel(syn.seq) + 1 : Math.min(...data.map((d) => d.at))
  const start = next
  data.sort((a, b) => a.at - b.at || a.i - b.i)
  const out: StreamChunk[] = []
  for (const { s, at } of data) {
    const end = at + s.payload.length
    if (end <= next) continue
    if (at > next) {
      warnings.push(`${name}: ${at - next} bytes never captured at stream offset ${next - start}; the rest of this direction is left out`)
      break
    }
    out.push({ time: s.time, data: s.payload.subarray(next - at) })
    next = end
  }
  return out
}

/** The first TCP connection of a pcap / pcapng capture, both directions reassembled. */
export function readCapture(buf: Buffer): TcpConnection {
  if (!isCapture(buf)) throw new CaptureError('not a pcap or pcapng file')
  const packets = buf.readUInt32LE(0) === PCAPNG_SHB ? pcapngPackets(buf) : classicPackets(buf)
  const warnings: string[] = []
  const segs: Segment[] = []
  let fragments = 0
  let others = 0
  let pair: [string, string] | undefined
  for (const p of packets) {
    const s = tcpSegment(p)
    if (s === null) continue
    if (s === 'fragment') {
      fragments++
      continue
    }
    pair ??= [s.from, s.to]
    const ours = (s.from === pair[0] && s.to === pair[1]) || (s.from === pair[1] && s.to === pair[0])
    if (!ours) {
      others++
      continue
    }
    segs.push(s)
  }
  if (pair === undefined) throw new CaptureError('no TCP segment in the capture')
  if (fragments > 0) warnings.push(`${fragments} IP fragments skipped`)
  if (others > 0) warnings.push(`${others} segments of other TCP connections skipped (only ${pair[0]} <-> ${pair[1]} is decoded)`)
  // The first SYN in the capture is the client's (the server's SYN-ACK follows it).
  const c = segs.find((s) => s.syn)?.from ?? pair[0]
  const sv = c === pair[0] ? pair[1] : pair[0]
  return {
    client: c,
    server: sv,
    toServer: reassemble(segs.filter((s) => s.from === c), 'client to server', warnings),
    toClient: reassemble(segs.filter((s) => s.from === sv), 'server to client', warnings),
    warnings,
  }
}
