/**
 * Adversarial load generators against a running mtgate (loopback only). Each attack runs until
 * `durationMs` has passed or `signal` aborts, then closes everything it opened and resolves with a
 * report. Used by the adversarial tests (in a forked child: test/adversarial/attacker-child.ts) and
 * by the soak bench.
 *
 * Every socket binds `localAddress` (an address of 127.0.0.0/8), so per-IP and per-prefix limits of
 * the server see the attacker where the caller put it.
 */
import { connect as netConnect, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { setMaxListeners } from 'node:events'
import { gzipSync } from 'node:zlib'
import { AuthKey, sealMessage } from '../../src/crypto/message.js'
import { secureRandom } from '../../src/crypto/random.js'
import { createCodec } from '../../src/transport/create-codec.js'
import { codecTag, type Codec } from '../../src/transport/codec.js'
import { createObfuscatedClient } from '../../src/transport/obfuscated.js'
import { clientHandshake, type PlainRpc } from '../../src/handshake/client.js'
import { RsaPublicKey } from '../../src/handshake/rsa-key.js'
import { decodeWithLength, serialize, type ResPq } from '../../src/handshake/messages.js'
import { bigToMinBytes, factorPq } from '../../src/handshake/pq.js'
import { bigFromBytes } from '../../src/handshake/dh.js'
import { rsaPadEncrypt } from '../../src/handshake/rsa-pad.js'
import { PlainTcpClient, TransportErrorPacket } from '../helpers/clients.js'

// ---------------------------------------------------------------------------------------------
// Public interface
// ---------------------------------------------------------------------------------------------

export interface AttackTarget {
  host: string
  port: number
  /** the server's RSA public key (PEM) and data needed to do a real handshake */
  rsaPublicKeyPem: string
  dcId: number
}

export interface AttackOptions {
  target: AttackTarget
  localAddress: string
  durationMs: number
  signal?: AbortSignal
  /** Attack-specific scale (connections, parallel streams, ...); each attack documents its default. */
  intensity?: number
  /** Attack-specific parameters (documented per attack below). */
  params?: Record<string, unknown>
  /** Called with attack-specific progress (e.g. `{ holding: 64 }` once half-done exchanges are held). */
  onProgress?: (info: Record<string, unknown>) => void
}

export interface AttackReport {
  name: string
  /** packets / frames / connection attempts sent (per attack) */
  sent: number
  /** bytes written */
  bytes: number
  /** connect failures, socket errors, unexpected answers */
  errors: number
  [k: string]: unknown
}

export type AttackName =
  | 'gzip-bomb'
  | 'half-frames'
  | 'slow-frame'
  | 'idle-flood'
  | 'handshake-flood'
  | 'replay'
  | 'random-bytes'
  | 'oversized-frames'
  | 'container-flood'

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const t = setTimeout(done, ms)
    function done(): void {
      clearTimeout(t)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })

/** A signal that fires at the end of the attack (duration or the caller's signal). */
function attackSignal(o: AttackOptions): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController()
  setMaxListeners(100_000, ac.signal)
  const t = setTimeout(() => ac.abort(), o.durationMs)
  const onAbort = (): void => ac.abort()
  if (o.signal?.aborted) ac.abort()
  o.signal?.addEventListener('abort', onAbort, { once: true })
  return {
    signal: ac.signal,
    dispose: () => {
      clearTimeout(t)
      o.signal?.removeEventListener('abort', onAbort)
    },
  }
}

/** Connects from `localAddress`; rejects on error or after `timeoutMs`. */
export function rawConnect(target: { host: string; port: number }, localAddress: string, timeoutMs = 5000): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: target.host, port: target.port, localAddress, noDelay: true })
    const t = setTimeout(() => {
      s.destroy()
      reject(new Error('connect timeout'))
    }, timeoutMs)
    s.once('connect', () => {
      clearTimeout(t)
      s.off('error', onErr)
      s.on('error', () => {}) // reported through 'close'
      resolve(s)
    })
    const onErr = (e: Error): void => {
      clearTimeout(t)
      reject(e)
    }
    s.once('error', onErr)
  })
}

