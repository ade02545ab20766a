/**
 * Teamgram (teamgram-server) as a bench peer: its MTProto gateway (gnetway), session service and
 * authsession service, on private etcd, Redis and MariaDB instances, all on 127.0.0.1. That is what
 * handshakes and ping round trips go through; the BFF (business logic, which also needs Kafka) is
 * not started.
 *
 * Binaries: bench/peers/teamgram/build.ts (built once, cached). Configs: the templates beside it,
 * filled with free ports and the bench's RSA key. Teamgram answers as DC 1 and speaks TCP
 * intermediate and full (its abridged and padded-intermediate codecs fail with gotd clients).
 * start() resolves after one handshake and one ping have gone through (see warmUp). Stalls: Go GC
 * stop-the-world pauses of the three services, from GODEBUG=gctrace=1 on stderr, p99 over the
 * pauses since the previous stalls() call.
 *
 * Env: MTGATE_TEAMGRAM_LOG_LEVEL (go-zero log level of the services, default error: at info,
 * go-zero logs every RPC), plus those of build.ts.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createWriteStream, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Peer, PeerOptions, RunningPeer } from './peer.js'
import { findBinary, freePort, serviceMissing, startEtcd, startMariaDb, startRedis, type EtcdInstance, type MariaDbInstance, type RedisInstance } from '../../test/helpers/services.js'
import { fixSql, gcPauses, gnetwayKey, mysqlDsn, percentile, renderConfig, schemaOrder, SERVICES, type ConfigValues, type ServiceName } from './teamgram/config.js'
import { buildMissing, ensureBuilt } from './teamgram/build.js'
import { RsaPrivateKey } from '../../src/handshake/rsa-key.js'
import { clientHandshake } from '../../src/handshake/client.js'
import { AuthKey } from '../../src/crypto/message.js'
import { PlainTcpClient } from '../../test/helpers/clients.js'
import { RawClient } from '../../test/e2e/raw-client.js'

/** What the Teamgram peer runs besides its own three services (MariaDB, Redis, etcd). */
export interface TeamgramRunning extends RunningPeer {
  /** PIDs of MariaDB, Redis and etcd (not in `pids`: their RSS is the infrastructure's). */
  infraPids: number[]
  /** Directory of the services' configs and logs. */
  dir: string
}

/** The etcd keys the services register under (go-zero appends a lease id). */
const ETCD_KEYS: Record<ServiceName, string> = {
  authsession: 'service.authsession',
  session: 'interface.session',
  gnetway: 'interface.gateway',
}

const log = (msg: string): void => void process.stderr.write(`[bench teamgram] ${msg}\n`)

/** Loads Teamgram's schema into a new `teamgram` database, file by file; throws naming the file that fails. */
function loadSchema(db: MariaDbInstance, sqlDir: string): number {
  db.rootSql(`CREATE DATABASE teamgram CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; GRANT ALL ON teamgram.* TO '${db.user}'@'127.0.0.1'; FLUSH PRIVILEGES;`)
  const cli = findBinary('mariadb') ?? findBinary('mysql') ?? 'mariadb'
  const files = schemaOrder(readdirSync(sqlDir))
  for (const f of files) {
    const sql = fixSql(f, readFileSync(join(sqlDir, f), 'utf8'))
    const r = spawnSync(cli, ['--no-defaults', '-uroot', `--socket=${db.socket}`, 'teamgram'], { input: sql, encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`teamgram schema ${f}: ${r.stderr.trim()}`)
  }
  return files.length
}

/** Whether etcd has a key under `prefix` (v3 JSON gateway). */
async function etcdHas(endpoint: string, prefix: string): Promise<boolean> {
  const b64 = (s: Buffer): string => s.toString('base64')
  const key = Buffer.from(`${prefix}/`)
  const end = Buffer.from(key)
  end[end.length - 1] = key[key.length - 1]! + 1
  const res = await fetch(`${endpoint}/v3/kv/range`, {
    method: 'POST',
    body: JSON.stringify({ key: b64(key), range_end: b64(end), count_only: true }),
    signal: AbortSignal.timeout(1000),
  })
  const body = (await res.json()) as { count?: string }
  return Number(body.count ?? 0) > 0
}

function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy()
      resolve(true)
    })
    s.setTimeout(1000, () => (s.destroy(), resolve(false)))
    s.on('error', () => resolve(false))
  })
}

