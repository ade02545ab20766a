/**
 * `mtgate decode`: the frames of one captured client connection as JSON lines. The capture is a
 * pcap / pcapng file of the connection, or the raw bytes the client sent (plus, optionally, a
 * second file of what the server sent). Keys come from the command line, a file, or the SQLite
 * store of a data directory.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { DEFAULTS } from '../../config/defaults.js'
import { AuthKey } from '../../crypto/message.js'
import { SqliteAuthKeyStore } from '../../store/sqlite.js'
import { parseMtproxySecret } from '../../transport/mtproxy-secret.js'
import { readInt64LE } from '../../util/int64.js'
import { isCapture, readCapture, type StreamChunk } from './pcap.js'
import { FramePrinter } from './print.js'
import { frameConnection } from './stream.js'

export interface DecodeArgs {
  /** The capture (pcap / pcapng) or the client's raw bytes. */
  file?: string
  /** Raw bytes the server sent (with a raw `file`). */
  server?: string
  /** The auth key, 512 hex digits. */
  key?: string
  /** A file holding the key: 256 bytes, or 512 hex digits. */
  keyFile?: string
  /** A data directory whose SQLite store holds the keys. */
  dataDir?: string
  layer?: number
  /** An MTProxy secret (hex, plain or dd) the client's obfuscated2 init is keyed by. */
  secret?: string
}

export class DecodeError extends Error {
  override readonly name = 'DecodeError'
}

function parseKey(text: string, where: string): AuthKey {
  const hex = text.replace(/\s+/g, '')
  if (!/^[0-9a-fA-F]{512}$/.test(hex)) throw new DecodeError(`${where}: an auth key is 512 hex digits (256 bytes)`)
  return new AuthKey(Buffer.from(hex, 'hex'))
}

function keyFromFile(path: string): AuthKey {
  const raw = readFileSync(path)
  return raw.length === 256 ? new AuthKey(raw) : parseKey(raw.toString('latin1'), path)
}

/** The keys of `ids` the data directory's store holds (expired temp keys included). */
async function keysFromStore(dataDir: string, ids: Iterable<bigint>): Promise<{ keys: AuthKey[]; layer?: number }> {
  const path = join(dataDir, DEFAULTS.sqliteFile)
  if (!existsSync(path)) throw new DecodeError(`no SQLite store at ${path}`)
  // A clock at the epoch: a capture may be older than the temp keys it used.
  const store = new SqliteAuthKeyStore({ path, writer: 'inline', clock: { now: () => 0 } })
  try {
    const keys: AuthKey[] = []
    let layer: number | undefined
    for (const id of ids) {
      const rec = await store.get(id)
      if (rec === undefined) continue
      keys.push(new AuthKey(rec.key))
      layer ??= (await store.loadState(id))?.layer
    }
    return { keys, layer }
  } finally {
    await store.close()
  }
}

function mtproxyKey(hex: string): Uint8Array {
  let s
  try {
    s = parseMtproxySecret(hex)
  } catch (e) {
    throw new DecodeError(`--secret: ${(e as Error).message}`)
  }
  if (s.kind === 'ee') throw new DecodeError('--secret: fake-TLS (ee) connections are not decoded')
  return s.key
}

/** Both directions of the connection in `args`; warnings go to `warn`. */
function readStreams(args: DecodeArgs, warn: (line: string) => void): { toServer: StreamChunk[]; toClient: StreamChunk[] } {
  const data = readFileSync(args.file!)
  if (isCapture(data)) {
    if (args.server !== undefined) throw new DecodeError('--server goes with a raw client stream, not with a capture')
    const c = readCapture(data)
    warn(`connection ${c.client} -> ${c.server}`)
    for (const w of c.warnings) warn(w)
    return c
  }
  const toClient = args.server === undefined ? [] : [{ time: NaN, data: readFileSync(args.server) }]
  return { toServer: [{ time: NaN, data }], toClient }
}

/** Prints every frame of the capture in `args` as one JSON line; returns the exit code (1 on an error, said through `warn`). */
export async function runDecode(args: DecodeArgs, out: (line: string) => void, warn: (line: string) => void): Promise<number> {
  try {
    await decodeTo(args, out, warn)
    return 0
  } catch (e) {
    warn((e as Error).message ?? String(e))
    return 1
  }
}

async function decodeTo(args: DecodeArgs, out: (line: string) => void, warn: (line: string) => void): Promise<void> {
  const { toServer, toClient } = readStreams(args, warn)
  const conn = frameConnection(toServer, toClient, args.secret === undefined ? [] : [mtproxyKey(args.secret)])
  for (const w of conn.warnings) warn(w)
  const keys = new Map<bigint, AuthKey>()
  let layer = args.layer
  if (args.key !== undefined) {
    const k = parseKey(args.key, '--key')
    keys.set(k.id, k)
  }
  if (args.keyFile !== undefined) {
    const k = keyFromFile(args.keyFile)
    keys.set(k.id, k)
  }
  if (args.dataDir !== undefined) {
    const ids = new Set<bigint>()
    for (const f of conn.frames) {
      if (f.frame.type === 'packet' && f.frame.payload.length >= 8) ids.add(readInt64LE(f.frame.payload, 0))
    }
    ids.delete(0n)
    const found = await keysFromStore(args.dataDir, ids)
    for (const k of found.keys) keys.set(k.id, k)
    layer ??= found.layer
  }
  const printer = new FramePrinter(conn, { key: (id) => keys.get(id), layer })
  for (const f of conn.frames) out(JSON.stringify(printer.record(f)))
}
