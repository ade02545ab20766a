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
import type { RsaKeySet } from './rsa-keyset.js'

interface Pending {
  resolve: (r: WorkerReply) => void
  reject: (e: Error) => void
}

interface Slot {
  worker: Worker
  inFlight: number
  pending: Map<number, Pending>
}

const buf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength)

export class CryptoPool implements HandshakeCrypto {
  private readonly slots: Slot[] = []
  private nextId = 1
  private closed = false

  constructor(keys: RsaKeySet, size: number = availableParallelism()) {
    const pems = keys.all().map((k) => k.toPem())
    const url = new URL('./crypto-worker.js', import.meta.url)
    for (let i = 0; i < Math.max(1, size); i++) {
      const worker = new Worker(url, { workerData: { pems } })
      worker.unref()
      const slot: Slot = { worker, inFlight: 0, pending: new Map() }
      worker.on('message', (r: WorkerReply) => {
        const p = slot.pending.get(r.id)
        if (!p) return
        slot.pending.delete(r.id)
        slot.inFlight--
        p.resolve(r)
      })
      worker.on('error', (err) => this.failAll(slot, err))
      worker.on('exit', () => this.failAll(slot, new Error('crypto worker exited')))
      this.slots.push(slot)
    }
  }

  get size(): number {
    return this.slots.length
  }

  /** Sends a new key to every worker (rotation at run time). */
  async addKey(pem: string): Promise<void> {
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
      slot.worker.postMessage({ ...req, id })
    })
  }

  private failAll(slot: Slot, err: Error): void {
    for (const p of slot.pending.values()) p.reject(err)
    slot.pending.clear()
    slot.inFlight = 0
  }
}
