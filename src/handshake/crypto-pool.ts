/**
 * The handshake's expensive crypto (RSA private op, the two modexps) on a worker_threads pool
 * sized to the cores, so established sessions keep low latency during a handshake storm.
 * Requests go to the worker with the fewest in flight.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { HandshakeCrypto } from './crypto-backend.js'
import type { WorkerReply, WorkerRequest } from './crypto-protocol.js'
import { RsaError } from './errors.js'
import { rootLogger } from '../util/log.js'
import type { RsaKeySet } from './rsa-keyset.js'

interface Pending {
  resolve: (r: WorkerReply) => void
  reject: (e: Error) => void
}

interface Slot {
  worker: Worker
  inFlight: number
  pending: Map<number, Pending>
  ready: Promise<void>
}

const buf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength)

export class CryptoPool implements HandshakeCrypto {
  private readonly slots: Slot[] = []
  private nextId = 1
  private closed = false

  /**
   * `size` workers (default: the cores). `nice` (default 10) lowers the workers' scheduling
   * priority so that, when the cores are saturated by a handshake storm, the event loop serving
   * established sessions is still scheduled first.
   */
  constructor(keys: RsaKeySet, size: number = availableParallelism(), nice = 10) {
    this.pems = keys.all().map((k) => k.toPem())
    this.nice = nice
    for (let i = 0; i < Math.max(1, size); i++) this.slots.push(this.spawn())
  }

  private readonly pems: string[]
  private readonly nice: number

  /** A worker with the current keys. One that dies is replaced (its pending calls reject). */
  private spawn(): Slot {
    const worker = new Worker(new URL('./crypto-worker.js', import.meta.url), { workerData: { pems: this.pems, nice: this.nice } })
    worker.unref()
    let markReady: () => void = () => undefined
    const ready = new Promise<void>((resolve) => (markReady = resolve))
    const slot: Slot = { worker, inFlight: 0, pending: new Map(), ready }
    worker.on('message', (r: WorkerReply) => {
      if (r.id === 0) return markReady()
      const p = slot.pending.get(r.id)
      if (!p) return
      slot.pending.delete(r.id)
      slot.inFlight--
      p.resolve(r)
    })
    worker.on('error', (err) => this.failAll(slot, err))
    worker.on('exit', () => {
      this.failAll(slot, new Error('crypto worker exited'))
      markReady()
      const i = this.slots.indexOf(slot)
      if (!this.closed && i >= 0) {
        rootLogger.error('crypto worker exited; starting a new one')
        this.slots[i] = this.spawn()
      }
    })
    return slot
  }

  /** Resolves when every worker has built its DH engine (a one-off prime check of ~0.2-2 s). */
  async ready(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.ready))
  }

  get size(): number {
    return this.slots.length
  }

  /** Sends a new key to every worker (rotation at run time). */
  async addKey(pem: string): Promise<void> {
    this.pems.push(pem)
    await Promise.all(this.slots.map((s) => this.call(s, { id: 0, op: 'addKey', pem })))
  }

  async rsaDecrypt(fingerprint: bigint, data: Buffer): Promise<Buffer> {
    const r = await this.call(this.pick(), { id: 0, op: 'rsa', fingerprint, data })
    if (!r.ok) throw new RsaError(r.reason)
    return buf(r.out)
  }

  async dhStart(): Promise<{ a: Buffer; gA: Buffer }> {
    const r = await this.call(this.pick(), { id: 0, op: 'dhStart' })
    if (!r.ok || !r.a) throw new Error(`dhStart failed: ${r.ok ? 'no secret' : r.reason}`)
    return { a: buf(r.a), gA: buf(r.out) }
  }

  async dhFinish(a: Buffer, gB: Buffer): Promise<Buffer> {
    const r = await this.call(this.pick(), { id: 0, op: 'dhFinish', a, gB })
    if (!r.ok) throw new Error(`dhFinish failed: ${r.reason}`)
    return buf(r.out)
  }

  async close(): Promise<void> {
    this.closed = true
    await Promise.all(this.slots.map((s) => s.worker.terminate()))
  }

  private pick(): Slot {
    let best = this.slots[0]!
    for (const s of this.slots) if (s.inFlight < best.inFlight) best = s
    return best
  }

  private call(slot: Slot, req: WorkerRequest): Promise<WorkerReply> {
    if (this.closed) return Promise.reject(new Error('crypto pool closed'))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject })
      slot.inFlight++
      const msg: WorkerRequest = { ...req, id }
      const transfer: ArrayBuffer[] = []
      // Exact-size copies, transferred: cloning a view would copy its whole (pooled) ArrayBuffer.
      if (msg.op === 'rsa') transfer.push((msg.data = new Uint8Array(msg.data)).buffer)
      if (msg.op === 'dhFinish') {
        transfer.push((msg.a = new Uint8Array(msg.a)).buffer)
        transfer.push((msg.gB = new Uint8Array(msg.gB)).buffer)
      }
      slot.worker.postMessage(msg, transfer)
    })
  }

  private failAll(slot: Slot, err: Error): void {
    for (const p of slot.pending.values()) p.reject(err)
    slot.pending.clear()
    slot.inFlight = 0
  }
}
