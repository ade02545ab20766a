/**
 * The PROXY protocol (haproxy.org/download/2.6/doc/proxy-protocol.txt), versions 1 and 2, as a load
 * balancer in front of mtgate sends it at the start of each TCP connection: the client's real
 * address. Only peers listed as trusted proxies may send it; their connections must start with it.
 */
import { BlockList, isIP, type Socket } from 'node:net'

/** Version 2's 12-byte signature. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
const V1_PREFIX = Buffer.from('PROXY ', 'latin1')
/** Longest version 1 line, CRLF included (spec: 107). */
const V1_MAX = 107
/** Longest version 2 address block accepted (addresses and TLVs). */
const V2_MAX_BODY = 2048

export type ProxyHeader =
  | { kind: 'more' }
  | { kind: 'bad'; reason: string }
  /** `source` undefined: the proxy's own connection (v2 LOCAL, v1 UNKNOWN, non-TCP families). */
  | { kind: 'ok'; length: number; version: 1 | 2; source: { ip: string; port: number } | undefined }

/** Whether `head` starts with a PROXY header signature (either version); 'more' while it cannot tell. */
export function startsWithProxyHeader(head: Buffer): 'yes' | 'no' | 'more' {
  for (const sig of [V1_PREFIX, V2_SIGNATURE]) {
    const n = Math.min(head.length, sig.length)
    if (!head.subarray(0, n).equals(sig.subarray(0, n))) continue
    return n === sig.length ? 'yes' : 'more'
  }
  return 'no'
}

/** Parses a PROXY header at the start of `head`. */
export function parseProxyHeader(head: Buffer): ProxyHeader {
  if (head.length === 0) return { kind: 'more' }
  if (head[0] === 0x50) return parseV1(head)
  if (head[0] === 0x0d) return parseV2(head)
  return { kind: 'bad', reason: 'no PROXY protocol header' }
}

function parseV1(head: Buffer): ProxyHeader {
  const n = Math.min(head.length, V1_PREFIX.length)
  if (!head.subarray(0, n).equals(V1_PREFIX.subarray(0, n))) return { kind: 'bad', reason: 'no PROXY protocol header' }
  const end = head.indexOf('\r\n', 0, 'latin1')
  if (end < 0) return head.length >= V1_MAX ? { kind: 'bad', reason: 'PROXY v1 line too long' } : { kind: 'more' }
  if (end + 2 > V1_MAX) return { kind: 'bad', reason: 'PROXY v1 line too long' }
  const parts = head.toString('latin1', 0, end).split(' ')
  const length = end + 2
  if (parts[1] === 'UNKNOWN') return { kind: 'ok', length, version: 1, source: undefined }
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6')) return { kind: 'bad', reason: 'malformed PROXY v1 line' }
  const [, fam, src, dst, sport, dport] = parts as [string, string, string, string, string, string]
  const v = fam === 'TCP4' ? 4 : 6
  if (isIP(src) !== v || isIP(dst) !== v || !port(sport) || !port(dport)) return { kind: 'bad', reason: 'malformed PROXY v1 addresses' }
  return { kind: 'ok', length, version: 1, source: { ip: v === 6 ? canonicalIpv6(src) : src, port: Number(sport) } }
}

/**
 * An IPv6 address as a socket reports it (RFC 5952: lower case, the longest zero run as "::"), and
 * an IPv4-mapped one as the IPv4 address: one client address is one key for the per-address limits
 * whatever text or version of the header carried it.
 */