/** Writes and waits for 'drain' when the socket buffer is full (bounded by `signal`). */
function writeWait(s: Socket, data: Buffer, signal: AbortSignal): Promise<void> {
  if (s.write(data)) return Promise.resolve()
  return new Promise((resolve) => {
    const done = (): void => {
      s.off('drain', done)
      s.off('close', done)
      signal.removeEventListener('abort', done)
      resolve()
    }
    s.once('drain', done)
    s.once('close', done)
    signal.addEventListener('abort', done, { once: true })
  })
}

/** Per-connection lifetime bookkeeping: how long the server kept each connection open. */
class Lifetimes {
  /** ms from "attack bytes sent" to the server closing the socket. */
  readonly closedAfterMs: number[] = []
  /** connections still open when the attack ended */
  stillOpen = 0
  /** transport error codes (4-byte packets) received */
  readonly transportErrors: number[] = []
  serverClosed = 0

  track(s: Socket, startedAt: number, ending: () => boolean): void {
    s.on('data', (d: Buffer) => {
      // plain intermediate: a 4-byte length 4 followed by the int32 code (unobfuscated attacks only)
      if (d.length >= 8 && d.readUInt32LE(0) === 4 && this.transportErrors.length < 1000) this.transportErrors.push(d.readInt32LE(4))
    })
    // the server's FIN ('end') counts as its close: a server that closes while we are still
    // writing waits for its write side before destroying the socket
    let seen = false
    const closed = (): void => {
      if (seen || ending()) return
      seen = true
      this.serverClosed++
      this.closedAfterMs.push(Date.now() - startedAt)
    }
    s.once('end', closed)
    s.once('close', closed)
  }

  summary(): Record<string, unknown> {
    const sorted = [...this.closedAfterMs].sort((a, b) => a - b)
    const pct = (p: number): number | null => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!)
    return {
      serverClosed: this.serverClosed,
      stillOpen: this.stillOpen,
      closedAfterMsMin: sorted[0] ?? null,
      closedAfterMsP50: pct(50),
      closedAfterMsMax: sorted.length === 0 ? null : sorted[sorted.length - 1],
      transportErrors: [...new Set(this.transportErrors)],
    }
  }
}

/** Intermediate framing of a payload. */
function intermediateFrame(payload: Buffer): Buffer {
  const h = Buffer.allocUnsafe(4)
  h.writeUInt32LE(payload.length, 0)
  return Buffer.concat([h, payload])
}

// ---------------------------------------------------------------------------------------------
// Unencrypted RPC over one socket (handshakes)
// ---------------------------------------------------------------------------------------------


export interface HandshakeOutcome {
  authKey: AuthKey
  salt: bigint
}

/** A complete auth-key exchange from `localAddress` (permanent key). The socket is closed after. */
export async function handshake(target: AttackTarget, localAddress: string, timeoutMs = 15_000): Promise<HandshakeOutcome> {
  const conn = await PlainTcpClient.connect(target.host, target.port, 'intermediate', { localAddress })
  const timer = setTimeout(() => conn.close(), timeoutMs)
  try {
    const r = await clientHandshake(conn, { publicKeys: [RsaPublicKey.fromPem(target.rsaPublicKeyPem)], dcId: target.dcId })
    return { authKey: new AuthKey(r.authKey), salt: r.serverSalt }
  } finally {
    clearTimeout(timer)
    conn.close()
  }
}

/**
 * The first half of an exchange: req_pq_multi and req_DH_params (the server decrypts RSA and
 * computes g_a), then nothing: set_client_DH_params is never sent. Resolves with what the server
 * answered to req_DH_params.
 */
