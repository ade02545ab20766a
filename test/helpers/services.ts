/**
 * Private instances of the real services the stores and the cluster talk to (MariaDB, Redis, etcd),
 * for tests and benches: each runs on a free loopback port with its data in a temporary directory,
 * is started and stopped by the PID we spawned (never by name) and its directory is removed on
 * destroy(). No system service, no root password.
 *
 * When a binary is missing: under CI=true the test must fail (requireService throws with the reason);
 * otherwise the test may be skipped with the printed reason.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, openSync, closeSync, rmSync, readFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { TestContext } from 'node:test'

export type ServiceName = 'mariadb' | 'redis' | 'etcd'

const BINARIES: Record<ServiceName, string[]> = {
  mariadb: ['mariadbd', 'mariadb-install-db'],
  redis: ['redis-server'],
  etcd: ['etcd'],
}

/** Where a binary lives (PATH plus the sbin directories Debian puts daemons in), or undefined. */
export function findBinary(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/local/sbin', '/sbin'])
  for (const d of dirs) {
    if (!d) continue
    const p = join(d, name)
    if (existsSync(p)) return p
  }
  return undefined
}

/** Why a service cannot run here, or undefined when its binaries are present. */
export function serviceMissing(name: ServiceName): string | undefined {
  const missing = BINARIES[name].filter((b) => !findBinary(b))
  return missing.length ? `${name}: binary not found: ${missing.join(', ')}` : undefined
}

/**
 * For a test needing `name`: returns true when it can run. When it cannot: throws under CI=true
 * (a missing service is a failure there), otherwise skips the test with the reason and returns false.
 */
export function requireService(t: TestContext, name: ServiceName): boolean {
  const reason = serviceMissing(name)
  if (!reason) return true
  if (process.env.CI === 'true') throw new Error(`${reason} (required when CI=true)`)
  process.stderr.write(`skipping: ${reason}\n`)
  t.skip(reason)
  return false
}

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

/** One private server process; can be killed and started again on the same port and data. */
abstract class PrivateService {
  protected proc: ChildProcess | undefined
  private exited: Promise<void> = Promise.resolve()
  readonly host = '127.0.0.1'

  constructor(
    readonly name: ServiceName,
    readonly dir: string,
    readonly port: number,
  ) {}

  protected abstract command(): { bin: string; args: string[] }
  protected abstract ready(): Promise<boolean>

  get pid(): number | undefined {
    return this.proc?.pid
  }

  get running(): boolean {
    return this.proc !== undefined
  }

  /** Starts the process and waits until it answers (throws with its log tail after timeoutMs). */
  async start(timeoutMs = 20_000): Promise<void> {
    if (this.proc) return
    const { bin, args } = this.command()
    const logPath = join(this.dir, `${this.name}.log`)
    const fd = openSync(logPath, 'a')
    const proc = spawn(bin, args, { stdio: ['ignore', fd, fd], detached: false })
    closeSync(fd)
    this.proc = proc
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()))
    let exitedEarly = false
    proc.once('exit', () => {
      exitedEarly = true
      if (this.proc === proc) this.proc = undefined
    })
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (exitedEarly) break
      if (await this.ready().catch(() => false)) return
      await sleep(50)
    }
    const tail = readTail(logPath)
    await this.kill()
    throw new Error(`${this.name} did not become ready on port ${this.port}${exitedEarly ? ' (exited)' : ''}:\n${tail}`)
  }

  /** Sends SIGKILL to the process we started and waits for it to exit (a crash). */
  async kill(): Promise<void> {
    await this.signal('SIGKILL')
  }

  /** Sends SIGTERM (clean shutdown) and waits; SIGKILL after 15 s. */
  async stop(): Promise<void> {
    const proc = this.proc
    if (!proc) return
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000)
    await this.signal('SIGTERM')
    clearTimeout(timer)
  }

  /** Kills (SIGKILL) and starts again on the same port and data directory. */
  async restart(): Promise<void> {
    await this.kill()
    await this.start()
  }

  /** Stops the process and removes its directory. */
  async destroy(): Promise<void> {
    await this.stop()
    rmSync(this.dir, { recursive: true, force: true })
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const proc = this.proc
    if (!proc) return
    proc.kill(sig)
    await this.exited
    this.proc = undefined
  }
}