/**
 * One auth-key exchange and one encrypted ping through gnetway, session and authsession, so the
 * bench's load finds the whole path connected:
 * - gnetway drops a session node from its ring for good after 3 failed calls in a row (a client
 *   then gets dh_gen_retry on every exchange); hence the services start one after the other;
 * - session dials gnetway's gRPC port as soon as gnetway registers in etcd, which can be before that
 *   port accepts; the first answers then wait for gRPC's reconnect backoff (about 1 s).
 * gnetway fails about 1 exchange in 256 (it rejects an RSA-decrypted block whose first byte is 0),
 * hence the few tries.
 */
async function warmUp(port: number, privateKeyPem: string, gnetwayLog: string): Promise<void> {
  const publicKeys = [RsaPrivateKey.fromPem(privateKeyPem).publicKey]
  let last: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    const plain = await PlainTcpClient.connect('127.0.0.1', port)
    let client: RawClient | undefined
    const timer = setTimeout(() => (plain.close(), client?.close()), 10_000)
    try {
      const hs = await clientHandshake(plain, { publicKeys, dcId: 1 })
      client = await RawClient.connect({ host: '127.0.0.1', port, key: new AuthKey(hs.authKey), salt: hs.serverSalt })
      await client.ping()
      return
    } catch (e) {
      last = e
    } finally {
      clearTimeout(timer)
      plain.close()
      client?.close()
    }
  }
  throw new Error(`teamgram: warm-up handshake and ping failed: ${(last as Error).message}\n${tail(gnetwayLog)}`)
}

function tail(path: string, lines = 20): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

/** One Teamgram service process; its stderr is logged and scanned for GC pauses. */
class GoService {
  readonly proc: ChildProcess
  readonly logPath: string
  exited: string | undefined
  private readonly done: Promise<void>

  constructor(
    readonly name: ServiceName,
    binDir: string,
    dir: string,
    onPauses: (ms: number[]) => void,
  ) {
    this.logPath = join(dir, `${name}.log`)
    const out = createWriteStream(this.logPath)
    this.proc = spawn(join(binDir, name), [`-f=${join(dir, `${name}.yaml`)}`], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, GODEBUG: [process.env.GODEBUG, 'gctrace=1'].filter(Boolean).join(',') },
    })
    this.proc.stdout!.pipe(out, { end: false })
    createInterface({ input: this.proc.stderr! }).on('line', (line) => {
      out.write(line + '\n')
      const p = gcPauses(line)
      if (p.length) onPauses(p)
    })
    this.done = new Promise((resolve) =>
      this.proc.once('exit', (code, sig) => {
        this.exited = `${sig ?? `code ${code}`}`
        out.end()
        resolve()
      }),
    )
  }

  get pid(): number {
    return this.proc.pid!
  }

  /** SIGTERM, SIGKILL after 5 s; resolves once the process has exited. */
  async stop(): Promise<void> {
    if (this.exited !== undefined) return
    this.proc.kill('SIGTERM')
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000)
    await this.done
    clearTimeout(timer)
  }
}