export async function halfHandshake(conn: PlainTcpClient, key: RsaPublicKey, dcId: number): Promise<string> {
  const nonce = secureRandom(16)
  const { obj } = decodeWithLength(await conn.call(serialize({ _: 'req_pq_multi', nonce })))
  if (obj._ !== 'resPQ') throw new Error(`expected resPQ, got ${obj._}`)
  const resPq = obj as unknown as ResPq
  const pq = bigFromBytes(resPq.pq)
  const { p, q } = factorPq(pq)
  const inner = serialize({
    _: 'p_q_inner_data_dc',
    pq: bigToMinBytes(pq),
    p: bigToMinBytes(p),
    q: bigToMinBytes(q),
    nonce,
    server_nonce: Buffer.from(resPq.server_nonce),
    new_nonce: secureRandom(32),
    dc: dcId,
  })
  const ans = decodeWithLength(
    await conn.call(
      serialize({
        _: 'req_DH_params',
        nonce,
        server_nonce: Buffer.from(resPq.server_nonce),
        p: bigToMinBytes(p),
        q: bigToMinBytes(q),
        public_key_fingerprint: key.fingerprint,
        encrypted_data: rsaPadEncrypt(inner, key, secureRandom),
      }),
    ),
  )
  return ans.obj._
}

// ---------------------------------------------------------------------------------------------
// Encrypted sender (after a handshake): messages with valid salt, session and msg_ids
// ---------------------------------------------------------------------------------------------

export class EncryptedSender {
  readonly sessionId = randomBytes(8).readBigInt64LE(0)
  private lastMsgId = 0n
  private seq = 0

  constructor(
    readonly key: AuthKey,
    public salt: bigint,
  ) {}

  msgId(): bigint {
    let id = (BigInt(Math.floor(Date.now() / 1000)) << 32n) | (BigInt(Math.floor((Date.now() % 1000) * 4294967)) & 0xfffffffcn)
    if (id <= this.lastMsgId) id = this.lastMsgId + 4n
    this.lastMsgId = id
    return id
  }

  /** seqno of the next message (content-related or not). */
  seqNo(contentRelated: boolean): number {
    return contentRelated ? this.seq++ * 2 + 1 : this.seq * 2
  }

  /** A sealed, intermediate-framed packet with `body` (msg_id and seqno chosen here unless given). */
  frame(body: Buffer, contentRelated = false, msgId = this.msgId()): Buffer {
    return intermediateFrame(sealMessage(this.key, { salt: this.salt, sessionId: this.sessionId, msgId, seqNo: this.seqNo(contentRelated), body }, 'client'))
  }
}

const ID_MSG_CONTAINER = 0x73f1f8dc
const ID_GZIP_PACKED = 0x3072cfa1
const ID_MSGS_ACK = 0x62d6b459
const ID_MSGS_STATE_REQ = 0xda69fb52
const ID_MSG_RESEND_REQ = 0x7d861a08
const ID_VECTOR = 0x1cb5c415

/** TL `bytes` serialisation. */
function tlBytes(data: Buffer): Buffer {
  const head = data.length < 254 ? 1 : 4
  const total = head + data.length
  const out = Buffer.alloc(total + ((4 - (total % 4)) % 4))
  if (head === 1) out[0] = data.length
  else out.writeUInt32LE((data.length << 8) | 254, 0)
  data.copy(out, head)
  return out
}

/** A container of `bodies` with increasing inner msg_ids, all below the returned container msg_id. */
function container(sender: EncryptedSender, bodies: Buffer[], contentRelated: boolean): { body: Buffer; msgId: bigint } {
  const parts: Buffer[] = []
  const head = Buffer.allocUnsafe(8)
  head.writeUInt32LE(ID_MSG_CONTAINER, 0)
  head.writeInt32LE(bodies.length, 4)
  parts.push(head)
  for (const b of bodies) {
    const h = Buffer.allocUnsafe(16)
    h.writeBigInt64LE(sender.msgId(), 0)
    h.writeInt32LE(sender.seqNo(contentRelated), 8)
    h.writeInt32LE(b.length, 12)
    parts.push(h, b)
  }
  return { body: Buffer.concat(parts), msgId: sender.msgId() }
}

let bombCache: Buffer | undefined
/** gzip_packed whose packed_data (~16 KB) inflates to 16 MiB of zeros. */
export function gzipBomb(): Buffer {
  if (bombCache) return bombCache
  const packed = gzipSync(Buffer.alloc(16 * 1024 * 1024), { level: 9 })
  const head = Buffer.allocUnsafe(4)
  head.writeUInt32LE(ID_GZIP_PACKED, 0)
  bombCache = Buffer.concat([head, tlBytes(packed)])
  return bombCache
}

