/** Command-line parsing for `mtgate <command> [--config file] [options]`. */
import type { DecodeArgs } from './decode/command.js'

export type Command = 'serve' | 'gateway' | 'session' | 'keygen' | 'keys' | 'config' | 'decode' | 'help'

const COMMANDS: readonly Command[] = ['serve', 'gateway', 'session', 'keygen', 'keys', 'config', 'decode', 'help']

export interface CliArgs {
  command: Command
  config?: string
  /** keygen: RSA modulus bits. */
  bits: number
  /** config: say where each value came from (default, file, env). */
  explain?: boolean
  /** decode: its file and options. */
  decode?: DecodeArgs
  /** `keys retire FP` / `keys unretire FP` (absent: `keys` lists). */
  keyChange?: KeyChange
}

/** A change of one RSA key's state; `fingerprint` is the 16 lower-case hex digits `mtgate keys` prints. */
export interface KeyChange {
  action: 'retire' | 'unretire'
  fingerprint: string
}

export class UsageError extends Error {
  override readonly name = 'UsageError'
}

export const USAGE = `usage: mtgate <command> [options]

commands:
  serve     run the server (TCP 10443 + 5222, WebSocket 11443 on 127.0.0.1 by default)
  gateway   run a cluster gateway node (listeners, handshake, crypto; needs a cluster: section)
  session   run a cluster session node (session layer, RPC, store; needs a cluster: section)
  keygen    create a new RSA key in the data directory (offered next to existing ones)
  keys      list the RSA keys: fingerprint, state, public key file
  keys retire FP     stop offering key FP in resPQ (it still decrypts); from the next start
  keys unretire FP   offer retired key FP again; from the next start
  config    print the effective configuration (--explain: and where each value came from)
  decode    print the frames of a captured client connection as JSON lines:
            mtgate decode --key HEX|--key-file F|--data-dir D [--server FILE] [--layer N] [--secret HEX] FILE
            (FILE: a .pcap / .pcapng of the connection, or the raw bytes the client sent)
  help      this text

options:
  --config FILE   YAML config file (see src/config/defaults.ts); env MTGATE_* overrides it
  --bits N        keygen: RSA modulus size (default 2048)
  --explain       config: each value's source (default, file, env MTGATE_...)
  --key HEX       decode: the auth key (512 hex digits); --key-file FILE: the same from a file
  --data-dir DIR  decode: look the keys up in DIR's SQLite store
  --server FILE   decode: the raw bytes the server sent (with a raw client FILE)
  --layer N       decode: decode in layer N (default: the client's invokeWithLayer)
  --secret HEX    decode: the MTProxy secret the client's obfuscated2 init is keyed by (plain or dd)
`

export function parseArgs(argv: readonly string[], env: Record<string, string | undefined> = {}): CliArgs {
  const out: CliArgs = { command: 'help', bits: 2048 }
  const rest = [...argv]
  const first = rest[0]
  if (first !== undefined && !first.startsWith('-')) {
    rest.shift()
    if (!(COMMANDS as readonly string[]).includes(first)) throw new UsageError(`unknown command: ${first}`)
    out.command = first as Command
    if (out.command === 'keys' && rest[0] !== undefined && !rest[0].startsWith('-')) out.keyChange = parseKeyChange(rest)
  }
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!
    const eq = a.indexOf('=')
    const name = eq > 0 ? a.slice(0, eq) : a
    const value = (): string => {
      if (eq > 0) return a.slice(eq + 1)
      const v = rest[++i]
      if (v === undefined) throw new UsageError(`${name} needs a value`)
      return v
    }
    switch (name) {
      case '--config':
      case '-c':
        out.config = value()
        break
      case '--bits': {
        const v = value()
        if (!/^\d+$/.test(v) || Number(v) < 1024 || Number(v) > 8192) throw new UsageError('--bits must be 1024..8192')
        out.bits = Number(v)
        break
      }
      case '--explain':
        out.explain = true
        break
      case '--key':
        decodeArgs(out).key = value()
        break
      case '--key-file':
        decodeArgs(out).keyFile = value()
        break
      case '--data-dir':
        decodeArgs(out).dataDir = value()
        break
      case '--server':
        decodeArgs(out).server = value()
        break
      case '--secret':
        decodeArgs(out).secret = value()
        break
      case '--layer': {
        const v = value()
        if (!/^\d+$/.test(v)) throw new UsageError('--layer must be a number')
        decodeArgs(out).layer = Number(v)
        break
      }
      case '--help':
      case '-h':
        out.command = 'help'
        break
      default:
        if (out.command === 'decode' && !a.startsWith('-') && decodeArgs(out).file === undefined) {
          decodeArgs(out).file = a
          break
        }
        throw new UsageError(`unknown option: ${a}`)
    }
  }
  if (out.command === 'decode') checkDecode(decodeArgs(out))
  else if (out.decode !== undefined) throw new UsageError('--key, --key-file, --data-dir, --server, --layer and --secret are options of decode')
  if (out.config === undefined && env.MTGATE_CONFIG) out.config = env.MTGATE_CONFIG
  return out
}

/** Takes `retire|unretire FP` off the front of `rest`. */
function parseKeyChange(rest: string[]): KeyChange {
  const [action, fp] = rest.splice(0, 2)
  if (action !== 'retire' && action !== 'unretire') throw new UsageError(`unknown keys action: ${action} (retire or unretire)`)
  if (fp === undefined || !/^[0-9a-fA-F]{16}$/.test(fp)) throw new UsageError(`keys ${action} needs a fingerprint: 16 hex digits as mtgate keys prints them`)
  return { action, fingerprint: fp.toLowerCase() }
}

function decodeArgs(out: CliArgs): DecodeArgs {
  return (out.decode ??= {})
}

function checkDecode(d: DecodeArgs): void {
  if (d.file === undefined) throw new UsageError('decode needs a FILE (a pcap / pcapng capture or the raw client stream)')
  const keys = [d.key, d.keyFile, d.dataDir].filter((k) => k !== undefined).length
  if (keys !== 1) throw new UsageError('decode needs one of --key, --key-file, --data-dir')
}
