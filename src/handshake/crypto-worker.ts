/**
 * Worker thread of CryptoPool: holds the RSA private keys and a DH engine, answers
 * {id, op} requests. Never logs key material.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { randomBytes } from 'node:crypto'
import { setPriority } from 'node:os'
import { RsaPrivateKey } from './rsa-key.js'
import { RsaError } from './errors.js'
import { dhPublic, modPowDh } from './dh-engine.js'
import type { WorkerReply, WorkerRequest, WorkerInit } from './crypto-protocol.js'

const keys = new Map<bigint, RsaPrivateKey>()
function addKey(pem: string): void {
  const k = RsaPrivateKey.fromPem(pem)
  keys.set(k.fingerprint, k)
}
const init = workerData as WorkerInit
for (const pem of init.pems) addKey(pem)
if (init.nice > 0) {
  try {
    // On Linux, pid 0 means the calling thread: only this worker is deprioritised.
    setPriority(0, init.nice)
  } catch {
    // Not permitted here: run at normal priority.
  }
}

const buf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength)

function handle(req: WorkerRequest): WorkerReply {
  try {
    switch (req.op) {
      case 'rsa': {
        const key = keys.get(req.fingerprint)
        if (!key) return { id: req.id, ok: false, reason: 'unknown_fingerprint' }
        return { id: req.id, ok: true, out: key.decryptRaw(buf(req.data)) }
      }
      case 'dhStart': {
        const a = randomBytes(256)
        return { id: req.id, ok: true, out: dhPublic(a), a }
      }
      case 'dhFinish':
        return { id: req.id, ok: true, out: modPowDh(buf(req.gB), buf(req.a)) }
      case 'addKey':
        addKey(req.pem)
        return { id: req.id, ok: true, out: Buffer.alloc(0) }
    }
  } catch (err) {
    return { id: req.id, ok: false, reason: err instanceof RsaError ? err.reason : 'crypto_error' }
  }
}

/** An exact-size copy: a view of a pooled/shared buffer would clone its whole ArrayBuffer. */
function own(u: Uint8Array): Uint8Array {
  return new Uint8Array(u)
}

// Build the DH engine now (OpenSSL checks the prime once, which is slow), then report ready.
dhPublic(Buffer.from([1]))
parentPort?.postMessage({ id: 0, ok: true, out: new Uint8Array(0) } satisfies WorkerReply)

parentPort?.on('message', (req: WorkerRequest) => {
  const r = handle(req)
  if (!r.ok) return parentPort?.postMessage(r)
  const out = own(r.out)
  const a = r.a ? own(r.a) : undefined
  const reply: WorkerReply = a ? { id: r.id, ok: true, out, a } : { id: r.id, ok: true, out }
  parentPort?.postMessage(reply, (a ? [out.buffer, a.buffer] : [out.buffer]) as ArrayBuffer[])
})
