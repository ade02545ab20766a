/**
 * Worker thread of CryptoPool: holds the RSA private keys and a DH engine, answers
 * {id, op} requests. Never logs key material.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { randomBytes } from 'node:crypto'
import { RsaPrivateKey } from './rsa-key.js'
import { RsaError } from './errors.js'
import { dhPublic, modPowDh } from './dh-engine.js'
import type { WorkerReply, WorkerRequest, WorkerInit } from './crypto-protocol.js'

const keys = new Map<bigint, RsaPrivateKey>()
function addKey(pem: string): void {
  const k = RsaPrivateKey.fromPem(pem)
  keys.set(k.fingerprint, k)
}
for (const pem of (workerData as WorkerInit).pems) addKey(pem)

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

parentPort?.on('message', (req: WorkerRequest) => parentPort?.postMessage(handle(req)))
