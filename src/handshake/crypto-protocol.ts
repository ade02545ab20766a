/** Messages between CryptoPool and its workers. */
export interface WorkerInit {
  pems: string[]
  /** Scheduling niceness of the worker thread (Linux: per thread), so the event loop wins the CPU. */
  nice: number
}

export type WorkerRequest =
  | { id: number; op: 'rsa'; fingerprint: bigint; data: Uint8Array }
  | { id: number; op: 'dhStart' }
  | { id: number; op: 'dhFinish'; a: Uint8Array; gB: Uint8Array }
  | { id: number; op: 'addKey'; pem: string }

export type WorkerReply =
  | { id: number; ok: true; out: Uint8Array; a?: Uint8Array }
  | { id: number; ok: false; reason: string }
