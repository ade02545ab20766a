/**
 * `npm run bench -- crypto`: AES-256-IGE throughput (encrypt + decrypt, MB/s of data processed).
 *
 *   crypto.ige.16k / crypto.ige.1k         the default backend (native addon), in-place calls (what
 *                                          message crypto uses; out_of_place = igeEncrypt/igeDecrypt
 *                                          returning new Buffers); baselines measured in this run:
 *                                          16k vs `openssl speed -evp aes-256-cbc` (CBC encryption is
 *                                          serial like IGE, so it is the per-core ceiling), 1k vs
 *                                          @mtcute/wasm's IGE. Extra fields: out_of_place, openssl,
 *                                          mtcute_wasm, portable.
 *   crypto.ige.portable.16k / .1k          the portable TypeScript fallback vs @mtcute/wasm.
 * Rates are per second of CPU time, like `openssl speed` (see opsPerCpuSec); each is the best of 10
 * windows; openssl is the best of 3 one-second runs.
 *   crypto.message.1k                      encryptMessage + decryptMessage of a 1 KB message (MTProto
 *                                          2.0 incl. SHA-256 KDF) vs IGE alone at 1 KB.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { report } from './report.js'
import { igeBackend, igeBackendReason, igeDecrypt, igeDecryptInPlace, igeEncrypt, igeEncryptInPlace } from '../src/crypto/ige.js'
import { igeDecryptPortable, igeEncryptPortable } from '../src/crypto/ige-portable.js'
import { AuthKey, decryptMessage, encryptMessage } from '../src/crypto/message.js'

const MS = Number(process.env.BENCH_MS ?? 1000)

/** `openssl speed -evp aes-256-cbc -bytes N -seconds 1`, in MB/s; undefined if openssl is missing. */
function opensslCbc(bytes: number): number | undefined {
  let best: number | undefined
  for (let i = 0; i < 3; i++) {
    const v = opensslCbcOnce(bytes)
    if (v === undefined) return undefined
    best = Math.max(best ?? 0, v)
  }
  return best
}

function opensslCbcOnce(bytes: number): number | undefined {
  try {
    const out = execFileSync('openssl', ['speed', '-evp', 'aes-256-cbc', '-bytes', String(bytes), '-seconds', '1'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 30_000,
    })
    // "AES-256-CBC    1161013.27k"  (1000s of bytes per second)
    const m = /^aes-256-cbc\s+([\d.]+)k\s*$/im.exec(out)
    if (!m) {
      console.error('bench crypto: cannot parse openssl speed output:\n' + out)
      return undefined
    }
    return (Number(m[1]) * 1000) / 1e6
  } catch (e) {
    console.error(`bench crypto: openssl speed failed: ${(e as Error).message}`)
    return undefined
  }
}

/**
 * Operations per second of CPU time (user + system, whole process, so GC threads count).
 * `openssl speed` divides by CPU user time too (unless -elapsed), so both sides are measured the
 * same way and the figures do not depend on how busy the shared machine is. Best of several
 * windows, to drop windows disturbed by frequency changes or cache-thrashing neighbours.
 */
const WINDOWS = 10
function opsPerCpuSec(fn: () => void, ms: number): number {
  for (let i = 0; i < 10; i++) fn()
  const start = process.cpuUsage()
  let n = 0
  let used = 0
  while (used < ms * 1000) {
    for (let i = 0; i < 16; i++) fn()
    n += 16
    const d = process.cpuUsage(start)
    used = d.user + d.system
  }
  return n / (used / 1e6)
}

function bestOps(fn: () => void): number {
  let best = 0
  for (let i = 0; i < WINDOWS; i++) best = Math.max(best, opsPerCpuSec(fn, MS / WINDOWS))
  return best
}

/** MB/s of data processed by one encrypt + one decrypt of `n` bytes. */
function pairMBps(n: number, fn: () => void): number {
  return (2 * n * bestOps(fn)) / 1e6
}

interface Ours {
  native: number
  inPlace: number
  portable: number
}

