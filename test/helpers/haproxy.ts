/**
 * A real haproxy (the Debian package; .ci/run installs it) in TCP mode in front of a server: one
 * frontend per entry, each to the server through `server … <send-proxy|send-proxy-v2> source
 * 127.0.0.1`, with its own `tcp-request` lines (e.g. `tcp-request connection set-src …`).
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface HaproxyFrontend {
  /** Port haproxy listens on (127.0.0.1). */
  port: number
  /** The server behind it. */
  target: { host: string; port: number }
  proxy: 'send-proxy' | 'send-proxy-v2'
  /** Extra frontend lines. */
  lines?: string[]
}

export interface Haproxy {
  /** What haproxy wrote to stderr so far (for failure messages). */
  stderr(): string
  stop(): void
}

/** Throws when haproxy is not installed. */
export function assertHaproxy(): void {
  if (spawnSync('haproxy', ['-v']).error) throw new Error('haproxy is not installed (.ci/run installs the Debian package)')
}

export function startHaproxy(frontends: HaproxyFrontend[]): Haproxy {
  assertHaproxy()
  const dir = mkdtempSync(join(tmpdir(), 'mtgate-haproxy-'))
  const cfg = join(dir, 'haproxy.cfg')
  const lines = ['global', '  maxconn 100', 'defaults', '  mode tcp', '  timeout connect 2s', '  timeout client 10s', '  timeout server 10s']
  frontends.forEach((f, i) => {
    lines.push(`frontend fe${i}`, `  bind 127.0.0.1:${f.port}`, ...(f.lines ?? []).map((l) => `  ${l}`), `  default_backend be${i}`)
    lines.push(`backend be${i}`, `  server s${i} ${f.target.host}:${f.target.port} ${f.proxy} source 127.0.0.1`)
  })
  writeFileSync(cfg, lines.join('\n') + '\n')
  const hp = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  hp.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  return {
    stderr: () => err,
    stop() {
      hp.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
