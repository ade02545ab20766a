/**
 * mtcute (`@mtcute/node`), unmodified apart from the address and our RSA public key: a
 * TelegramClient (memory storage) over TCP intermediate, obfuscated intermediate or WebSocket,
 * the auth key it keeps, and a handle on it for handshake-only servers.
 */
import { API_HASH, API_ID } from './api.js'
import type { TestServer } from './clients.js'
import { firstSecret } from './leading-zero.js'

export type MtcuteTransport = 'intermediate' | 'padded' | 'obfuscated' | 'obfuscated-padded' | 'websocket'

export type TlResult = Record<string, unknown> & { _: string }

export interface MtcuteClient {
  call(req: Record<string, unknown>): Promise<TlResult>
  connect(): Promise<void>
  destroy(): Promise<void>
  on(ev: 'raw_update', cb: (u: TlResult) => void): void
  _client: { crypto: unknown; network: unknown; storage: unknown }
}

export interface MtcuteClientOptions {
  host: string
  port: number
  /** PKCS#1 PEM of the server's public key. */
  pem: string
  /** The DC of the address (default 2). */
  dcId?: number
  transport?: MtcuteTransport
  /** Let mtcute run its updates machinery (default off). */
  updates?: boolean
  /** Register the key as "old" so mtcute uses the legacy SHA-1 RSA form. */
  legacyRsa?: boolean
  /** Its first 256-byte random draw (the DH secret b) returns this (e.g. a leading-zero pair's b). */
  firstDhSecret?: Buffer
  apiId?: number
  apiHash?: string
  /** More TelegramClient options (network, reconnectionStrategy...). */
  params?: Record<string, unknown>
}

type AuthKeys = { authKeys: { get(dc: number): Promise<Uint8Array | null> | Uint8Array | null } }
const storageOf = new WeakMap<MtcuteClient, AuthKeys>()

async function transportOf(kind: MtcuteTransport): Promise<unknown> {
  const node = (await import('@mtcute/node')) as unknown as Record<string, unknown>
  const core = (await import('@mtcute/core')) as unknown as Record<string, unknown>
  const TcpTransport = node.TcpTransport as new () => { connect(dc: unknown): Promise<unknown>; packetCodec(): unknown }
  const ObfuscatedPacketCodec = core.ObfuscatedPacketCodec as new (inner: unknown) => unknown
  const IntermediatePacketCodec = core.IntermediatePacketCodec as new () => unknown
  const PaddedIntermediatePacketCodec = core.PaddedIntermediatePacketCodec as new () => unknown
  if (kind === 'intermediate') return new TcpTransport()
  const tcpWith = (packetCodec: () => unknown) => {
    const tcp = new TcpTransport()
    return { connect: (dc: unknown) => tcp.connect(dc), packetCodec }
  }
  if (kind === 'padded') return tcpWith(() => new PaddedIntermediatePacketCodec())
  if (kind === 'obfuscated') return tcpWith(() => new ObfuscatedPacketCodec(new IntermediatePacketCodec()))
  if (kind === 'obfuscated-padded') return tcpWith(() => new ObfuscatedPacketCodec(new PaddedIntermediatePacketCodec()))
  // What @mtcute/web's WebSocketTransport does: obfuscated intermediate over ws://host:port/apiws.
  const { connectWs } = (await import('@fuman/net')) as unknown as { connectWs: (ep: Record<string, unknown>) => Promise<unknown> }
  const { WebSocket } = (await import('ws')) as unknown as { WebSocket: unknown }
  return {
    connect: (dc: { ipAddress: string; port: number }) =>
      connectWs({ url: `ws://${dc.ipAddress}:${dc.port}/apiws`, implementation: WebSocket, protocols: 'binary' }),
    packetCodec: () => new ObfuscatedPacketCodec(new IntermediatePacketCodec()),
  }
}

/** An mtcute TelegramClient (memory storage) pointed at host:port. */
export async function mtcuteClient(o: MtcuteClientOptions): Promise<MtcuteClient> {
  const node = (await import('@mtcute/node')) as unknown as Record<string, unknown>
  const core = (await import('@mtcute/core')) as unknown as Record<string, unknown>
  const utils = (await import('@mtcute/core/utils.js')) as unknown as { addPublicKey: (c: unknown, pem: string, old?: boolean) => void }
  const MemoryStorage = core.MemoryStorage as new () => unknown
  const TelegramClient = node.TelegramClient as new (o: Record<string, unknown>) => MtcuteClient
  const dc = { id: o.dcId ?? 2, ipAddress: o.host, port: o.port }
  const storage = new MemoryStorage()
  const tg = new TelegramClient({
    apiId: o.apiId ?? API_ID,
    apiHash: o.apiHash ?? API_HASH,
    storage,
    defaultDcs: { main: dc, media: dc },
    transport: await transportOf(o.transport ?? 'intermediate'),
    logLevel: Number(process.env.MTCUTE_LOG ?? 0),
    disableUpdates: !(o.updates ?? false),
    ...o.params,
  })
  const crypto = tg._client.crypto
  utils.addPublicKey(crypto, o.pem, o.legacyRsa ?? false)
  if (o.firstDhSecret) {
    const provider = crypto as { randomBytes(n: number): Uint8Array }
    const real = provider.randomBytes.bind(provider)
    provider.randomBytes = firstSecret(o.firstDhSecret, (n) => Buffer.from(real(n)))
  }
  storageOf.set(tg, storage as AuthKeys)
  return tg
}

/** The auth key mtcute uses for DC 2 (from its storage), or undefined. */
export async function mtcuteAuthKey(tg: MtcuteClient): Promise<Buffer | undefined> {
  const k = await storageOf.get(tg)?.authKeys.get(2)
  return k ? Buffer.from(k) : undefined
}

export interface MtcuteHandshakeOptions {
  /** obfuscated2 over intermediate instead of plain intermediate. */
  obfuscated?: boolean
  /** mtcute's PFS: a temp key (p_q_inner_data_temp_dc) bound to the permanent one. */
  pfs?: boolean
  /** Register our key as "old" so mtcute uses the legacy SHA-1 RSA form. */
  legacyRsa?: boolean
  /** Its first 256-byte random draw (the DH secret b) returns this (e.g. a leading-zero pair's b). */
  firstDhSecret?: Buffer
}

export interface MtcuteHandle {
  /** Sends help.getConfig (not awaited: the test server may not answer) to trigger the handshake. */
  poke(): void
  close(): Promise<void>
}

/** Starts an mtcute TelegramClient (memory storage, updates off) pointed at the test server. */
export async function startMtcute(server: TestServer, o: MtcuteHandshakeOptions = {}): Promise<MtcuteHandle> {
  const tg = await mtcuteClient({
    host: server.host,
    port: server.port,
    dcId: server.dcId,
    pem: server.key.publicKey.toPem(),
    transport: o.obfuscated ? 'obfuscated' : 'intermediate',
    legacyRsa: o.legacyRsa,
    firstDhSecret: o.firstDhSecret,
    apiId: 1,
    apiHash: '00000000000000000000000000000000',
    params: { network: { usePfs: o.pfs ?? false } },
  })
  const closable = tg as MtcuteClient & { close?(): Promise<void> }
  return {
    poke() {
      tg.call({ _: 'help.getConfig' }).catch(() => undefined)
    },
    async close() {
      if (closable.destroy) await closable.destroy()
      else if (closable.close) await closable.close()
    },
  }
}
