/**
 * The server's RSA keys (rotation): every non-retired key's fingerprint is offered in resPQ; a
 * retired key still decrypts until its files are removed.
 *
 * On disk (data dir, default ./data): rsa/<fp>.key (PKCS#8 private PEM, mode 0600),
 * rsa/<fp>.pub (PKCS#1 "RSA PUBLIC KEY" PEM, the form clients embed), rsa/<fp>.retired (marker),
 * where <fp> is the unsigned 16-digit hex fingerprint.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RsaPrivateKey, fingerprintHex, type RsaKeySource } from './rsa-key.js'
import { RsaError } from './errors.js'

export class RsaKeySet {
  private readonly byFp = new Map<bigint, RsaPrivateKey>()

  constructor(keys: Iterable<RsaPrivateKey>) {
    for (const k of keys) this.byFp.set(k.fingerprint, k)
  }

  add(key: RsaPrivateKey): void {
    this.byFp.set(key.fingerprint, key)
  }

  get(fingerprint: bigint): RsaPrivateKey | undefined {
    return this.byFp.get(fingerprint)
  }

  all(): RsaPrivateKey[] {
    return [...this.byFp.values()]
  }

  /** Fingerprints offered in resPQ (non-retired keys). */
  offered(): bigint[] {
    return this.all()
      .filter((k) => !k.retired)
      .map((k) => k.fingerprint)
  }

  get size(): number {
    return this.byFp.size
  }
}

function rsaDir(dataDir: string): string {
  return join(dataDir, 'rsa')
}

/**
 * Writes a new key into `dataDir`; returns it. Its fingerprint never starts with a 0 hex digit
 * (RsaPrivateKey.generate: mtcute could not find such a key).
 */
export function createKeyFile(dataDir: string, bits = 2048, source?: RsaKeySource): RsaPrivateKey {
  const dir = rsaDir(dataDir)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const key = RsaPrivateKey.generate(bits, source)
  const base = join(dir, fingerprintHex(key.fingerprint))
  writeFileSync(base + '.key', key.toPem(), { mode: 0o600 })
  chmodSync(base + '.key', 0o600)
  writeFileSync(base + '.pub', key.publicKey.toPem(), { mode: 0o644 })
  return key
}

/** The path of a key's files without extension; throws RsaError `unknown_key` when there is no such key. */
function keyBase(dataDir: string, fingerprint: bigint): string {
  const base = join(rsaDir(dataDir), fingerprintHex(fingerprint))
  if (!existsSync(base + '.key')) throw new RsaError('unknown_key', `no key ${fingerprintHex(fingerprint)}`)
  return base
}

/** Marks a key retired (still decrypts, no longer offered). */
export function retireKeyFile(dataDir: string, fingerprint: bigint): void {
  writeFileSync(keyBase(dataDir, fingerprint) + '.retired', '')
}

/** Offers a retired key again (removes its marker; nothing happens to a key that is not retired). */
export function unretireKeyFile(dataDir: string, fingerprint: bigint): void {
  rmSync(keyBase(dataDir, fingerprint) + '.retired', { force: true })
}

/** Loads every key in `dataDir`. */
export function loadKeySet(dataDir: string): RsaKeySet {
  const dir = rsaDir(dataDir)
  const keys: RsaPrivateKey[] = []
  if (!existsSync(dir)) return new RsaKeySet(keys)
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith('.key')) continue
    const base = join(dir, name.slice(0, -4))
    keys.push(RsaPrivateKey.fromPem(readFileSync(base + '.key', 'utf8'), existsSync(base + '.retired')))
  }
  return new RsaKeySet(keys)
}

/**
 * Loads the keys, generating a first one when there is none. `created` is set when a key was
 * generated (the caller prints its fingerprint).
 */
export function loadOrCreateKeySet(dataDir: string, source?: RsaKeySource): { keys: RsaKeySet; created?: RsaPrivateKey } {
  const keys = loadKeySet(dataDir)
  if (keys.offered().length > 0) return { keys }
  const created = createKeyFile(dataDir, 2048, source)
  keys.add(created)
  return { keys, created }
}

/** Text for `mtgate keys`: one line per key: fingerprint (hex and signed decimal), state, public PEM path. */
export function describeKeys(dataDir: string): string {
  const set = loadKeySet(dataDir)
  return set
    .all()
    .map((k) => `${fingerprintHex(k.fingerprint)} ${k.fingerprint} ${k.retired ? 'retired' : 'active'} ${join(rsaDir(dataDir), fingerprintHex(k.fingerprint) + '.pub')}`)
    .join('\n')
}
