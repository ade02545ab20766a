/** IPC messages between bench/soak.ts (the parent) and its children (server, legit, attacker). */
import type { AttackReport } from '../../test/adversarial/attacks.js'

/** The server child's per-second sample. */
export interface ServerSample {
  type: 'sample'
  /** ms since the epoch */
  t: number
  rss: number
  heapUsed: number
  external: number
  /** Event-loop delay over the last second (ms), perf_hooks.monitorEventLoopDelay reset each second. */
  elP50: number
  elP99: number
  elMax: number
  connections: number
  sessions: number
}

export type FromServer =
  | { type: 'ready'; host: string; port: number; dcId: number; rsaPublicKeyPem: string; fingerprint: string; store: string }
  | ServerSample
  | { type: 'error'; message: string }

export type ToServer = { cmd: 'stop' }

/** The legit load child's per-second report. */
export interface LegitSample {
  type: 'legit'
  t: number
  /** Round-trip times (ms, 2 decimals) of the pings answered in this second. */
  pingMs: number[]
  invokes: number
  invokeMaxMs: number
  /** Pings / invokes failed (connection lost, timeout, unexpected answer) in this second. */
  errors: number
  timeouts: number
  reconnects: number
  connected: number
  /** The load generator's own event-loop delay p99 over this second (ms). */
  clientElP99: number
}

export type FromLegit =
  | { type: 'connected'; n: number }
  | LegitSample
  | { type: 'error'; message: string }
  | { type: 'log'; message: string }

export type ToLegit =
  | { cmd: 'start'; host: string; port: number; keys: string[]; localAddresses: string[]; pingsPerSecPerClient: number; invokeEverySec: number }
  | { cmd: 'stop' }

export type { AttackReport }

export type ToAttacker =
  | {
      cmd: 'init'
      target: { host: string; port: number; rsaPublicKeyPem: string; dcId: number }
      /** An auth key in the server's store (hex) no legitimate client uses: the replay attack's packets are sealed with it. */
      replayKey: string
    }
  | { cmd: 'run'; id: number; name: string; localAddress: string; durationMs: number; intensity?: number }
  | { cmd: 'stop' }

export type FromAttacker =
  | { type: 'ready'; names: string[] }
  | { type: 'done'; id: number; name: string; ms: number; report?: AttackReport; error?: string }
  | { type: 'error'; message: string }