function canonicalIpv6(ip: string): string {
  if (ip.includes('%')) return ip // a zone id: no URL host
  const host = new URL(`http://[${ip}]/`).hostname.slice(1, -1)
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host)
  if (mapped === null) return host
  const hi = parseInt(mapped[1]!, 16)
  const lo = parseInt(mapped[2]!, 16)
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`
}

function port(s: string): boolean {
  return /^(0|[1-9][0-9]{0,4})$/.test(s) && Number(s) <= 65535
}

function parseV2(head: Buffer): ProxyHeader {
  const n = Math.min(head.length, 12)
  if (!head.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n))) return { kind: 'bad', reason: 'no PROXY protocol header' }
  if (head.length < 16) return { kind: 'more' }
  const verCmd = head[12]!
  if (verCmd >> 4 !== 2) return { kind: 'bad', reason: 'PROXY v2: unknown version' }
  const cmd = verCmd & 0x0f
  if (cmd > 1) return { kind: 'bad', reason: 'PROXY v2: unknown command' }
  const fam = head[13]!
  const len = head.readUInt16BE(14)
  if (len > V2_MAX_BODY) return { kind: 'bad', reason: 'PROXY v2: address block too long' }
  if (head.length < 16 + len) return { kind: 'more' }
  const length = 16 + len
  // LOCAL: the proxy's own connection (health checks); UNSPEC / UDP / UNIX: no TCP client address
  if (cmd === 0 || (fam !== 0x11 && fam !== 0x21)) return { kind: 'ok', length, version: 2, source: undefined }
  const body = head.subarray(16, length)
  if (fam === 0x11) {
    if (len < 12) return { kind: 'bad', reason: 'PROXY v2: short IPv4 block' }
    return { kind: 'ok', length, version: 2, source: { ip: `${body[0]}.${body[1]}.${body[2]}.${body[3]}`, port: body.readUInt16BE(8) } }
  }
  if (len < 36) return { kind: 'bad', reason: 'PROXY v2: short IPv6 block' }
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(body.readUInt16BE(i).toString(16))
  return { kind: 'ok', length, version: 2, source: { ip: canonicalIpv6(groups.join(':')), port: body.readUInt16BE(32) } }
}

/** Addresses allowed to send PROXY headers: CIDR blocks ("10.0.0.0/8", "fd00::/8") or single addresses. */
export class TrustedProxies {
  private readonly list = new BlockList()
  readonly size: number

  constructor(entries: readonly string[]) {
    for (const e of entries) {
      const [addr = '', bits] = e.split('/') as [string, string | undefined]
      const v = isIP(addr)
      if (v === 0) throw new RangeError(`trusted proxy ${JSON.stringify(e)} is not an address or CIDR block`)
      const type = v === 4 ? 'ipv4' : 'ipv6'
      const prefix = bits === undefined ? (v === 4 ? 32 : 128) : Number(bits)
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (v === 4 ? 32 : 128)) throw new RangeError(`trusted proxy ${JSON.stringify(e)}: bad prefix length`)
      this.list.addSubnet(addr, prefix, type)
    }
    this.size = entries.length
  }

  has(ip: string): boolean {
    const addr = ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip
    const v = isIP(addr)
    return v !== 0 && this.list.check(addr, v === 4 ? 'ipv4' : 'ipv6')
  }
}

/**
 * The start of a plain TCP socket on a port that takes PROXY headers, read before the socket is
 * handed on (to an HTTP server): from a `trusted` peer the PROXY header, which must come first;
 * from any other peer the first bytes, refused when they begin a PROXY header. The bytes after it
 * are put back (unshift) and `done` gets the client's address (undefined: the socket's own);
 * otherwise `refuse` gets the reason and the socket is destroyed.
 */
export function readProxyPreamble(socket: Socket, trusted: boolean, timeoutMs: number, done: (source: { ip: string; port: number } | undefined) => void, refuse: (reason: string) => void): void {
  let head: Buffer = Buffer.alloc(0)
  const finish = (): void => {
    clearTimeout(timer)
    socket.removeListener('data', onData)
    socket.removeListener('close', onClose)
  }
  const fail = (reason: string): void => {
    finish()
    socket.destroy()
    refuse(reason)
  }
  const pass = (rest: Buffer, source: { ip: string; port: number } | undefined): void => {
    finish()
    socket.pause()
    if (rest.length > 0) socket.unshift(rest)
    done(source)
  }
  const onData = (chunk: Buffer): void => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk])
    if (!trusted) {
      const p = startsWithProxyHeader(head)
      if (p === 'yes') fail('PROXY protocol header from an address not trusted as a proxy')
      else if (p === 'no') pass(head, undefined)
      return
    }
    const h = parseProxyHeader(head)
    if (h.kind === 'bad') fail(`from a trusted proxy: ${h.reason}`)
    else if (h.kind === 'ok') pass(head.subarray(h.length), h.source)
  }
  const onClose = (): void => finish()
  const timer = setTimeout(() => fail(trusted ? 'no PROXY header in time' : 'nothing received in time'), timeoutMs)
  timer.unref()
  socket.on('data', onData)
  socket.once('close', onClose)
}
