import { crc32 } from '../../util/crc32.js'

/**
 * Parser for the TL schema language as the schema files use it: `//` comments, `---functions---` /
 * `---types---`, `flags:#` / `flags2:#`, `flags.N?Type`, `flags.N?true`, `Vector<T>` / `vector<t>`,
 * `{X:Type}` with `!X`, `%T` bare forms, and the built-in declarations (`int ? = Int;`,
 * `vector {t:Type} # [ t ] = Vector t;`, `int128 4*[ int ] = Int128;`) which are recorded, not generated.
 */

export interface TlArg {
  name: string
  /** The type as written, without the condition: `int`, `Vector<long>`, `!X`, `#`, `%Message`, `true`. */
  type: string
  /** `flags.N?` prefix, if any. */
  cond?: { field: string; bit: number }
}

export interface TlEntry {
  kind: 'constructor' | 'method'
  name: string
  /** The id used on the wire: the stated one if present, else the computed one. */
  id: number
  statedId?: number
  computedId: number
  generics: { name: string; type: string }[]
  args: TlArg[]
  /** Result type as written (`ResPQ`, `Vector<long>`, `X`, `Vector t`). */
  result: string
  /** 1-based line of the definition and its text. */
  line: number
  source: string
}

export interface TlSchema {
  layer?: number
  entries: TlEntry[]
  /** Built-in declarations seen (`int`, `vector`, `int128`, ...), by name. */
  builtins: string[]
}

export class TlParseError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(`line ${line}: ${message}`)
  }
}

const HEADER = /^([a-zA-Z][\w.]*)(?:#([0-9a-fA-F]{1,8}))?$/
const ARG = /^([a-zA-Z_]\w*):(.+)$/
const COND = /^([a-zA-Z_]\w*)\.(\d+)\?(.+)$/

export function parseSchema(text: string): TlSchema {
  const entries: TlEntry[] = []
  const builtins: string[] = []
  let layer: number | undefined
  let kind: TlEntry['kind'] = 'constructor'
  let pending = ''
  let pendingLine = 0

  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!
    const lm = /^\s*\/\/\s*LAYER\s+(\d+)/.exec(line)
    if (lm) layer = Number(lm[1])
    const c = line.indexOf('//')
    if (c >= 0) line = line.slice(0, c)
    line = line.trim()
    if (!line) continue
    if (pending === '') {
      if (line === '---functions---') {
        kind = 'method'
        continue
      }
      if (line === '---types---') {
        kind = 'constructor'
        continue
      }
      pendingLine = i + 1
    }
    pending = pending ? `${pending} ${line}` : line
    if (!pending.endsWith(';')) continue
    const def = pending.slice(0, -1).trim()
    pending = ''
    const b = builtinName(def)
    if (b !== undefined) {
      builtins.push(b)
      continue
    }
    entries.push(parseEntry(def, kind, pendingLine))
  }
  if (pending) throw new TlParseError('definition not terminated by ;', pendingLine)
  return { layer, entries, builtins }
}

/** Built-in declarations: `int ? = Int`, `vector {t:Type} # [ t ] = Vector t`, `int128 4*[ int ] = Int128`. */
function builtinName(def: string): string | undefined {
  if (/(^|\s)\?(\s|$)/.test(def) || /\[/.test(def)) return def.split(/[\s#]/)[0]
  return undefined
}

export function parseEntry(def: string, kind: TlEntry['kind'], line: number): TlEntry {
  const eq = def.lastIndexOf('=')
  if (eq < 0) throw new TlParseError(`no "=" in ${JSON.stringify(def)}`, line)
  const left = def.slice(0, eq).trim().split(/\s+/)
  const result = def.slice(eq + 1).trim().replace(/\s+/g, ' ')
  if (!result) throw new TlParseError('empty result type', line)
  const head = HEADER.exec(left[0]!)
  if (!head) throw new TlParseError(`bad combinator name ${JSON.stringify(left[0])}`, line)
  const name = head[1]!
  const statedId = head[2] !== undefined ? parseInt(head[2], 16) >>> 0 : undefined
  const generics: TlEntry['generics'] = []
  const args: TlArg[] = []
  for (const tok of left.slice(1)) {
    if (tok.startsWith('{')) {
      const m = /^\{([a-zA-Z_]\w*):(\w+)\}$/.exec(tok)
      if (!m) throw new TlParseError(`bad generic ${tok}`, line)
      generics.push({ name: m[1]!, type: m[2]! })
      continue
    }
    const m = ARG.exec(tok)
    if (!m) throw new TlParseError(`bad argument ${JSON.stringify(tok)}`, line)
    let type = m[2]!
    let cond: TlArg['cond']
    const cm = COND.exec(type)
    if (cm) {
      cond = { field: cm[1]!, bit: Number(cm[2]) }
      type = cm[3]!
      if (cond.bit > 31) throw new TlParseError(`flag bit ${cond.bit} > 31`, line)
      if (!args.some((a) => a.name === cond!.field && a.type === '#')) {
        throw new TlParseError(`condition on ${cond.field}, which is not an earlier # field`, line)
      }
    }
    if (!/^[!%]?[\w.]+(<[%\w.<>]+>)?$/.test(type) && type !== '#') throw new TlParseError(`bad type ${type}`, line)
    args.push(cond ? { name: m[1]!, type, cond } : { name: m[1]!, type })
  }
  const entry: TlEntry = {
    kind,
    name,
    id: 0,
    computedId: 0,
    generics,
    args,
    result,
    line,
    source: def + ';',
  }
  entry.computedId = computeId(entry)
  entry.id = statedId ?? entry.computedId
  if (statedId !== undefined) entry.statedId = statedId
  return entry
}

/**
 * Type as the official tooling hashes it: `<`→space, `>` dropped, and a whole `bytes` type written
 * as `string` (bytes inside `Vector<bytes>` stays `bytes`, as Telegram's stated ids show).
 */
function normType(t: string): string {
  return t === 'bytes' ? 'string' : t.replace(/</g, ' ').replace(/>/g, '')
}

/** The normalised line the official tooling hashes: no id, no `?true` args, `<>` as spaces, bytes→string. */
export function idString(e: Pick<TlEntry, 'name' | 'generics' | 'args' | 'result'>): string {
  const parts = [e.name]
  for (const g of e.generics) parts.push(`${g.name}:${g.type}`)
  for (const a of e.args) {
    if (a.cond && a.type === 'true') continue
    const t = a.cond ? `${a.cond.field}.${a.cond.bit}?${normType(a.type)}` : normType(a.type)
    parts.push(`${a.name}:${t}`)
  }
  parts.push('=', normType(e.result))
  return parts.join(' ')
}

export function computeId(e: Pick<TlEntry, 'name' | 'generics' | 'args' | 'result'>): number {
  return crc32(Buffer.from(idString(e), 'utf8'))
}
