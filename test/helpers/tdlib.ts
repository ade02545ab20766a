/**
 * TDLib (the reference client: `tdl` + `prebuilt-tdlib`) against our server. TDLib has no option
 * for a server address or an RSA key, and dials Telegram's public addresses first, so:
 * - patchTdjson: a copy of libtdjson.so whose PKCS#1 PEM bodies are our key's;
 * - startSocks5Redirect: a SOCKS5 server that sends every CONNECT to our server (TDLib's proxy)
 *   and reads what the client sends with our own transport detection and codecs (ClientWire);
 * - runInNetns / spawnInNetns: runs a node script in a fresh network namespace that has only
 *   loopback, the one place TDLib may run; assertLoopbackOnly is the script's own guard;
 * - startUnixForward: a Unix socket forwarded to a server outside that namespace (a path in the
 *   file system crosses network namespaces; TCP on loopback does not).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer, connect as netConnect, type Socket } from 'node:net'
import { networkInterfaces } from 'node:os'
import { join } from 'node:path'
import { MT_ID } from '../../src/tl/index.js'
import { acceptObfuscatedInit, createCodec, DEFAULT_LIMITS, detectTransport, type Codec } from '../../src/transport/index.js'

const require = createRequire(import.meta.url)

const PEM_BLOCK = /-----BEGIN RSA PUBLIC KEY-----\n([A-Za-z0-9+/=\n]+?)\n-----END RSA PUBLIC KEY-----/g

/** Path of prebuilt-tdlib's libtdjson.so (throws with a clear message when it is not installed). */
export function tdjsonPath(): string {
  try {
    return (require('prebuilt-tdlib') as { getTdjson(): string }).getTdjson()
  } catch (e) {
    throw new Error(`TDLib missing: prebuilt-tdlib's libtdjson for this platform is not installed (npm install): ${(e as Error).message}`)
  }
}

/**
 * Writes `dir/libtdjson.so`: TDLib's library with the base64 body of every embedded RSA public key
 * replaced by `pem`'s (a 2048-bit key with e = 65537 has the same length; TDLib's own line breaks
 * are kept). Returns the path.
 */
export function patchTdjson(pem: string, dir: string, source = tdjsonPath()): string {
  const ours = pem.replace(/-----[A-Z ]+-----|\s/g, '')
  const lib = readFileSync(source)
  const text = lib.toString('latin1')
  let blocks = 0
  for (const m of text.matchAll(PEM_BLOCK)) {
    const body = m[1]!
    if (body.replace(/\n/g, '').length !== ours.length) throw new Error(`embedded RSA key ${blocks} has another length than ours`)
    let i = 0
    const patched = body.replace(/[^\n]/g, () => ours[i++]!)
    lib.write(patched, m.index + m[0].indexOf(body), 'latin1')
    blocks++
  }
  if (blocks === 0) throw new Error(`no PKCS#1 PEM key found in ${source}`)
  const out = join(dir, 'libtdjson.so')
  writeFileSync(out, lib)
  return out
}

export interface Socks5Redirect {
  port: number
  /** "host:port" of every CONNECT, in order. */
  requests: string[]
  /** What the client sent through each CONNECT, in the order of `requests`. */
  wire: ClientWire[]
  close(): Promise<void>
}

/**
 * A SOCKS5 server (no auth) on 127.0.0.1 that connects every CONNECT request to `target`: a TCP
 * address, or a Unix socket path (reachable from another network namespace: startUnixForward).
 */