function measureOurs(n: number): Ours {
  const key = randomBytes(32)
  const iv = randomBytes(32)
  const data = randomBytes(n)
  const work = Buffer.from(data)
  const enc = igeEncrypt(data, key, iv)
  const inPlace = pairMBps(n, () => {
    igeEncryptInPlace(work, key, iv)
    igeDecryptInPlace(work, key, iv)
  })
  const native = pairMBps(n, () => {
    igeEncrypt(data, key, iv)
    igeDecrypt(enc, key, iv)
  })
  const out = Buffer.allocUnsafe(n)
  const portable = pairMBps(n, () => {
    igeEncryptPortable(data, out, key, iv)
    igeDecryptPortable(enc, out, key, iv)
  })
  return { native, inPlace, portable }
}

function measureMtcute(n: number, wasm: typeof import('@mtcute/wasm')): number {
  const key = randomBytes(32)
  const iv = randomBytes(32)
  const data = randomBytes(n)
  const enc = Buffer.from(wasm.ige256Encrypt(data, key, iv))
  return pairMBps(n, () => {
    wasm.ige256Encrypt(data, key, iv)
    wasm.ige256Decrypt(enc, key, iv)
  })
}

function measureMessage(): number {
  // whole MTProto 2.0 message crypto at 1 KB (hashes + KDF + IGE), server→client then client→server
  const key = new AuthKey(randomBytes(256))
  const plain = Buffer.alloc(32 + 992)
  randomBytes(992).copy(plain, 32)
  plain.writeInt32LE(992, 28)
  const fromClient = encryptMessage(key, plain, 'client')
  return bestOps(() => {
    encryptMessage(key, plain, 'server')
    decryptMessage(key, fromClient, 'client')
  })
}

async function main(): Promise<void> {
  console.error(`bench crypto: IGE backend ${igeBackend}${igeBackendReason ? ` (${igeBackendReason})` : ''}`)
  const label = igeBackend === 'native' ? 'native' : 'portable'
  // Ours first, before mtcute's module graph and WASM memory are loaded: a larger heap makes the
  // GC work triggered by out-of-place allocations costlier and would skew our figures (in a
  // process that has loaded @mtcute/core, out-of-place 16 KB drops by about 25%).
  const ours16k = measureOurs(16384)
  const ours1k = measureOurs(1024)
  const msgOps = measureMessage()
  const ossl16k = opensslCbc(16384)
  const ossl1k = opensslCbc(1024)

  const { NodeCryptoProvider } = await import('@mtcute/node/utils.js')
  await new NodeCryptoProvider().initialize() // loads the mtcute WASM module (SIMD build when available)
  const wasm = await import('@mtcute/wasm')
  const mtcute16k = measureMtcute(16384, wasm)
  const mtcute1k = measureMtcute(1024, wasm)

  report({
    bench: 'crypto.ige.16k',
    value: ours16k.inPlace,
    unit: 'MB/s',
    baseline: 'openssl speed -evp aes-256-cbc -bytes 16384 (encrypt)',
    ...(ossl16k !== undefined ? { baseline_value: ossl16k } : {}),
    backend: label,
    mode: 'in place',
    out_of_place: round(ours16k.native),
    mtcute_wasm: round(mtcute16k),
    portable: round(ours16k.portable),
  })
  report({
    bench: 'crypto.ige.1k',
    value: ours1k.inPlace,
    unit: 'MB/s',
    baseline: '@mtcute/wasm ige256Encrypt+ige256Decrypt 1024 B',
    baseline_value: mtcute1k,
    backend: label,
    mode: 'in place',
    out_of_place: round(ours1k.native),
    out_of_place_ratio: round(ours1k.native / mtcute1k),
    ...(ossl1k !== undefined ? { openssl: round(ossl1k) } : {}),
    portable: round(ours1k.portable),
  })
  for (const [name, m, base] of [
    ['16k', ours16k, mtcute16k],
    ['1k', ours1k, mtcute1k],
  ] as const) {
    report({
      bench: `crypto.ige.portable.${name}`,
      value: m.portable,
      unit: 'MB/s',
      baseline: `@mtcute/wasm ige256Encrypt+ige256Decrypt ${name === '16k' ? 16384 : 1024} B`,
      baseline_value: base,
    })
  }
  report({
    bench: 'crypto.message.1k',
    value: (2 * 1024 * msgOps) / 1e6,
    unit: 'MB/s',
    baseline: 'IGE alone (encrypt+decrypt 1024 B in place)',
    baseline_value: ours1k.inPlace,
    msgs_per_s: Math.round(2 * msgOps),
  })
}

function round(x: number): number {
  return Math.abs(x) >= 100 ? Math.round(x * 10) / 10 : Math.round(x * 1000) / 1000
}

await main()
