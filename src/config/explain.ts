/**
 * `mtgate config [--explain]`: the effective configuration, one value a line (dotted snake_case
 * paths, as the YAML file names them), each with where it came from: the default, the file, or
 * the environment variable that set it, or the values a default is computed from. Passwords are
 * shown as ***.
 */
import { parseConfigSources, readConfigFile, type Env, type EnvSources } from './load.js'
import { normalizeStore } from './store.js'

export interface ExplainedValue {
  path: string
  value: string
  /** `default`, `file`, `file (url)`, `env NAME`, or `derived from …`. */
  source: string
}

/** Sections passed to the store as they are written (their keys are not snake_case). */
const VERBATIM = new Set(['store.mysql', 'store.redis', 'store.teamgram_cache'])

/** Values that, when not set themselves, are computed from others (shown as `derived from …`). */
const DERIVED: readonly [RegExp, string][] = [
  [/^store\.sqlite_path$/, 'data_dir'],
  [/^public_addresses\[/, 'host, tcp_ports, dc_ids'],
]

const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())

/** Every value of the configuration `file` (none: defaults) plus `env` gives, with its source. */
export function explainConfig(opts: { file?: string; env?: Env; cwd?: string } = {}): ExplainedValue[] {
  const file = opts.file === undefined ? {} : readConfigFile(opts.file)
  const { config, envSources } = parseConfigSources(file, opts.env ?? process.env, opts.cwd ?? process.cwd())
  const doc = file !== null && typeof file === 'object' ? { ...file, store: normalizeStore((file as { store?: unknown }).store) } : file
  const out: ExplainedValue[] = []
  const visit = (v: unknown, path: string[], verbatim: boolean): void => {
    if (v === undefined) return
    const at = path.join('.').replace(/\.\[/g, '[')
    if (v instanceof Uint8Array) return leaf(Buffer.from(v).toString('hex'))
    if (Array.isArray(v) && v.some((x) => x !== null && typeof x === 'object')) {
      v.forEach((x, i) => visit(x, [...path, `[${i}]`], verbatim))
      return
    }
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0) {
      for (const [k, x] of Object.entries(v)) {
        visit(x, [...path, verbatim ? k : snake(k)], verbatim || VERBATIM.has(at === '' ? snake(k) : `${at}.${snake(k)}`))
      }
      return
    }
    leaf(/password$/i.test(path[path.length - 1] ?? '') && v !== '' ? '***' : typeof v === 'string' ? v : JSON.stringify(v))
    function leaf(value: string): void {
      let source = sourceOf(rawPath(path), doc, envSources)
      const derived = source === 'default' ? DERIVED.find(([re]) => re.test(at)) : undefined
      if (derived) source = `derived from ${derived[1]}`
      out.push({ path: at, value, source })
    }
  }
  visit(config, [], false)
  return out
}

/** The lines `mtgate config` prints: `path  value`, and with `sources` `(source)` after it. */
export function formatExplained(values: readonly ExplainedValue[], sources: boolean): string[] {
  const w = Math.max(...values.map((v) => v.path.length))
  const vw = Math.min(48, Math.max(...values.map((v) => v.value.length)))
  return values.map((v) => (sources ? `${v.path.padEnd(w)}  ${v.value.padEnd(vw)}  (${v.source})` : `${v.path.padEnd(w)}  ${v.value}`))
}

/** The YAML path of a ServerConfig path (the upstream section's keys are top-level in the file). */
function rawPath(path: readonly string[]): string[] {
  return path[0] === 'upstream' ? path.slice(1) : [...path]
}

function sourceOf(path: readonly string[], doc: unknown, envSources: EnvSources): string {
  for (let n = path.length; n > 0; n--) {
    const name = envSources.get(path.slice(0, n).join('.').replace(/\.\[/g, '['))
    if (name !== undefined) return `env ${name}`
  }
  let cur: unknown = doc
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return 'file' // a scalar in the file stands for everything below it
    const m = /^\[(\d+)\]$/.exec(seg)
    const next: unknown = m ? (Array.isArray(cur) ? cur[Number(m[1])] : undefined) : (cur as Record<string, unknown>)[seg]
    if (next === undefined) {
      // store.mysql / store.redis fields a `url:` carries
      return !m && (cur as Record<string, unknown>).url !== undefined ? 'file (url)' : 'default'
    }
    cur = next
  }
  return 'file'
}