export async function startSocks5Redirect(target: { host: string; port: number } | { path: string }): Promise<Socks5Redirect> {
  const requests: string[] = []
  const wire: ClientWire[] = []
  const sockets = new Set<Socket>()
  const server = createServer((c) => {
    sockets.add(c)
    c.on('close', () => sockets.delete(c))
    c.on('error', () => c.destroy())
    let buf = Buffer.alloc(0)
    let greeted = false
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk])
      if (!greeted) {
        if (buf.length < 2 || buf.length < 2 + buf[1]!) return
        if (buf[0] !== 5) return void c.destroy()
        c.write(Buffer.from([5, 0]))
        buf = buf.subarray(2 + buf[1]!)
        greeted = true
      }
      const dest = parseConnect(buf)
      if (dest === undefined) return
      if (dest === null) return void c.end(Buffer.from([5, 7, 0, 1, 0, 0, 0, 0, 0, 0]))
      c.off('data', onData)
      requests.push(dest.name)
      const tap = new ClientWireTap(dest.name)
      wire.push(tap.wire)
      tap.push(buf.subarray(dest.size))
      c.on('data', (d: Buffer) => tap.push(d))
      const up = netConnect(target, () => {
        c.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]))
        if (buf.length > dest.size) up.write(buf.subarray(dest.size))
        c.pipe(up).pipe(c)
      })
      sockets.add(up)
      up.on('close', () => (sockets.delete(up), c.destroy()))
      up.on('error', () => c.end(Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0])))
      c.on('close', () => up.destroy())
    }
    c.on('data', onData)
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as { port: number }).port,
    requests,
    wire,
    close: () => {
      for (const s of sockets) s.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

/** What a client sent on one connection, read with the server's own detection and codecs. */
export interface ClientWire {
  dest: string
  /** Date.now() when the CONNECT came. */
  openedAt: number
  /**
   * "abridged", "intermediate", "padded", "full", or "obfuscated <inner codec> dc <n>" (an
   * obfuscated2 init without an MTProxy secret holds the key its protocol tag and DC id are
   * encrypted with); "incomplete (n bytes)" when the client sent too little to tell.
   */
  transport: string
  /** The constructor of each unencrypted message (auth_key_id 0), in order. */
  unencrypted: string[]
  /** The auth_key_id (signed, hex) of each encrypted packet, in order. */
  encrypted: string[]
  /** Why decoding stopped (a framing error), if it did. */
  error?: string
}

const MT_NAMES = new Map<number, string>(Object.entries(MT_ID).map(([name, id]) => [id, name]))
const MAX_FRAME = DEFAULT_LIMITS.maxFrameSize

/** Decodes the client-to-server bytes of one connection into a ClientWire. */
class ClientWireTap {
  readonly wire: ClientWire
  private head = Buffer.alloc(0)
  private codec: Codec | undefined

  constructor(dest: string) {
    this.wire = { dest, openedAt: Date.now(), transport: 'incomplete (0 bytes)', unencrypted: [], encrypted: [] }
  }

  push(chunk: Buffer): void {
    if (this.wire.error !== undefined || chunk.length === 0) return
    try {
      if (this.codec === undefined) {
        this.head = Buffer.concat([this.head, chunk])
        const d = detectTransport(this.head, { maxFrameSize: MAX_FRAME })
        if (d.kind === 'more') return void (this.wire.transport = `incomplete (${this.head.length} bytes)`)
        if (d.kind === 'reject') return void (this.wire.transport = this.wire.error = `rejected: ${d.reason}`)
        if (d.kind === 'plain') {
          this.codec = createCodec(d.codec, { side: 'server', maxFrameSize: MAX_FRAME })
          this.wire.transport = d.codec
        } else {
          const o = acceptObfuscatedInit(this.head.subarray(0, d.header), { codec: { maxFrameSize: MAX_FRAME } })
          this.codec = o.codec
          this.wire.transport = `obfuscated ${o.codec.name} dc ${o.dcId}`
        }
        chunk = this.head.subarray(d.header)
      }
      for (const f of this.codec.push(chunk)) {
        if (f.type !== 'packet' || f.payload.length < 8) continue
        const keyId = f.payload.readBigInt64LE(0)
        if (keyId !== 0n) this.wire.encrypted.push(keyId.toString(16))
        else if (f.payload.length >= 24) {
          const id = f.payload.readUInt32LE(20)
          this.wire.unencrypted.push(MT_NAMES.get(id) ?? `#${id.toString(16)}`)
        }
      }
    } catch (e) {
      this.wire.error = (e as Error).message
    }
  }
}

/** A SOCKS5 request: undefined while incomplete, null when not a CONNECT we understand. */
function parseConnect(b: Buffer): { name: string; size: number } | null | undefined {
  if (b.length < 5) return undefined
  if (b[0] !== 5 || b[1] !== 1) return null
  const atyp = b[3]
  const addrLen = atyp === 1 ? 4 : atyp === 4 ? 16 : atyp === 3 ? 1 + b[4]! : -1
  if (addrLen < 0) return null
  const size = 4 + addrLen + 2
  if (b.length < size) return undefined
  const a = b.subarray(4, 4 + addrLen)
  const host =
    atyp === 1 ? [...a].join('.') : atyp === 3 ? a.subarray(1).toString('latin1') : (a.toString('hex').match(/.{4}/g) ?? []).join(':')
  return { name: `${host}:${b.readUInt16BE(4 + addrLen)}`, size }
}

/** Throws unless this process sees no network interface but loopback (run TDLib only then). */
export function assertLoopbackOnly(): void {
  const names = Object.keys(networkInterfaces()).filter((n) => n !== 'lo')
  if (names.length > 0) throw new Error(`refusing to run TDLib: network interfaces besides lo: ${names.join(', ')}`)
}

export interface NetnsRun {
  code: number | null
  signal: NodeJS.Signals | null
  timedOut: boolean
  stdout: string
  stderr: string
  ms: number
}

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' })
  if (r.error) throw new Error(`network namespaces unavailable: cannot run \`ip\` (install iproute2: bash .ci/deps/tdlib.sh): ${r.error.message}`)
  if (r.status !== 0) throw new Error(`network namespaces unavailable: \`ip ${args.join(' ')}\` failed (needs root): ${r.stderr.trim()}`)
}

