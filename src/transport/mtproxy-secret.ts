/**
 * MTProxy secrets as clients are given them (hex, as in tg://proxy links):
 * - `<32 hex>`: 16-byte key; obfuscated2 inits keyed by it, any inner framing;
 * - `dd<32 hex>`: the same key, and the client must use padded intermediate (protocol tag
 *   0xdddddddd) inside the obfuscation (MTProxy's "random padding only", here per secret);
 * - `ee<32 hex><hex of a domain>`: fake-TLS: the client starts with a TLS ClientHello for that
 *   domain (its SNI), whose random is keyed by the 16 bytes; the obfuscated2 init and the frames
 *   then travel in TLS application-data records. Served on TCP only.
 */

export type MtproxySecretKind = 'simple' | 'dd' | 'ee'

export interface MtproxySecret {
  kind: MtproxySecretKind
  /** The 16-byte key (HMAC key of fake-TLS, obfuscated2 key suffix). */
  key: Uint8Array
  /** `ee`: the domain the ClientHello's SNI must name. */
  domain?: string
}

/** Longest domain a client puts in an `ee` secret (TDLib's ProxySecret::MAX_DOMAIN_LENGTH). */
export const MAX_SECRET_DOMAIN_LENGTH = 182

const DOMAIN = /^[A-Za-z0-9.-]+$/

/** Parses a secret in its hex form; throws RangeError saying what is wrong. */
export function parseMtproxySecret(text: string): MtproxySecret {
  const hex = text.trim()
  if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length % 2 !== 0) throw new RangeError('must be hex (32 digits, or dd/ee followed by 32 digits and for ee the domain)')
  const b = Buffer.from(hex, 'hex')
  if (b.length === 16) return { kind: 'simple', key: b }
  if (b.length === 17 && b[0] === 0xdd) return { kind: 'dd', key: b.subarray(1) }
  if (b.length >= 18 && b[0] === 0xee) {
    const domain = b.subarray(17).toString('latin1')
    if (domain.length > MAX_SECRET_DOMAIN_LENGTH) throw new RangeError(`ee secret: domain longer than ${MAX_SECRET_DOMAIN_LENGTH} bytes`)
    if (!DOMAIN.test(domain)) throw new RangeError(`ee secret: the bytes after the key are not a domain name: ${JSON.stringify(domain)}`)
    return { kind: 'ee', key: b.subarray(1, 17), domain }
  }
  if (b.length === 17 || (b.length >= 18 && b[0] !== 0xee)) throw new RangeError(`a ${b.length}-byte secret must start with dd (17 bytes) or ee (18 or more)`)
  throw new RangeError(`${b.length} bytes: a secret has 16 (plain), 17 (dd) or 17 + domain (ee)`)
}

/** The hex form clients are given (tg://proxy?secret=...). */
export function formatMtproxySecret(s: MtproxySecret): string {
  const key = Buffer.from(s.key).toString('hex')
  if (s.kind === 'dd') return 'dd' + key
  if (s.kind === 'ee') return 'ee' + key + Buffer.from(s.domain ?? '', 'latin1').toString('hex')
  return key
}

/**
 * A secret as the acceptor takes it: a parsed MtproxySecret, or raw bytes (16, or 17 with a 0xdd
 * prefix, or 0xee + 16 + domain).
 */
export function toMtproxySecret(s: MtproxySecret | Uint8Array): MtproxySecret {
  if (!(s instanceof Uint8Array)) return s
  if (s.length === 16) return { kind: 'simple', key: s }
  return parseMtproxySecret(Buffer.from(s).toString('hex'))
}