function readTail(path: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-15).join('\n')
  } catch {
    return '(no log)'
  }
}

/** Resolves true when a TCP connection to host:port succeeds and `probe` (optional) answers as expected. */
function tcpProbe(port: number, send?: string, expect?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port })
    let buf = ''
    const done = (ok: boolean): void => {
      sock.destroy()
      resolve(ok)
    }
    sock.setTimeout(1000, () => done(false))
    sock.on('error', () => done(false))
    sock.on('connect', () => {
      if (send === undefined) return done(true)
      sock.write(send)
    })
    sock.on('data', (d) => {
      buf += d.toString('latin1')
      if (expect !== undefined && buf.includes(expect)) done(true)
    })
  })
}

// ---------------------------------------------------------------- MariaDB

export class MariaDbInstance extends PrivateService {
  /** A non-root account with a password, owning `database` (what a deployment would configure). */
  readonly user = 'mtgate'
  readonly password = randomBytes(12).toString('hex')
  readonly database = 'mtgate'
  readonly socket: string

  constructor(dir: string, port: number) {
    super('mariadb', dir, port)
    this.socket = join(dir, 'mysqld.sock')
  }

  protected command(): { bin: string; args: string[] } {
    return {
      bin: findBinary('mariadbd') ?? 'mariadbd',
      args: [
        '--no-defaults',
        `--datadir=${join(this.dir, 'data')}`,
        `--socket=${this.socket}`,
        `--port=${this.port}`,
        '--bind-address=127.0.0.1',
        '--user=root',
        '--skip-name-resolve',
        `--pid-file=${join(this.dir, 'mariadbd.pid')}`,
        `--tmpdir=${this.dir}`,
        '--innodb-buffer-pool-size=32M',
        '--max-connections=200',
      ],
    }
  }

  protected async ready(): Promise<boolean> {
    if (!existsSync(this.socket)) return false
    return tcpProbe(this.port)
  }

  /** Connection options for mysql2 as the non-root account. */
  get connection(): { host: string; port: number; user: string; password: string; database: string } {
    return { host: this.host, port: this.port, user: this.user, password: this.password, database: this.database }
  }

  /** Runs SQL as root through the `mariadb` CLI over the socket (setup only). */
  rootSql(sql: string): void {
    const cli = findBinary('mariadb') ?? findBinary('mysql')
    if (!cli) throw new Error('mariadb: client binary not found')
    const r = spawnSync(cli, ['--no-defaults', '-uroot', `--socket=${this.socket}`, '-e', sql], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`mariadb: ${sql.slice(0, 80)}: ${r.stderr}`)
  }

  /** Creates a fresh database (dropping it if present) and grants it to the account. */
  createDatabase(name: string): void {
    this.rootSql(
      `DROP DATABASE IF EXISTS \`${name}\`; CREATE DATABASE \`${name}\`; ` +
        `GRANT ALL ON \`${name}\`.* TO '${this.user}'@'127.0.0.1'; FLUSH PRIVILEGES;`,
    )
  }
}

