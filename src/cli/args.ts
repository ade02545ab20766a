/** Command-line parsing for `mtgate <command> [--config file] [options]`. */

export type Command = 'serve' | 'gateway' | 'session' | 'keygen' | 'keys' | 'config' | 'help'

const COMMANDS: readonly Command[] = ['serve', 'gateway', 'session', 'keygen', 'keys', 'config', 'help']

export interface CliArgs {
  command: Command
  config?: string
  /** keygen: RSA modulus bits. */
  bits: number
  /** config: say where each value came from (default, file, env). */
  explain?: boolean
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
  config    print the effective configuration (--explain: and where each value came from)
  help      this text

options:
  --config FILE   YAML config file (see src/config/defaults.ts); env MTGATE_* overrides it
  --bits N        keygen: RSA modulus size (default 2048)
  --explain       config: each value's source (default, file, env MTGATE_...)
`

export function parseArgs(argv: readonly string[], env: Record<string, string | undefined> = {}): CliArgs {
  const out: CliArgs = { command: 'help', bits: 2048 }
  const rest = [...argv]
  const first = rest[0]
  if (first !== undefined && !first.startsWith('-')) {
    rest.shift()
    if (!(COMMANDS as readonly string[]).includes(first)) throw new UsageError(`unknown command: ${first}`)
    out.command = first as Command
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
      case '--help':
      case '-h':
        out.command = 'help'
        break
      default:
        throw new UsageError(`unknown option: ${a}`)
    }
  }
  if (out.config === undefined && env.MTGATE_CONFIG) out.config = env.MTGATE_CONFIG
  return out
}
