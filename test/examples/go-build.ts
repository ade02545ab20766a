/**
 * A Go module of examples/ built for a test: `go build` once per test process into a temporary
 * directory, offline (GOPROXY=off, go.sum as committed; the modules come from the module's
 * .ci/deps script), the binary removed when the process exits.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** A cold compile of a large package (gotd's tg, Teamgram's mtproto) takes minutes on 2 cores; the .ci/deps scripts warm the cache. */
const BUILD_TIMEOUT_MS = 15 * 60_000

/** GOFLAGS without -mod=… (the build must use go.sum as committed), plus -buildvcs=false. */
function goEnv(): NodeJS.ProcessEnv {
  const flags = (process.env.GOFLAGS ?? '').split(/\s+/).filter((f) => f !== '' && !f.startsWith('-mod=') && !f.startsWith('-buildvcs'))
  return { ...process.env, GOFLAGS: [...flags, '-mod=readonly', '-buildvcs=false'].join(' '), GOPROXY: 'off', GOWORK: 'off' }
}

const built = new Map<string, Promise<string>>()

/**
 * The binary of examples/<module>, built on first use. `deps`: the .ci/deps script that fetches
 * its modules (named in errors).
 */
export function goBinary(module: string, deps: string): Promise<string> {
  let p = built.get(module)
  if (p !== undefined) return p
  // this file runs from dist/test/examples
  const cwd = join(dirname(fileURLToPath(import.meta.url)), '../../../examples', module)
  const install = `run \`bash .ci/deps/${deps}\` (CI runs it before npm test)`
  p = new Promise((resolve, reject) => {
    const dir = mkdtempSync(join(tmpdir(), `mtgate-example-${module}-`))
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
    const out = join(dir, `${module}-example`)
    execFile('go', ['build', '-o', out, '.'], { cwd, env: goEnv(), timeout: BUILD_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 22 }, (err, _stdout, stderr) => {
      if ((err as { code?: unknown } | null)?.code === 'ENOENT') return reject(new Error(`\`go\` not found on PATH; ${install}`))
      if (err) return reject(new Error(`go build of examples/${module} failed (Go modules missing? ${install}): ${err.message}\n${stderr}`))
      resolve(out)
    })
  })
  built.set(module, p)
  return p
}