/** `ctor msg_ids:Vector<long>` with `n` random ids. */
function idVectorMessage(ctor: number, n: number): Buffer {
  const b = randomBytes(12 + 8 * n)
  b.writeUInt32LE(ctor, 0)
  b.writeUInt32LE(ID_VECTOR, 4)
  b.writeInt32LE(n, 8)
  return b
}

/**
 * Runs `connections` workers in parallel; each opens a session after a handshake and pumps
 * packets from `next` until the end. A connection the server closes is reopened (same key).
 */
async function encryptedPump(
  name: string,
  o: AttackOptions,
  connections: number,
  next: (sender: EncryptedSender) => Buffer,
  extra: Record<string, unknown> = {},
): Promise<AttackReport> {
  const { signal, dispose } = attackSignal(o)
  const report: AttackReport = { name, sent: 0, bytes: 0, errors: 0, connections: 0, handshakes: 0, handshakeErrors: 0, bytesBack: 0 }
  const life = new Lifetimes()
  const sockets = new Set<Socket>()
  let ending = false
  const worker = async (): Promise<void> => {
    let hs: HandshakeOutcome | undefined
    while (!signal.aborted) {
      try {
        hs ??= await handshake(o.target, o.localAddress)
        report.handshakes = (report.handshakes as number) + 1
      } catch {
        report.handshakeErrors = (report.handshakeErrors as number) + 1
        await sleep(200, signal)
        continue
      }
      let s: Socket
      try {
        s = await rawConnect(o.target, o.localAddress)
      } catch {
        report.errors++
        await sleep(200, signal)
        continue
      }
      sockets.add(s)
      report.connections = (report.connections as number) + 1
      s.write(codecTag('intermediate'))
      s.on('data', (d: Buffer) => (report.bytesBack = (report.bytesBack as number) + d.length))
      life.track(s, Date.now(), () => ending)
      const sender = new EncryptedSender(hs.authKey, hs.salt)
      let closed = false
      s.once('close', () => {
        closed = true
        sockets.delete(s)
      })
      s.once('end', () => s.destroy()) // the server closed it: stop writing
      while (!signal.aborted && !closed) {
        const f = next(sender)
        report.sent++
        report.bytes += f.length
        await writeWait(s, f, signal)
      }
      if (!signal.aborted) await sleep(100, signal)
    }
  }
  await Promise.all(Array.from({ length: connections }, worker))
  ending = true
  life.stillOpen = sockets.size
  for (const s of sockets) s.destroy()
  dispose()
  return { ...report, ...life.summary(), ...extra }
}

// ---------------------------------------------------------------------------------------------
// The attacks
// ---------------------------------------------------------------------------------------------

/**
 * gzip-bomb: after a real handshake, encrypted packets that are msg_containers of up to 120
 * gzip_packed bombs (~16 KB each on the wire, 16 MiB inflated), frames just under
 * params.maxFrameBytes (default 2 MiB), back to back. intensity = parallel connections (default 1).
 */
async function gzipBombAttack(o: AttackOptions): Promise<AttackReport> {
  const bomb = gzipBomb()
  const maxFrame = (o.params?.maxFrameBytes as number | undefined) ?? 2 * 1024 * 1024
  const perBomb = 16 + bomb.length
  const count = Math.max(1, Math.min(120, Math.floor((maxFrame - 8 - 64 - 32 - 8 - 1100) / perBomb)))
  const bodies = Array.from({ length: count }, () => bomb)
  return encryptedPump(
    'gzip-bomb',
    o,
    o.intensity ?? 1,
    (sender) => {
      const c = container(sender, bodies, true)
      return sender.frame(c.body, false, c.msgId)
    },
    { bombsPerPacket: count, inflatedBytesPerPacket: count * 16 * 1024 * 1024 },
  )
}

