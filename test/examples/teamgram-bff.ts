/**
 * The fake Teamgram deployment (examples/teamgram) for the Teamgram test: its BFF and status services
 * as a child process, a status_getUserOnlineSessions call, and its key tool (a key read or written the way Teamgram's authsession does it).
 */
import { execFile } from 'node:child_process'
import * as grpc from '@grpc/grpc-js'
import { int64, PbWriter, readMessage } from '../../src/rpc/teamgram/protobuf.js'
import type { ExampleBackend } from './backend.js'
import { goBinary } from './go-build.js'
import { startBackendProcess } from './process.js'

const binary = (): Promise<string> => goBinary('teamgram', 'examples-teamgram.sh')

export interface TeamgramBffOptions {
  /** go-sql-driver DSN of Teamgram's database (the one mtgate's store writes). */
  dsn: string
  /** host:port to serve the BFF services on. */
  listen: string
  /** etcd host:port where the session services (mtgate's teamgram.session_service) are registered. */
  etcd: string
  /** Their key (Teamgram's interface.session). */
  sessionKey: string
  /** help.getConfig's this_dc and its address. */
  dc: { id: number; host: string; port: number }
}

export async function startTeamgramBff(o: TeamgramBffOptions): Promise<ExampleBackend> {
  const args = ['serve', '--mysql', o.dsn, '--listen', o.listen, '--etcd', o.etcd, '--session-key', o.sessionKey, '--dc', `${o.dc.id}:${o.dc.host}:${o.dc.port}`]
  return startBackendProcess({ command: await binary(), args, ownFlags: true, name: 'Teamgram BFF' }, { listen: o.listen, mtgate: '', stateFile: '' })
}

/** One entry of status_getUserOnlineSessions (status.SessionEntry). */
export interface StatusSession {
  authKeyId: bigint
  permAuthKeyId: bigint
  gateway: string
  expired: number
}

/** The user's online sessions as the status service at `address` lists them (what Teamgram's sync reads). */
export async function userOnlineSessions(address: string, userId: number): Promise<StatusSession[]> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure())
  const id = (b: Buffer): Buffer => b
  try {
    const body = new PbWriter().uint(1, -406788659).uint(3, userId).finish()
    const res = await new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest('/status.RPCStatus/status_getUserOnlineSessions', id, id, body, { deadline: Date.now() + 5000 }, (err, r) => (err ? reject(err) : resolve(r!))),
    )
    return (readMessage(res).get(4) ?? []).map((v) => {
      const f = readMessage((v as { raw: Buffer }).raw)
      const num = (n: number): bigint => int64((f.get(n)?.at(-1) as { v: bigint } | undefined)?.v ?? 0n)
      return { authKeyId: num(4), permAuthKeyId: num(8), gateway: ((f.get(5)?.at(-1) as { raw: Buffer } | undefined)?.raw ?? Buffer.alloc(0)).toString(), expired: Number(num(6)) }
    })
  } finally {
    client.close()
  }
}

/** A key as the key tool prints it (read back with Teamgram's decoding). */
export interface TeamgramKey {
  auth_key_id: string
  auth_key_type: number
  perm_auth_key_id: string
  /** hex */
  key: string
  /** hex of the key's SHA-1 */
  sha1: string
  /** The id the key's SHA-1 gives is the row's auth_key_id. */
  id_matches: boolean
  /** The user its permanent key is bound to in auth_users (0: none). */
  user_id: number
}

async function keyTool(args: string[]): Promise<TeamgramKey> {
  const bin = await binary()
  const out = await new Promise<string>((resolve, reject) =>
    execFile(bin, args, { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(`teamgram ${args[0]}: ${err.message}\n${stderr}`)) : resolve(stdout))),
  )
  return JSON.parse(out) as TeamgramKey
}

/** The key `id` as Teamgram's QueryAuthKeyV2 reads it from auth_keys / auth_key_infos. */
export const readTeamgramKey = (dsn: string, id: bigint): Promise<TeamgramKey> => keyTool(['read-key', '--mysql', dsn, '--id', id.toString()])

/** A new permanent key written as Teamgram's authsession writes one, bound to the phone's user. */
export const writeTeamgramKey = (dsn: string, phone: string): Promise<TeamgramKey> => keyTool(['write-key', '--mysql', dsn, '--phone', phone])
