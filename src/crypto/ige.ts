/**
 * AES-256-IGE. Contract used by the handshake and session layers:
 *   igeEncrypt(data, key, iv) / igeDecrypt(data, key, iv) -> new Buffer of the same length,
 *   igeEncryptInPlace / igeDecryptInPlace(data, key, iv) -> overwrite `data` (no copy).
 * The IV is MTProto's 32 bytes: iv[0:16] = "previous ciphertext", iv[16:32] = "previous plaintext".
 *
 * Backend: the native N-API addon (build/Release/mtgate_ige.node, AES-NI) when it loads and the CPU
 * has AES-NI; otherwise the portable TypeScript implementation, announced by ONE warning at
 * start-up. `igeBackend` tells which one is in use (`mtgate serve` prints it).
 * MTGATE_IGE=portable forces the portable backend (benchmarks, tests).
 */
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { rootLogger } from '../util/log.js'
import { igeDecryptPortable, igeEncryptPortable } from './ige-portable.js'

export type IgeBackend = 'native' | 'portable'

/** dst may be src itself (in place); both of equal length, a multiple of 16. */
export type IgeFn = (src: Uint8Array, dst: Uint8Array, key: Uint8Array, iv: Uint8Array) => void

/**
 * The addon's one-call MTProto 2.0 message crypto (see native/ige.c). x is 0 (client→server) or 8.
 * msgEncrypt: packet = 24 header bytes + plaintext+padding; writes msg_key into packet[8:24] and
 * encrypts packet[24:] in place. msgDecrypt: decrypts packet[24:] into out, writes the full
 * msg_key_large, returns whether msg_key matched (constant time).
 */
export interface NativeMessageCore {
  msgEncrypt(authKey: Uint8Array, x: number, packet: Uint8Array): void
  msgDecrypt(authKey: Uint8Array, x: number, packet: Uint8Array, out: Uint8Array, msgKeyLarge: Uint8Array): boolean
}

export interface IgeImpl {
  backend: IgeBackend
  encrypt: IgeFn
  decrypt: IgeFn
  /** Present with the native backend. */
  message?: NativeMessageCore
  /** Why the portable backend was chosen (undefined for native). */
  reason?: string
}

interface NativeAddon extends NativeMessageCore {
  aesni: boolean
  encrypt: IgeFn
  decrypt: IgeFn
}

/** Where `npm install` (node-gyp) puts the addon, relative to the repo root. */
const ADDON_RELATIVE = 'build/Release/mtgate_ige.node'

/** Candidate addon paths: from src/crypto (ts sources) and from dist-xxx/src/crypto (compiled). */
function defaultAddonPaths(): string[] {
  return [
    fileURLToPath(new URL(`../../../${ADDON_RELATIVE}`, import.meta.url)),
    fileURLToPath(new URL(`../../${ADDON_RELATIVE}`, import.meta.url)),
  ]
}

function isNativeAddon(m: unknown): m is NativeAddon {
  if (typeof m !== 'object' || m === null) return false
  const r = m as Record<string, unknown>
  return (
    typeof r.encrypt === 'function' &&
    typeof r.decrypt === 'function' &&
    typeof r.msgEncrypt === 'function' &&
    typeof r.msgDecrypt === 'function' &&
    typeof r.aesni === 'boolean'
  )
}

const portable: IgeImpl = { backend: 'portable', encrypt: igeEncryptPortable, decrypt: igeDecryptPortable }

/**
 * Picks the backend. Never throws: any failure to load the addon yields the portable backend with
 * a reason. `paths` overrides where the addon is looked for (tests).
 */
export function loadIge(opts: { paths?: string[]; forcePortable?: boolean } = {}): IgeImpl {
  if (opts.forcePortable) return { ...portable, reason: 'forced by MTGATE_IGE=portable' }
  const req = createRequire(import.meta.url)
  const errors: string[] = []
  for (const p of opts.paths ?? defaultAddonPaths()) {
    let m: unknown
    try {
      m = req(p)
    } catch (e) {
      const code = (e as { code?: string }).code
      errors.push(code === 'MODULE_NOT_FOUND' ? `${p}: not built` : `${p}: ${(e as Error).message}`)
      continue
    }
    if (!isNativeAddon(m)) {
      errors.push(`${p}: not an mtgate IGE addon`)
      continue
    }
    if (!m.aesni) return { ...portable, reason: `${p} loaded but this CPU has no AES-NI` }
    return {
      backend: 'native',
      encrypt: m.encrypt,
      decrypt: m.decrypt,
      message: { msgEncrypt: m.msgEncrypt, msgDecrypt: m.msgDecrypt },
    }
  }
  return { ...portable, reason: errors.join('; ') }
}

const impl = loadIge({ forcePortable: process.env.MTGATE_IGE === 'portable' })

export const igeBackend: IgeBackend = impl.backend
/** Why the portable backend is in use, or undefined. */
export const igeBackendReason: string | undefined = impl.reason
/** The addon's message crypto when the native backend is in use (used by message.ts). */
export const nativeMessageCore: NativeMessageCore | undefined = impl.message

if (impl.backend === 'portable') {
  rootLogger.warn(
    { reason: impl.reason },
    'AES-IGE: native addon not in use, falling back to the portable TypeScript implementation (about 10x slower); run `npm install` (node-gyp) to build build/Release/mtgate_ige.node',
  )
}

const nativeEncrypt = impl.encrypt
const nativeDecrypt = impl.decrypt

function check(data: Uint8Array, key: Uint8Array, iv: Uint8Array): void {
  if (key.length !== 32) throw new RangeError('IGE key must be 32 bytes')
  if (iv.length !== 32) throw new RangeError('IGE iv must be 32 bytes')
  if (data.length % 16 !== 0) throw new RangeError('IGE data length must be a multiple of 16')
}

/** Encrypts `data` into a new Buffer. */
export function igeEncrypt(data: Uint8Array, key: Uint8Array, iv: Uint8Array): Buffer {
  check(data, key, iv)
  const out = Buffer.allocUnsafe(data.length)
  nativeEncrypt(data, out, key, iv)
  return out
}

/** Decrypts `data` into a new Buffer. */
export function igeDecrypt(data: Uint8Array, key: Uint8Array, iv: Uint8Array): Buffer {
  check(data, key, iv)
  const out = Buffer.allocUnsafe(data.length)
  nativeDecrypt(data, out, key, iv)
  return out
}

/** Encrypts `data` in place (the caller's buffer is overwritten, nothing is allocated). */
export function igeEncryptInPlace(data: Uint8Array, key: Uint8Array, iv: Uint8Array): void {
  check(data, key, iv)
  nativeEncrypt(data, data, key, iv)
}

/** Decrypts `data` in place (the caller's buffer is overwritten, nothing is allocated). */
export function igeDecryptInPlace(data: Uint8Array, key: Uint8Array, iv: Uint8Array): void {
  check(data, key, iv)
  nativeDecrypt(data, data, key, iv)
}
