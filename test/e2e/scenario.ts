/** Server-side handlers the end-to-end tests install, and what they observed. */
import { buildConfig, buildNearestDc } from '../../src/rpc/builtins.js'
import type { RpcContext } from '../../src/session/api.js'
import { encode, type TlObjectByName } from '../../src/tl/index.js'
import type { E2eServer } from './harness.js'

export const COUNTRIES = 3000

export interface Observed {
  /** Contexts of help.getNearestDc calls, in order. */
  contexts: RpcContext[]
  /** Executions of help.getCountriesList. */
  countriesCalls: number
  /** Serialised size of the large result. */
  countriesBytes: number
}

/** A help.countriesList of COUNTRIES entries (~200 KB serialised, compresses well). */
export function bigCountriesList(): TlObjectByName['help.countriesList'] {
  const countries: TlObjectByName['help.country'][] = []
  for (let i = 0; i < COUNTRIES; i++) {
    countries.push({
      _: 'help.country',
      iso2: `C${i}`,
      default_name: `Country number ${i} of the large result test`,
      country_codes: [{ _: 'help.countryCode', country_code: String(1000 + i), prefixes: ['1', '2'], patterns: ['XXX XXX XXXX'] }],
    })
  }
  return { _: 'help.countriesList', countries, hash: 7 }
}

/**
 * help.getNearestDc records its context; help.getCountriesList returns the large list (after
 * `countriesDelayMs`, to let tests cut the connection while it runs).
 */
export function installHandlers(e: E2eServer, opts: { countriesDelayMs?: number } = {}): Observed {
  const seen: Observed = { contexts: [], countriesCalls: 0, countriesBytes: 0 }
  const s = e.server.config
  e.server.handle('help.getNearestDc', (_req, ctx) => {
    seen.contexts.push(ctx)
    return buildNearestDc({ publicAddresses: s.publicAddresses, telegram: s.telegram }, ctx.connection)
  })
  const list = bigCountriesList()
  seen.countriesBytes = encode(list).length
  e.server.handle('help.getCountriesList', async () => {
    seen.countriesCalls++
    if (opts.countriesDelayMs) await new Promise((r) => setTimeout(r, opts.countriesDelayMs))
    return list
  })
  return seen
}

/** updateShort(updateConfig): the same constructors in every layer from 198 on, so every client parses it. */
export function configPush(): Buffer {
  return encode({ _: 'updateShort', update: { _: 'updateConfig' }, date: Math.floor(Date.now() / 1000) })
}

/** updateShort(updateNewMessage(message)): `message` has another constructor id in each vendored layer. */
export function newMessagePush(text: string, date = Math.floor(Date.now() / 1000)): Buffer {
  return encode({
    _: 'updateShort',
    update: { _: 'updateNewMessage', message: { _: 'message', id: 5, peer_id: { _: 'peerUser', user_id: 7n }, date, message: text }, pts: 1, pts_count: 1 },
    date,
  })
}

/** help.getConfig answered as the built-in answers it, recording each caller's context. */
export function recordGetConfig(e: E2eServer): RpcContext[] {
  const seen: RpcContext[] = []
  const s = e.server.config
  e.server.handle('help.getConfig', (_req, ctx) => {
    seen.push(ctx)
    return buildConfig({ publicAddresses: s.publicAddresses, telegram: s.telegram }, Date.now(), ctx.connection.dcId)
  })
  return seen
}