/**
 * container-flood: encrypted containers of 1,000 service messages with huge msg_id vectors
 * (msgs_ack, msgs_state_req, msg_resend_req), as large as params.maxFrameBytes allows (default
 * 2 MiB), alternated with 1,000-deep nested containers. intensity = parallel connections (default 1).
 */
async function containerFloodAttack(o: AttackOptions): Promise<AttackReport> {
  const maxFrame = (o.params?.maxFrameBytes as number | undefined) ?? 2 * 1024 * 1024
  const budget = maxFrame - 8 - 64 - 32 - 1100
  const ctors = [ID_MSGS_ACK, ID_MSGS_STATE_REQ, ID_MSG_RESEND_REQ]
  let turn = 0
  return encryptedPump('container-flood', o, o.intensity ?? 1, (sender) => {
    turn++
    if (turn % 4 === 0) {
      // 1,000-deep nesting: container(container(...(msgs_ack)))
      let body = idVectorMessage(ID_MSGS_ACK, 8)
      for (let d = 0; d < 1000; d++) body = container(sender, [body], false).body
      return sender.frame(body, false)
    }
    const ctor = ctors[turn % 3]!
    // 1,000 messages, each vector sized to fill the budget
    const n = 1000
    const ids = Math.max(1, Math.floor((budget / n - 16 - 12) / 8))
    const bodies = Array.from({ length: n }, () => idVectorMessage(ctor, ids))
    const c = container(sender, bodies, false)
    return sender.frame(c.body, false, c.msgId)
  })
}

/**
 * Connections that each write `head` and then (optionally) feed `trickle` bytes every second;
 * `count` are kept open: one the server closes is reopened (connection-rate limits permitting).
 */
async function holdConnections(
  name: string,
  o: AttackOptions,
  count: number,
  head: () => Buffer,
  trickleBytesPerSecond: number,
  reopen: boolean,
): Promise<AttackReport> {
  const { signal, dispose } = attackSignal(o)
  const report: AttackReport = { name, sent: 0, bytes: 0, errors: 0, connections: 0, refusedConnects: 0 }
  const life = new Lifetimes()
  const sockets = new Set<Socket>()
  let ending = false
  let established = 0
  const worker = async (): Promise<void> => {
    while (!signal.aborted) {
      let s: Socket
      try {
        s = await rawConnect(o.target, o.localAddress)
      } catch {
        report.errors++
        report.refusedConnects = (report.refusedConnects as number) + 1
        await sleep(250, signal)
        if (!reopen) return
        continue
      }
      sockets.add(s)
      report.connections = (report.connections as number) + 1
      const h = head()
      report.sent++
      report.bytes += h.length
      let closed = false
      const gone = new Promise<void>((resolve) =>
        s.once('close', () => {
          closed = true
          sockets.delete(s)
          resolve()
        }),
      )
      life.track(s, Date.now(), () => ending) // lifetimes count from the first byte sent
      s.once('end', () => s.destroy()) // the server closed it
      await writeWait(s, h, signal)
      if (++established === count) o.onProgress?.({ established: count })
      let timer: NodeJS.Timeout | undefined
      if (trickleBytesPerSecond > 0) {
        timer = setInterval(() => {
          if (closed) return
          s.write(randomBytes(trickleBytesPerSecond))
          report.bytes += trickleBytesPerSecond
        }, 1000)
      }
      await Promise.race([gone, new Promise<void>((r) => (signal.aborted ? r() : signal.addEventListener('abort', () => r(), { once: true })))])
      if (timer) clearInterval(timer)
      if (!reopen) return
      if (!signal.aborted) await sleep(250, signal)
    }
  }
  const workers: Promise<void>[] = []
  for (let i = 0; i < count; i++) {
    workers.push(worker())
    if (i % 32 === 31) await sleep(5) // do not open them all in one tick
  }
  await Promise.all(workers)
  ending = true
  life.stillOpen = sockets.size
  for (const s of sockets) s.destroy()
  dispose()
  return { ...report, ...life.summary() }
}

/**
 * half-frames: intensity (default 40) connections that each send an intermediate frame header of
 * params.frameBytes (default 2 MiB) and frameBytes − 1 of its bytes, then hold. Closed connections
 * are reopened when params.reopen (default false).
 */
