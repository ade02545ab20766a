/**
 * PROXY protocol headers (haproxy's proxy-protocol.txt) as a proxy in front of the server would
 * write them, for a client address no local socket can have (documentation ranges). The
 * destination is the proxy's own address (nothing on the server reads it).
 */
import { isIP } from 'node:net'

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')

/** Version 1 (text): `PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n`. */
export function proxyHeaderV1(ip: string, port: number): Buffer {
  const six = isIP(ip) === 6
  return Buffer.from(`PROXY ${six ? 'TCP6' : 'TCP4'} ${ip} ${six ? '::1' : '127.0.0.1'} ${port} 443\r\n`, 'latin1')
}

/** Version 2 (binary), command PROXY over TCP: the 12-byte signature, then the address block. */
export function proxyHeaderV2(ip: string, port: number): Buffer {
  const six = isIP(ip) === 6
  const addr = six ? ipv6Bytes(ip) : Buffer.from(ip.split('.').map(Number))
  const body = Buffer.alloc(addr.length * 2 + 4)
  addr.copy(body, 0)
  body[addr.length * 2 - 1] = 1 // destination ::1 / 0.0.0.1
  body.writeUInt16BE(port, addr.length * 2)
  body.writeUInt16BE(443, addr.length * 2 + 2)
  const head = Buffer.from([0x21, six ? 0x21 : 0x11, 0, 0])
  head.writeUInt16BE(body.length, 2)
  return Buffer.concat([V2_SIGNATURE, head, body])
}

function ipv6Bytes(ip: string): Buffer {
  const [head = '', tail] = ip.split('::') as [string, string | undefined]
  const h = head === '' ? [] : head.split(':')
  const t = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t]
  const out = Buffer.alloc(16)
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2))
  return out
}