/** A script running in its own network namespace (spawnInNetns). */
export interface NetnsChild {
  /** Writes one line to its stdin. */
  send(line: string): void
  /** SIGKILL. */
  kill(): void
  /** Resolves once it exited and the namespace is deleted. */
  done: Promise<NetnsRun>
}

export interface NetnsOptions {
  timeoutMs: number
  /** Added to this process's environment (an undefined value removes a variable). */
  env?: NodeJS.ProcessEnv
  onStderrLine?: (line: string) => void
  onStdoutLine?: (line: string) => void
}

/** Calls `onLine` for every complete line of a stream's chunks; returns the feeder and a flush. */
function lineSplitter(onLine: ((line: string) => void) | undefined): { push(text: string): void; flush(): void } {
  let partial = ''
  return {
    push(text) {
      if (onLine === undefined) return
      const lines = (partial + text).split('\n')
      partial = lines.pop()!
      for (const line of lines) onLine(line)
    },
    flush() {
      if (partial !== '') onLine?.(partial)
      partial = ''
    },
  }
}

/**
 * Starts `node script ...args` in a new network namespace with only loopback up (created here,
 * deleted once it exits), killing it after `timeoutMs`; its stdin is a pipe (`send`). `stderr` of
 * the result keeps the last 200 000 characters only. Throws when namespaces are unavailable.
 */
export function spawnInNetns(script: string, args: string[], o: NetnsOptions): NetnsChild {
  const ns = `mtgate-td-${process.pid}-${randomBytes(3).toString('hex')}`
  ip(['netns', 'add', ns])
  let child: ChildProcess
  try {
    ip(['-n', ns, 'link', 'set', 'lo', 'up'])
    const env = { ...process.env, ...o.env }
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k]
    child = spawn('ip', ['netns', 'exec', ns, process.execPath, script, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] })
  } catch (err) {
    ip(['netns', 'delete', ns])
    throw err
  }
  const t0 = Date.now()
  let stdout = ''
  let stderr = ''
  const out = lineSplitter(o.onStdoutLine)
  const err = lineSplitter(o.onStderrLine)
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString()
    out.push(d.toString())
  })
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-200_000)
    err.push(d.toString())
  })
  child.stdin!.on('error', () => undefined)
  let timedOut = false
  const timer = setTimeout(() => ((timedOut = true), child.kill('SIGKILL')), o.timeoutMs)
  const done = new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (c, s) => resolve([c, s]))
  })
    .then(([code, signal]): NetnsRun => {
      out.flush()
      err.flush()
      return { code, signal, timedOut, stdout, stderr, ms: Date.now() - t0 }
    })
    .finally(() => {
      clearTimeout(timer)
      ip(['netns', 'delete', ns])
    })
  return { send: (line) => void child.stdin!.write(line + '\n'), kill: () => void child.kill('SIGKILL'), done }
}

/** Runs `node script ...args` in a new network namespace (spawnInNetns) and resolves once it exited. */
export async function runInNetns(script: string, args: string[], o: NetnsOptions): Promise<NetnsRun> {
  return spawnInNetns(script, args, o).done
}

/** A Unix socket server at `path` that pipes every connection to `target` (TCP). */
export async function startUnixForward(path: string, target: { host: string; port: number }): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server = createServer((c) => {
    const up = netConnect(target)
    for (const s of [c, up]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
    }
    c.on('error', () => up.destroy())
    up.on('error', () => c.destroy())
    c.on('close', () => up.destroy())
    up.on('close', () => c.destroy())
    c.pipe(up).pipe(c)
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, resolve))
  return {
    close: () => {
      for (const s of sockets) s.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

/** The last stdout line that parses as JSON (a driver's result). */
export function lastJsonLine<T>(stdout: string): T | undefined {
  for (const line of stdout.trim().split('\n').reverse()) {
    try {
      return JSON.parse(line) as T
    } catch {
      // not the result line
    }
  }
  return undefined
}