/** Initialises a data directory, starts mariadbd, creates the `mtgate` database and account. */
export async function startMariaDb(): Promise<MariaDbInstance> {
  const reason = serviceMissing('mariadb')
  if (reason) throw new Error(reason)
  const dir = mkdtempSync(join(tmpdir(), 'mtgate-mariadb-'))
  const install = spawnSync(
    findBinary('mariadb-install-db') ?? 'mariadb-install-db',
    [
      '--no-defaults',
      `--datadir=${join(dir, 'data')}`,
      '--user=root',
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
    ],
    { encoding: 'utf8' },
  )
  if (install.status !== 0) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`mariadb-install-db failed: ${install.stderr || install.stdout}`)
  }
  const db = new MariaDbInstance(dir, await freePort())
  try {
    await db.start()
    db.rootSql(
      `CREATE USER '${db.user}'@'127.0.0.1' IDENTIFIED BY '${db.password}'; ` +
        `CREATE DATABASE \`${db.database}\`; GRANT ALL ON \`${db.database}\`.* TO '${db.user}'@'127.0.0.1'; FLUSH PRIVILEGES;`,
    )
  } catch (e) {
    await db.destroy()
    throw e
  }
  return db
}

// ---------------------------------------------------------------- Redis

export class RedisInstance extends PrivateService {
  constructor(dir: string, port: number) {
    super('redis', dir, port)
  }

  protected command(): { bin: string; args: string[] } {
    return {
      bin: findBinary('redis-server') ?? 'redis-server',
      args: ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir],
    }
  }

  protected ready(): Promise<boolean> {
    return tcpProbe(this.port, 'PING\r\n', '+PONG')
  }

  get connection(): { host: string; port: number } {
    return { host: this.host, port: this.port }
  }
}

export async function startRedis(): Promise<RedisInstance> {
  const reason = serviceMissing('redis')
  if (reason) throw new Error(reason)
  const dir = mkdtempSync(join(tmpdir(), 'mtgate-redis-'))
  const r = new RedisInstance(dir, await freePort())
  try {
    await r.start()
  } catch (e) {
    await r.destroy()
    throw e
  }
  return r
}

// ---------------------------------------------------------------- etcd

export class EtcdInstance extends PrivateService {
  constructor(
    dir: string,
    port: number,
    readonly peerPort: number,
  ) {
    super('etcd', dir, port)
  }

  protected command(): { bin: string; args: string[] } {
    const client = `http://127.0.0.1:${this.port}`
    const peer = `http://127.0.0.1:${this.peerPort}`
    return {
      bin: findBinary('etcd') ?? 'etcd',
      args: [
        '--name',
        'mtgate-test',
        '--data-dir',
        join(this.dir, 'data'),
        '--listen-client-urls',
        client,
        '--advertise-client-urls',
        client,
        '--listen-peer-urls',
        peer,
        '--initial-advertise-peer-urls',
        peer,
        '--initial-cluster',
        `mtgate-test=${peer}`,
      ],
    }
  }

  protected async ready(): Promise<boolean> {
    try {
      const res = await fetch(`${this.endpoint}/health`, { signal: AbortSignal.timeout(1000) })
      if (!res.ok) return false
      const body = (await res.json()) as { health?: string }
      return body.health === 'true'
    } catch {
      return false
    }
  }

  /** The client URL, e.g. for `new Etcd3({ hosts: instance.endpoint })`. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`
  }
}

/**
 * A private etcd on two free ports. freePort cannot reserve a port and node --test starts test files
 * in parallel, so a start that loses its port to another file is retried on fresh ports.
 */
export async function startEtcd(): Promise<EtcdInstance> {
  const reason = serviceMissing('etcd')
  if (reason) throw new Error(reason)
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'mtgate-etcd-'))
    const e = new EtcdInstance(dir, await freePort(), await freePort())
    try {
      await e.start()
      return e
    } catch (err) {
      await e.destroy()
      if (attempt >= 3 || !/address already in use/.test((err as Error).message)) throw err
    }
  }
}

/**
 * For describe()/it() options: the reason to skip a suite needing `names` on a machine without them,
 * or undefined. Under CI=true never skips (the suite then fails with the missing binary's name).
 */
export function skipWithout(...names: ServiceName[]): string | undefined {
  const reasons = names.map(serviceMissing).filter((r): r is string => r !== undefined)
  if (reasons.length === 0 || process.env.CI === 'true') return undefined
  const reason = reasons.join('; ')
  process.stderr.write(`skipping: ${reason}\n`)
  return reason
}
