/** Shared by the session tests: a rig with one client, one flush round, result filters, queries. */
import type { SessionManagerOptions } from '../../src/session/manager.js'
import type { TlObject } from '../../src/tl/index.js'
import { rig, settle, TestClient, unpack, type Got, type Rig } from './harness.js'

export async function start(opts: Partial<SessionManagerOptions> = {}): Promise<{ r: Rig; c: TestClient }> {
  const r = await rig(opts)
  const c = new TestClient(r)
  await c.handshakeSalt()
  return { r, c }
}

export async function round(r: Rig): Promise<Got[]> {
  await settle()
  return unpack(r.link.take())
}

export function only<N extends TlObject['_']>(got: Got[], name: N): Extract<TlObject, { _: N }>[] {
  return got.filter((g) => g.obj._ === name).map((g) => g.obj as Extract<TlObject, { _: N }>)
}

export function results(got: Got[]): Got[] {
  return got.filter((g) => g.reqMsgId !== undefined)
}

export const getConfig: TlObject = { _: 'help.getConfig' }
export const nearest: TlObject = { _: 'help.getNearestDc' }
export const nearestResult = (): { kind: 'result'; result: TlObject } => ({
  kind: 'result',
  result: { _: 'nearestDc', country: 'NL', this_dc: 2, nearest_dc: 2 },
})

// a nearestDc of about 6 KB (above DETAILED_INFO_MIN_BYTES); gzip is switched off in these tests
export const bigCountry = 'x'.repeat(6000)
export const bigResult = (): { kind: 'result'; result: TlObject } => ({
  kind: 'result',
  result: { _: 'nearestDc', country: bigCountry, this_dc: 2, nearest_dc: 2 },
})

export function initConnection(apiId: number, query: TlObject): TlObject {
  return {
    _: 'initConnection',
    api_id: apiId,
    device_model: 'dev',
    system_version: 'sys',
    app_version: '1.0',
    system_lang_code: 'en',
    lang_pack: '',
    lang_code: 'en',
    proxy: { _: 'inputClientProxy', address: 'proxy.example', port: 443 },
    params: { _: 'jsonObject', value: [{ _: 'jsonObjectValue', key: 'tz', value: { _: 'jsonNumber', value: 1 } }] },
    query,
  } as TlObject
}

export interface RpcCallLike {
  raw: Buffer
  query: TlObject | undefined
}
