/**
 * Runs test/rpc/teamgram/go (Teamgram's own protobuf types and TL codec, github.com/teamgram/proto)
 * as a checker: built once per process with `go build`, offline (GOPROXY=off, go.sum as committed;
 * the modules come from the module cache, filled by .ci/deps/teamgram-go.sh).
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { ROOT } from '../../tl/helpers.js'

export const GO_DIR = join(ROOT, 'test', 'rpc', 'teamgram', 'go')

let bin: string | undefined

/** Builds the checker (minutes the first time on a cold Go build cache). */
export function buildGoChecker(): string {
  if (bin !== undefined) return bin
  const out = join(mkdtempSync(join(tmpdir(), 'tgcodec-')), 'tgcodec')
  const flags = (process.env.GOFLAGS ?? '').split(/\s+/).filter((f) => f !== '' && !f.startsWith('-mod=') && !f.startsWith('-buildvcs'))
  const env = { ...process.env, GOFLAGS: [...flags, '-mod=readonly', '-buildvcs=false'].join(' '), GOPROXY: 'off', GOWORK: 'off' }
  execFileSync('go', ['build', '-o', out, '.'], { cwd: GO_DIR, env, stdio: ['ignore', 'inherit', 'inherit'], timeout: 15 * 60_000 })
  return (bin = out)
}

export interface GoChecker {
  /** Teamgram's TL encoding (layer) of protobuf bytes of mtproto.<message>. */
  toTl(message: string, layer: number, pb: Buffer): Promise<Buffer>
  /** Teamgram's protobuf of TL bytes decoded by Teamgram into mtproto.<message>. */
  toPb(message: string, tl: Buffer): Promise<Buffer>
  close(): void
}

export function startGoChecker(): GoChecker {
  const p = spawn(buildGoChecker(), [], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: p.stdout! })
  const waiting: ((line: string) => void)[] = []
  lines.on('line', (l) => waiting.shift()?.(l))
  const ask = (req: string): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      waiting.push((line) => (line.startsWith('ok ') ? resolve(Buffer.from(line.slice(3), 'hex')) : reject(new Error(`Teamgram's codec: ${line} (request ${req.slice(0, 80)})`))))
      p.stdin!.write(req + '\n')
    })
  return {
    toTl: (message, layer, pb) => ask(`tl ${message} ${layer} ${pb.toString('hex')}`),
    toPb: (message, tl) => ask(`pb ${message} ${tl.toString('hex')}`),
    close: () => p.stdin!.end(),
  }
}
