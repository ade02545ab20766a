/**
 * `mtgate keys retire FP` / `mtgate keys unretire FP`: a retired key stays on disk and still
 * decrypts key exchanges that use it, but resPQ no longer offers it (rsa-keyset.ts). Servers read
 * the key files at start, so a change applies to servers (and cluster gateways) started afterwards.
 */
import { join } from 'node:path'
import { fingerprintHex } from '../handshake/rsa-key.js'
import { loadKeySet, retireKeyFile, unretireKeyFile } from '../handshake/rsa-keyset.js'
import type { KeyChange } from './args.js'

export interface KeyChangeResult {
  /** 0 when done (or nothing to do), 1 when refused. */
  code: number
  /** The line to print (stdout when code is 0, stderr otherwise). */
  message: string
}

/**
 * Applies `change` to the keys in `dataDir`. Refuses an unknown fingerprint and retiring the last
 * offered key (clients could no longer start a key exchange; `mtgate keygen` adds one first).
 */
export function changeKey(dataDir: string, change: KeyChange): KeyChangeResult {
  const set = loadKeySet(dataDir)
  const fp = change.fingerprint
  const key = set.all().find((k) => fingerprintHex(k.fingerprint) === fp)
  if (key === undefined) return { code: 1, message: `no RSA key ${fp} in ${join(dataDir, 'rsa')} (mtgate keys lists them)` }
  if (change.action === 'retire') {
    if (key.retired) return { code: 0, message: `RSA key ${fp} is already retired` }
    if (set.offered().length === 1) return { code: 1, message: `RSA key ${fp} is the only offered key; add another first (mtgate keygen)` }
    retireKeyFile(dataDir, key.fingerprint)
    return { code: 0, message: `retired RSA key ${fp}: no longer offered, still decrypts (servers started from now on)` }
  }
  if (!key.retired) return { code: 0, message: `RSA key ${fp} is already offered` }
  unretireKeyFile(dataDir, key.fingerprint)
  return { code: 0, message: `RSA key ${fp} is offered again (servers started from now on)` }
}
