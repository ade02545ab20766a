/**
 * A server under test in `npm run bench -- peers`: mtgate itself or a peer server (gotd tgtest,
 * Teamgram). Each runs as its own processes on 127.0.0.1, holding the RSA key the bench made, and
 * is driven by the same load generator over TCP intermediate.
 */
import type { ProfileSummary } from '../profile.js'

export interface PeerOptions {
  /** PKCS#1 PEM of the RSA private key the server must use (the load generator has the public half). */
  privateKeyPem: string
  /** Scratch directory for this peer's files (removed by the bench). */
  workDir: string
}

export interface RunningPeer {
  /** Where the load generator connects (TCP, intermediate transport). */
  host: string
  port: number
  /** The DC the server expects in p_q_inner_data_dc. */
  dc: number
  /** The processes whose CPU and resident memory are the server's (for RSS and stall figures). */
  pids: number[]
  /**
   * Event-loop / GC stall p99 of the server, in ms, since the previous call (the first call: since
   * start), when the peer can report it: the bench calls it before and after a phase.
   */
  stalls?: () => Promise<{ p99Ms: number; source: string } | undefined>
  /** The server's JS heap in use after a forced garbage collection, in bytes (a JavaScript server only). */
  heapUsed?: () => Promise<number>
  /** Writes a heap snapshot of the server to `path` after a forced garbage collection; the heap in use then (a JavaScript server only). */
  heapSnapshot?: (path: string) => Promise<number>
  /** Starts a CPU profile of the server; the returned function ends it, writes it to `path` and summarises it (a JavaScript server only). */
  profile?: () => Promise<(path: string) => Promise<ProfileSummary>>
  stop(): Promise<void>
}

export interface Peer {
  /** Figure label: 'mtgate', 'tgtest', 'teamgram'. */
  name: string
  /** Why this peer cannot run here (a missing tool or service), or undefined when it can. */
  missing(): Promise<string | undefined>
  /** Builds what is needed (cached between runs) and starts the server; resolves once it accepts connections. */
  start(opts: PeerOptions): Promise<RunningPeer>
}