function halfFramesAttack(o: AttackOptions): Promise<AttackReport> {
  const frame = (o.params?.frameBytes as number | undefined) ?? 2 * 1024 * 1024
  const body = Buffer.alloc(4 + 4 + frame - 1)
  codecTag('intermediate').copy(body, 0)
  body.writeUInt32LE(frame, 4)
  randomBytes(Math.min(frame - 1, 4096)).copy(body, 8)
  return holdConnections('half-frames', o, o.intensity ?? 40, () => body, 0, (o.params?.reopen as boolean | undefined) ?? false)
}

/**
 * slow-frame: intensity (default 20) connections announcing a params.frameBytes (default 1 MiB)
 * frame and then feeding 1 byte per second.
 */
function slowFrameAttack(o: AttackOptions): Promise<AttackReport> {
  const frame = (o.params?.frameBytes as number | undefined) ?? 1024 * 1024
  const head = Buffer.alloc(8)
  codecTag('intermediate').copy(head, 0)
  head.writeUInt32LE(frame, 4)
  return holdConnections('slow-frame', o, o.intensity ?? 20, () => head, 1, (o.params?.reopen as boolean | undefined) ?? false)
}

/**
 * idle-flood: intensity (default 200) connections sending only 0xef (abridged tag; half of them)
 * or only a 64-byte obfuscated2 init (the other half), then nothing.
 */
function idleFloodAttack(o: AttackOptions): Promise<AttackReport> {
  let i = 0
  return holdConnections(
    'idle-flood',
    o,
    o.intensity ?? 200,
    () => (i++ % 2 === 0 ? Buffer.from([0xef]) : createObfuscatedClient({ codec: 'intermediate', maxFrameSize: 1 << 20 }).init),
    0,
    (o.params?.reopen as boolean | undefined) ?? false,
  )
}

/**
 * random-bytes: intensity (default 8) parallel streams of connections that write random bytes
 * (64 KiB chunks) until the server closes them, then reconnect.
 */
async function randomBytesAttack(o: AttackOptions): Promise<AttackReport> {
  const { signal, dispose } = attackSignal(o)
  const report: AttackReport = { name: 'random-bytes', sent: 0, bytes: 0, errors: 0, connections: 0 }
  const life = new Lifetimes()
  const sockets = new Set<Socket>()
  let ending = false
  const worker = async (): Promise<void> => {
    while (!signal.aborted) {
      let s: Socket
      try {
        s = await rawConnect(o.target, o.localAddress)
      } catch {
        report.errors++
        await sleep(100, signal)
        continue
      }
      sockets.add(s)
      report.connections = (report.connections as number) + 1
      life.track(s, Date.now(), () => ending)
      let closed = false
      s.once('close', () => {
        closed = true
        sockets.delete(s)
      })
      while (!signal.aborted && !closed) {
        const chunk = randomBytes(64 * 1024)
        report.sent++
        report.bytes += chunk.length
        await writeWait(s, chunk, signal)
        await sleep(1)
      }
      if (!signal.aborted) await sleep(50, signal)
    }
  }
  await Promise.all(Array.from({ length: o.intensity ?? 8 }, worker))
  ending = true
  life.stillOpen = sockets.size
  for (const s of sockets) s.destroy()
  dispose()
  return { ...report, ...life.summary() }
}

/**
 * oversized-frames: intensity (default 4) parallel streams of connections announcing frames larger
 * than params.maxFrameBytes (default 2 MiB: 2 MiB + 4, 16 MiB, 2^31 − 4) and sending 64 KiB of them.
 */