async function start(opts: PeerOptions): Promise<TeamgramRunning> {
  const paths = await ensureBuilt()
  const t0 = performance.now()
  const dir = opts.workDir
  const services: GoService[] = []
  let etcd: EtcdInstance | undefined
  let redis: RedisInstance | undefined
  let db: MariaDbInstance | undefined
  // A bench that dies without stop() must not leave the services running.
  const killAll = (): void => {
    for (const pid of [...services.filter((s) => s.exited === undefined).map((s) => s.pid), etcd?.pid, redis?.pid, db?.pid]) {
      if (pid === undefined) continue
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
  }
  process.once('exit', killAll)
  const cleanup = async (): Promise<void> => {
    process.off('exit', killAll)
    await Promise.all(services.map((s) => s.stop()))
    await Promise.all([etcd?.destroy(), redis?.destroy(), db?.destroy()])
  }
  try {
    const started = await Promise.allSettled([startEtcd(), startRedis(), startMariaDb()])
    etcd = started[0].status === 'fulfilled' ? started[0].value : undefined
    redis = started[1].status === 'fulfilled' ? started[1].value : undefined
    db = started[2].status === 'fulfilled' ? started[2].value : undefined
    const failed = started.filter((s): s is PromiseRejectedResult => s.status === 'rejected')
    if (failed.length) throw new Error(failed.map((f) => (f.reason as Error).message).join('\n'))
    const tables = loadSchema(db!, paths.sql)
    const key = gnetwayKey(opts.privateKeyPem)
    const keyFile = join(dir, 'server_pkcs1.key')
    writeFileSync(keyFile, key.pkcs1Pem, { mode: 0o600 })
    const values: ConfigValues = {
      ports: { mtproto: await freePort(), gnetwayGrpc: await freePort(), sessionGrpc: await freePort(), authsessionGrpc: await freePort() },
      etcd: `127.0.0.1:${etcd!.port}`,
      redis: `127.0.0.1:${redis!.port}`,
      mysqlDsn: mysqlDsn(db!.user, db!.password, db!.port),
      keyFile,
      keyFingerprint: key.fingerprint,
      logLevel: process.env.MTGATE_TEAMGRAM_LOG_LEVEL ?? 'error',
    }
    for (const s of SERVICES) writeFileSync(join(dir, `${s}.yaml`), renderConfig(s, values))
    const infra = ((performance.now() - t0) / 1000).toFixed(1)

    let pauses: number[] = []
    const ports: Record<ServiceName, number[]> = {
      authsession: [values.ports.authsessionGrpc],
      session: [values.ports.sessionGrpc],
      gnetway: [values.ports.gnetwayGrpc, values.ports.mtproto],
    }
    const deadline = Date.now() + 60_000
    for (const name of SERVICES) {
      const s = new GoService(name, paths.bin, dir, (p) => pauses.push(...p))
      services.push(s)
      const ready = async (): Promise<boolean> =>
        (await etcdHas(etcd!.endpoint, ETCD_KEYS[name]).catch(() => false)) && (await Promise.all(ports[name].map(tcpAccepts))).every(Boolean)
      while (!(await ready())) {
        if (s.exited !== undefined) throw new Error(`teamgram ${name} exited (${s.exited}):\n${tail(s.logPath)}`)
        if (Date.now() > deadline) throw new Error(`teamgram ${name}: not registered in etcd or not accepting on 127.0.0.1:${ports[name].join(', ')} within 60 s:\n${tail(s.logPath)}`)
        await sleep(100)
      }
    }
    await warmUp(values.ports.mtproto, opts.privateKeyPem, services[2]!.logPath)
    log(`up on 127.0.0.1:${values.ports.mtproto} in ${((performance.now() - t0) / 1000).toFixed(1)} s (MariaDB + Redis + etcd + ${tables} schema files: ${infra} s); logs in ${dir}`)

    pauses = []
    const pids = services.map((s) => s.pid)
    return {
      host: '127.0.0.1',
      port: values.ports.mtproto,
      dc: 1,
      pids,
      infraPids: [db!.pid!, redis!.pid!, etcd!.pid!],
      dir,
      /** p99 of the GC pauses since the previous call (the first call: since start() resolved). */
      stalls: async () => {
        const phase = pauses
        pauses = []
        const p99 = percentile(phase, 99)
        return { p99Ms: p99 ?? 0, source: `Go GC stop-the-world pauses (GODEBUG=gctrace=1) of gnetway+session+authsession: ${phase.length / 2} GC cycles` }
      },
      stop: async () => {
        const dead = services.filter((s) => s.exited !== undefined).map((s) => `${s.name} (${s.exited})`)
        await cleanup()
        if (dead.length) log(`exited before stop: ${dead.join(', ')}`)
      },
    }
  } catch (e) {
    await cleanup()
    throw e
  }
}

export const teamgramPeer: Peer & { start(opts: PeerOptions): Promise<TeamgramRunning> } = {
  name: 'teamgram',
  async missing() {
    const reasons = [serviceMissing('mariadb'), serviceMissing('redis'), serviceMissing('etcd'), buildMissing()].filter((r) => r !== undefined)
    return reasons.length ? reasons.join('; ') : undefined
  },
  start,
}
