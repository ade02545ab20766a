/** ClientInfo (initConnection data) from TL objects and from its stored JSON text. */
import type { TlObject } from '../tl/index.js'
import type { ClientInfo, JsonValue } from './api.js'

type InitConnection = Extract<TlObject, { _: 'initConnection' }>

/** The ClientInfo an initConnection carries. */
export function clientInfoOf(o: InitConnection): ClientInfo {
  const client: ClientInfo = {
    apiId: o.api_id,
    deviceModel: o.device_model,
    systemVersion: o.system_version,
    appVersion: o.app_version,
    systemLangCode: o.system_lang_code,
    langPack: o.lang_pack,
    langCode: o.lang_code,
  }
  if (o.proxy && o.proxy._ === 'inputClientProxy') client.proxy = { address: o.proxy.address, port: o.proxy.port }
  if (o.params) client.params = jsonValue(o.params)
  return client
}

/** TL JSONValue → plain JSON. */
export function jsonValue(v: TlObject): JsonValue {
  switch (v._) {
    case 'jsonNull':
      return null
    case 'jsonBool':
      return v.value
    case 'jsonNumber':
      return v.value
    case 'jsonString':
      return v.value
    case 'jsonArray':
      return v.value.map((x) => jsonValue(x))
    case 'jsonObject': {
      const o: { [key: string]: JsonValue } = {}
      // the decoder takes any boxed object where a type is expected: entries of another type are skipped
      for (const kv of v.value as TlObject[]) if (kv._ === 'jsonObjectValue') o[kv.key] = jsonValue(kv.value)
      return o
    }
    default:
      return null
  }
}

/** ClientInfo from its JSON text; undefined when it is not JSON or lacks the required fields. */
export function parseClientInfo(json: string): ClientInfo | undefined {
  let v: unknown
  try {
    v = JSON.parse(json)
  } catch {
    return undefined
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined
  const o = v as Record<string, unknown>
  if (typeof o.apiId !== 'number') return undefined
  for (const k of ['deviceModel', 'systemVersion', 'appVersion', 'systemLangCode', 'langPack', 'langCode']) {
    if (typeof o[k] !== 'string') return undefined
  }
  return o as unknown as ClientInfo
}