async function oversizedFramesAttack(o: AttackOptions): Promise<AttackReport> {
  const maxFrame = (o.params?.maxFrameBytes as number | undefined) ?? 2 * 1024 * 1024
  const sizes = [maxFrame + 4, 16 * 1024 * 1024, 0x7ffffffc]
  const { signal, dispose } = attackSignal(o)
  const report: AttackReport = { name: 'oversized-frames', sent: 0, bytes: 0, errors: 0, connections: 0 }
  const life = new Lifetimes()
  const sockets = new Set<Socket>()
  let ending = false
  let n = 0
  const worker = async (): Promise<void> => {
    while (!signal.aborted) {
      let s: Socket
      try {
        s = await rawConnect(o.target, o.localAddress)
      } catch {
        report.errors++
        await sleep(100, signal)
        continue
      }
      sockets.add(s)
      report.connections = (report.connections as number) + 1
      const closed = new Promise<void>((r) =>
        s.once('close', () => {
          sockets.delete(s)
          r()
        }),
      )
      const head = Buffer.alloc(8)
      codecTag('intermediate').copy(head, 0)
      head.writeUInt32LE(sizes[n++ % sizes.length]!, 4)
      const data = Buffer.concat([head, randomBytes(64 * 1024)])
      report.sent++
      report.bytes += data.length
      life.track(s, Date.now(), () => ending)
      s.write(data)
      await Promise.race([closed, sleep(5000, signal)])
      s.destroy()
      await sleep(20, signal) // do not spin through the ephemeral ports of one address
    }
  }
  await Promise.all(Array.from({ length: o.intensity ?? 4 }, worker))
  ending = true
  life.stillOpen = sockets.size
  for (const s of sockets) s.destroy()
  dispose()
  return { ...report, ...life.summary() }
}

/**
 * handshake-flood from one address.
 * params.mode 'flood' (default): intensity (default 8) parallel workers, each on one connection
 *   sending req_pq_multi then req_DH_params (server RSA + DH work) and starting over, never
 *   finishing; a connection the server closes is reopened. Counts -429 answers.
 * params.mode 'hold': opens params.hold (default 64) connections with a half-done exchange each
 *   (req_pq_multi + req_DH_params answered) and holds them; reports `{ holding }` through
 *   onProgress once all are held, then keeps them open until the end.
 */
async function handshakeFloodAttack(o: AttackOptions): Promise<AttackReport> {
  const { signal, dispose } = attackSignal(o)
  const key = RsaPublicKey.fromPem(o.target.rsaPublicKeyPem)
  const mode = (o.params?.mode as string | undefined) ?? 'flood'
  const report: AttackReport = { name: 'handshake-flood', mode, sent: 0, bytes: 0, errors: 0, connections: 0, resPq: 0, dhParamsOk: 0, rejected429: 0, holding: 0 }
  const conns = new Set<PlainTcpClient>()
  const count = (e: unknown): void => {
    if (e instanceof TransportErrorPacket && e.code === -429) report.rejected429 = (report.rejected429 as number) + 1
    else report.errors++
  }
  if (mode === 'hold') {
    const hold = (o.params?.hold as number | undefined) ?? 64
    await Promise.all(
      Array.from({ length: hold }, async () => {
        for (let attempt = 0; attempt < 5 && !signal.aborted; attempt++) {
          let c: PlainTcpClient
          try {
            c = await PlainTcpClient.connect(o.target.host, o.target.port, 'intermediate', { localAddress: o.localAddress })
          } catch (e) {
            count(e)
            await sleep(200, signal)
            continue
          }
          conns.add(c)
          report.connections = (report.connections as number) + 1
          try {
            report.sent = report.sent + 2
            const ans = await halfHandshake(c, key, o.target.dcId)
            report.resPq = (report.resPq as number) + 1
            if (ans === 'server_DH_params_ok') report.dhParamsOk = (report.dhParamsOk as number) + 1
            report.holding = (report.holding as number) + 1
            return
          } catch (e) {
            count(e)
            c.close()
            conns.delete(c)
            await sleep(200, signal)
          }
        }
      }),
    )
    o.onProgress?.({ holding: report.holding })
    await sleep(o.durationMs, signal)
    report.stillOpen = [...conns].filter((c) => !c.closed).length
  } else {
    const worker = async (): Promise<void> => {
      while (!signal.aborted) {
        let c: PlainTcpClient
        try {
          c = await PlainTcpClient.connect(o.target.host, o.target.port, 'intermediate', { localAddress: o.localAddress })
        } catch (e) {
          count(e)
          await sleep(100, signal)
          continue
        }
        conns.add(c)
        report.connections = (report.connections as number) + 1
        while (!signal.aborted && !c.closed) {
          try {
            // plain req_pq_multi spam, and every other round a req_DH_params left unanswered by us
            const nonce = secureRandom(16)
            report.sent++
            const { obj } = decodeWithLength(await c.call(serialize({ _: 'req_pq_multi', nonce }), 5000))
            if (obj._ === 'resPQ') report.resPq = (report.resPq as number) + 1
            if ((report.sent & 1) === 0) {
              report.sent += 2
              const ans = await halfHandshake(c, key, o.target.dcId)
              if (ans === 'server_DH_params_ok') report.dhParamsOk = (report.dhParamsOk as number) + 1
            }
          } catch (e) {
            count(e)
            if (!(e instanceof TransportErrorPacket)) break
            await sleep(20, signal)
          }
        }
        c.close()
        conns.delete(c)
        report.bytes += c.bytes
        await sleep(50, signal) // do not spin on refused connections (ephemeral ports of one address)
      }
    }
    await Promise.all(Array.from({ length: o.intensity ?? 8 }, worker))
  }
  for (const c of conns) {
    report.bytes += c.bytes
    c.close()
  }
  dispose()
  return report
}

