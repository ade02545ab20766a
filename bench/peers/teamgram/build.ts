/**
 * Getting Teamgram's binaries: gnetway, session and authsession built from teamgram-server at
 * TEAMGRAM_COMMIT, cached outside the repository (MTGATE_BENCH_CACHE, default
 * ~/.cache/mtgate-bench) together with the schema files they need at run time.
 *
 * The source is taken from, in this order: MTGATE_TEAMGRAM_SRC (a checkout, copied, never edited),
 * a copy left in the cache by an earlier run, or the Go module proxy. build.sh bumps the proto
 * module the tree requires to the version the proxy has.
 */
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, cpSync, existsSync, mkdirSync, openSync, closeSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { findBinary } from '../../../test/helpers/services.js'
import { SERVICES, SUPPORT_DIR } from './config.js'

export const TEAMGRAM_MODULE = 'github.com/teamgram/teamgram-server'
export const TEAMGRAM_COMMIT = 'fff02f6e91d84658617bac049a1105a546d2e9fe'

export const GO_MISSING = 'go: binary not found (needed to build Teamgram)'

const log = (msg: string): void => void process.stderr.write(`[bench teamgram] ${msg}\n`)

export interface TeamgramPaths {
  /** Cache directory of this commit. */
  root: string
  /** Writable source copy (go.mod is edited by build.sh). */
  src: string
  /** gnetway, session, authsession and sql/ (Teamgram's schema files). */
  bin: string
  sql: string
}

export function teamgramPaths(): TeamgramPaths {
  const cache = process.env.MTGATE_BENCH_CACHE ?? join(homedir(), '.cache', 'mtgate-bench')
  const root = join(cache, 'teamgram', TEAMGRAM_COMMIT.slice(0, 12))
  const bin = join(root, 'bin')
  return { root, src: join(root, 'src'), bin, sql: join(bin, 'sql') }
}

/** Whether the binaries and schema files of a finished build are in the cache. */
export function built(p: TeamgramPaths): boolean {
  return SERVICES.every((s) => existsSync(join(p.bin, s))) && existsSync(p.sql)
}

function isTeamgramTree(dir: string): boolean {
  return existsSync(join(dir, 'go.mod')) && existsSync(join(dir, 'teamgramd', 'deploy', 'sql'))
}

/** The module's directory in the Go module cache after `go mod download`, or the error it gave. */
function downloadModule(): { dir?: string; error?: string } {
  const r = spawnSync('go', ['mod', 'download', '-json', `${TEAMGRAM_MODULE}@${TEAMGRAM_COMMIT}`], {
    encoding: 'utf8',
    cwd: tmpdir(),
    timeout: 300_000,
  })
  try {
    const info = JSON.parse(r.stdout) as { Dir?: string; Error?: string }
    if (info.Dir) return { dir: info.Dir }
    return { error: info.Error ?? r.stderr.trim() }
  } catch {
    return { error: (r.stderr || r.stdout || `go exited with ${r.status}`).trim() }
  }
}

/** The status and the proxy's words from a `go mod download` error ("403 Forbidden: This module version is not available."). */
function proxyError(error: string): string {
  const m = /(\d{3} [A-Za-z ]+?)\s*\n\s*server response: (.*)/.exec(error)
  return m ? `${m[1]}: ${m[2]!.trim()}` : error.replace(/\s*\n\s*/g, ' ')
}

let proxyAnswer: { dir?: string; error?: string } | undefined

/** Where the source can come from, or why there is none. */
function locateSource(p: TeamgramPaths): { from?: string; missing?: string } {
  const given = process.env.MTGATE_TEAMGRAM_SRC
  if (given) return isTeamgramTree(given) ? { from: given } : { missing: `MTGATE_TEAMGRAM_SRC=${given} is not a teamgram-server tree (no go.mod or teamgramd/deploy/sql)` }
  if (isTeamgramTree(p.src)) return { from: p.src }
  proxyAnswer ??= downloadModule()
  if (proxyAnswer.dir) return { from: proxyAnswer.dir }
  return {
    missing:
      `teamgram-server source: the Go module proxy has no copy of ${TEAMGRAM_MODULE}@${TEAMGRAM_COMMIT.slice(0, 8)} ` +
      `(${proxyError(proxyAnswer.error ?? '')}); set MTGATE_TEAMGRAM_SRC to a checkout of commit ${TEAMGRAM_COMMIT}`,
  }
}

/** Why the Teamgram binaries cannot be had here, or undefined. */
export function buildMissing(p: TeamgramPaths = teamgramPaths()): string | undefined {
  if (built(p)) return undefined
  if (!findBinary('go')) return GO_MISSING
  return locateSource(p).missing
}

function run(cmd: string, args: string[], logPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const fd = openSync(logPath, 'a')
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd] })
    closeSync(fd)
    child.once('error', reject)
    child.once('exit', (code, sig) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} failed (${sig ?? code}); see ${logPath}`))))
  })
}

/** Copies a source tree into the cache with write permission (the module cache's copy is read-only). */
function copySource(from: string, to: string): void {
  const tmp = `${to}.tmp`
  rmSync(tmp, { recursive: true, force: true })
  cpSync(from, tmp, { recursive: true, filter: (s) => !s.endsWith('/.git') })
  const makeWritable = (dir: string): void => {
    chmodSync(dir, 0o755)
    for (const e of readdirSync(dir)) {
      const f = join(dir, e)
      if (statSync(f).isDirectory()) makeWritable(f)
      else chmodSync(f, 0o644)
    }
  }
  makeWritable(tmp)
  renameSync(tmp, to)
}

/** Builds the binaries when the cache has none (minutes the first time); returns the paths. */
export async function ensureBuilt(): Promise<TeamgramPaths> {
  const p = teamgramPaths()
  if (built(p)) return p
  const why = buildMissing(p)
  if (why) throw new Error(why)
  mkdirSync(p.root, { recursive: true })
  const { from } = locateSource(p)
  if (from !== p.src) {
    log(`copying the source from ${from}`)
    copySource(from!, p.src)
  }
  const logPath = join(p.root, 'build.log')
  const t0 = performance.now()
  log(`building gnetway, session, authsession (first build: ~2-3 min, ~5 GB RAM); log ${logPath}`)
  const tmpBin = `${p.bin}.tmp`
  rmSync(tmpBin, { recursive: true, force: true })
  await run('sh', [fileURLToPath(new URL('build.sh', SUPPORT_DIR)), p.src, tmpBin], logPath)
  cpSync(join(p.src, 'teamgramd', 'deploy', 'sql'), join(tmpBin, 'sql'), { recursive: true })
  rmSync(p.bin, { recursive: true, force: true })
  renameSync(tmpBin, p.bin)
  log(`built in ${((performance.now() - t0) / 1000).toFixed(0)} s`)
  return p
}
