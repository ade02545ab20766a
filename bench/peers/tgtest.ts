/**
 * gotd's tgtest (github.com/gotd/td v0.162.0) as a server under test: the Go program in
 * bench/peers/tgtest (its own module, pinned in go.mod/go.sum), built with `go build` into a cache
 * directory outside the repository ($XDG_CACHE_HOME or ~/.cache, under mtgate-bench/tgtest/,
 * keyed by a hash of its sources and the Go version), run with the bench's key on a free
 * 127.0.0.1 port. Its stall figure is the garbage collector's stop-the-world time per cycle
 * (GODEBUG=gctrace=1: sweep termination + mark termination, wall clock).
 */
import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Peer, PeerOptions, RunningPeer } from './peer.js'
import { stopProcess, waitForLine } from './process.js'

/** bench/peers/tgtest in the repository, from dist/bench/peers/. */
export const TGTEST_SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bench', 'peers', 'tgtest')
const DC = 2

function run(cmd: string, args: string[], cwd?: string, env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { cwd, env, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  )
}

/** Environment of every go command: go.sum as committed, no workspace. */
export function goEnv(): NodeJS.ProcessEnv {
  const flags = (process.env.GOFLAGS ?? '').split(/\s+/).filter((f) => f !== '' && !f.startsWith('-mod=') && !f.startsWith('-buildvcs'))
  return { ...process.env, GOFLAGS: [...flags, '-mod=readonly', '-buildvcs=false'].join(' '), GOWORK: 'off' }
}

/** The cached binary's path: the hash covers every source file of the module and `go version`. */
async function binaryPath(): Promise<string> {
  const h = createHash('sha256')
  h.update(await run('go', ['version']))
  for (const f of readdirSync(TGTEST_SRC).sort()) {
    if (f === 'go.mod' || f === 'go.sum' || f.endsWith('.go')) h.update(f + '\0').update(readFileSync(join(TGTEST_SRC, f)))
  }
  const cache = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache')
  return join(cache, 'mtgate-bench', 'tgtest', h.digest('hex').slice(0, 16), 'tgtest')
}

/** Builds the tgtest program unless the cache has it; its path. */
export async function buildTgtest(log: (line: string) => void = () => {}): Promise<string> {
  const bin = await binaryPath()
  if (existsSync(bin)) return bin
  mkdirSync(dirname(bin), { recursive: true })
  log(`building ${TGTEST_SRC} into ${bin} (the first build downloads and compiles gotd/td: minutes)`)
  const tmp = `${bin}.${process.pid}.tmp`
  await run('go', ['build', '-o', tmp, '.'], TGTEST_SRC, goEnv())
  renameSync(tmp, bin)
  return bin
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

/** One gctrace line: "gc 7 @1.234s 2%: 0.011+1.2+0.003 ms clock, ..."; its stop-the-world ms. */
const GCTRACE = /^gc \d+ @[\d.]+s \d+%: ([\d.]+)\+[\d.]+\+([\d.]+) ms clock/

export function gcPauseMs(line: string): number | undefined {
  const m = GCTRACE.exec(line)
  return m === null ? undefined : Number(m[1]) + Number(m[2])
}

function p99(xs: number[]): number {
  if (xs.length === 0) return 0
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(0.99 * s.length))]!
}

export const tgtest: Peer = {
  name: 'tgtest',

  async missing() {
    if (!existsSync(join(TGTEST_SRC, 'go.mod'))) return `${TGTEST_SRC} not found`
    try {
      await run('go', ['version'])
    } catch {
      return 'go not found'
    }
    return undefined
  },

  async start(opts: PeerOptions): Promise<RunningPeer> {
    const bin = await buildTgtest((l) => process.stderr.write(`[bench peers] ${l}\n`))
    const keyPath = join(opts.workDir, 'tgtest.pem')
    writeFileSync(keyPath, opts.privateKeyPem, { mode: 0o600 })
    const port = await freePort()
    const proc = spawn(bin, ['-addr', `127.0.0.1:${port}`, '-key', keyPath], {
      env: { ...process.env, GODEBUG: 'gctrace=1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let pauses: number[] = []
    let partial = ''
    let others: string[] = []
    proc.stderr!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n')
      partial = lines.pop()!
      for (const l of lines) {
        const p = gcPauseMs(l)
        if (p !== undefined) pauses.push(p)
        else others = [...others.slice(-40), l]
      }
    })
    let stopping = false
    proc.once('exit', (code, sig) => {
      if (!stopping) process.stderr.write(`[bench peers] tgtest exited (code ${code}, signal ${sig}); its stderr ends:\n${[...others, partial].join('\n')}\n`)
    })
    await waitForLine(proc, /tgtest: listening on/, 30_000, 'tgtest')
    return {
      host: '127.0.0.1',
      port,
      dc: DC,
      pids: [proc.pid!],
      stalls: async () => {
        const taken = pauses
        pauses = []
        return { p99Ms: p99(taken), source: `Go GC stop-the-world pause p99 (${taken.length} GCs, GODEBUG=gctrace=1)` }
      },
      stop: () => {
        stopping = true
        return stopProcess(proc)
      },
    }
  },
}