/**
 * replay: params.packet (Buffer: one encrypted MTProto packet as sent, without framing) is sent on
 * intensity (default 4) fresh connections from localAddress, params.repeat (default 3) times each,
 * spaced 100 ms. Reports what came back on those sockets (packets, transport errors).
 */
async function replayAttack(o: AttackOptions): Promise<AttackReport> {
  const packet = o.params?.packet
  if (!Buffer.isBuffer(packet) && !(packet instanceof Uint8Array)) throw new Error('replay: params.packet (Buffer) is required')
  const pkt = Buffer.from(packet as Uint8Array)
  const repeat = (o.params?.repeat as number | undefined) ?? 3
  const { signal, dispose } = attackSignal(o)
  const report: AttackReport = { name: 'replay', sent: 0, bytes: 0, errors: 0, connections: 0, packetsBack: 0, encryptedBack: 0, transportErrorsBack: [] as number[] }
  const sockets: Socket[] = []
  const codec = (): Codec => createCodec('intermediate', { side: 'client', maxFrameSize: 16 << 20 })
  await Promise.all(
    Array.from({ length: o.intensity ?? 4 }, async () => {
      let s: Socket
      try {
        s = await rawConnect(o.target, o.localAddress)
      } catch {
        report.errors++
        return
      }
      sockets.push(s)
      report.connections = (report.connections as number) + 1
      const c = codec()
      s.on('data', (d: Buffer) => {
        try {
          for (const f of c.push(d)) {
            if (f.type !== 'packet') continue
            report.packetsBack = (report.packetsBack as number) + 1
            if (f.payload.length === 4) (report.transportErrorsBack as number[]).push(f.payload.readInt32LE(0))
            else report.encryptedBack = (report.encryptedBack as number) + 1
          }
        } catch {
          report.errors++
        }
      })
      s.write(codecTag('intermediate'))
      for (let i = 0; i < repeat && !signal.aborted && !s.destroyed; i++) {
        const f = intermediateFrame(pkt)
        report.sent++
        report.bytes += f.length
        s.write(f)
        await sleep(100, signal)
      }
    }),
  )
  // keep the sockets a little so that anything the server sends back is seen
  await sleep(Math.min(1000, o.durationMs), signal)
  for (const s of sockets) s.destroy()
  dispose()
  return report
}

export const ATTACKS: Record<AttackName, (o: AttackOptions) => Promise<AttackReport>> = {
  'gzip-bomb': gzipBombAttack,
  'half-frames': halfFramesAttack,
  'slow-frame': slowFrameAttack,
  'idle-flood': idleFloodAttack,
  'handshake-flood': handshakeFloodAttack,
  replay: replayAttack,
  'random-bytes': randomBytesAttack,
  'oversized-frames': oversizedFramesAttack,
  'container-flood': containerFloodAttack,
}

