/**
 * The narrow interface between the gateway and the session layer (Teamgram's RPCSession:
 * SendData / QueryAuthKey / CloseSession / push), and between the session layer and RPC routing.
 *
 * Everything crossing these interfaces is plain data (bigint / Buffer / string / number / plain
 * objects), so that gRPC can sit between the two sides (src/cluster) without changing their logic.
 */
import type { AuthKeyRecord, AuthKeyType } from '../store/types.js'
import type { TlObject } from '../tl/index.js'

export type { AuthKeyRecord }

// ---------------------------------------------------------------------------------------------
// gateway → session
// ---------------------------------------------------------------------------------------------

/** The transport a client's connection uses: TCP (any framing), WebSocket, HTTP. */
export type TransportKind = 'tcp' | 'ws' | 'http'

/** One decrypted MTProto message (msg_key already verified by the gateway). */
export interface InboundMessage {
  /** Which gateway process holds the connection (several gateways may share one session layer). */
  gatewayId: string
  /** Transport connection id, unique within the gateway. */
  connId: string
  /** Peer address, e.g. "127.0.0.1:53211" (for logs and RpcContext). */
  clientAddr: string
  /** The DC the connection came for (obfuscated header, key exchange, else the configured dc_id). */
  dcId: number
  transport: TransportKind
  authKeyId: bigint
  salt: bigint
  sessionId: bigint
  msgId: bigint
  seqNo: number
  /** message_data: the boxed TL body (may be a msg_container, gzip_packed, a query, a service message). */
  body: Buffer
  /** Milliseconds since the epoch when the gateway read the packet. */
  receivedAt: number
}

export interface SessionService {
  /** The auth key for the gateway to decrypt with (cached by the gateway); undefined when unknown. */
  queryAuthKey(authKeyId: bigint): Promise<AuthKeyRecord | undefined>
  /** Hands one decrypted message to the session layer; answers go out through GatewayLink.send. */
  sendData(msg: InboundMessage): void
  /** The transport connection ended. Sessions stay (a client may reconnect). */
  closeConnection(connId: string): void
}

// ---------------------------------------------------------------------------------------------
// session → gateway
// ---------------------------------------------------------------------------------------------

/** One plaintext MTProto message for the gateway to encrypt (server → client) and write. */
export interface OutboundMessage {
  authKeyId: bigint
  salt: bigint
  sessionId: bigint
  msgId: bigint
  seqNo: number
  /** The boxed body (a single message or a msg_container). */
  body: Buffer
}

export interface GatewayLink {
  /** Encrypt `out` with the auth key and write it to connection `connId`; dropped if it is gone. */
  send(connId: string, out: OutboundMessage): void
  /** Close connection `connId` (ping_delay_disconnect expiry, destroy_session, ...). */
  closeConnection(connId: string, reason: string): void
  /**
   * Optional: the key is gone (destroy_auth_key, temp key expired) — drop it from any cache so that
   * the next packet with it gets the unknown-key answer (-404).
   */
  forgetAuthKey?(authKeyId: bigint): void
}

// ---------------------------------------------------------------------------------------------
// session → rpc
// ---------------------------------------------------------------------------------------------

/** The client's connection a call arrived on: which gateway, which of its connections, from where. */
export interface ClientConnection {
  gatewayId: string
  connId: string
  clientAddr: string
  /** The DC the connection came for (help.getConfig's this_dc). */
  dcId: number
  transport: TransportKind
}

/**
 * The address and port of a clientAddr ("203.0.113.7:40000", "[2001:db8::1]:443"): the client's
 * own, from the PROXY protocol header behind a trusted proxy. Port 0 when there is none.
 */
export function clientIpPort(clientAddr: string): { ip: string; port: number } {
  const colon = clientAddr.lastIndexOf(':')
  const bracketed = clientAddr.startsWith('[')
  // no port, or a bare IPv6 address
  if (colon < 0 || (!bracketed && clientAddr.indexOf(':') !== colon)) return { ip: clientAddr, port: 0 }
  return { ip: clientAddr.slice(bracketed ? 1 : 0, bracketed ? clientAddr.lastIndexOf(']') : colon), port: Number(clientAddr.slice(colon + 1)) || 0 }
}

/** A JSON value (initConnection `params`, converted from TL JSONValue). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

/** What initConnection told us; kept per auth key (the permanent one for bound temp keys). */
export interface ClientInfo {
  apiId: number
  deviceModel: string
  systemVersion: string
  appVersion: string
  systemLangCode: string
  langPack: string
  langCode: string
  proxy?: { address: string; port: number }
  params?: JsonValue
}

export interface RpcContext {
  /** The key the message was encrypted with. */
  readonly authKeyId: bigint
  readonly authKeyType: AuthKeyType
  /**
   * The key the call acts for: the permanent key a temp key is bound to, the key itself for a
   * permanent key, undefined for an unbound temp key.
   */
  readonly permAuthKeyId: bigint | undefined
  readonly sessionId: bigint
  /** msg_id of the message carrying the (outermost wrapper of the) query. */
  readonly msgId: bigint
  /** API layer from invokeWithLayer (session's, else the auth key's last known), undefined if never told. */
  readonly layer: number | undefined
  /** initConnection data (this call's, else the auth key's last), undefined if never sent. */
  readonly client: ClientInfo | undefined
  readonly connection: ClientConnection
  /** The query was wrapped in invokeWithoutUpdates. */
  readonly withoutUpdates: boolean
  /**
   * The authorised user of the (permanent) auth key. Handlers may set it (e.g. after sign-in) or
   * clear it (log out, set undefined); the session layer reads it back when dispatch() resolves
   * and keeps it per auth key. A remote dispatcher must return the changed value in the same way.
   */
  userId: bigint | undefined
}

export interface RpcCall {
  /** TL name of the innermost query after unwrapping, e.g. 'help.getConfig'; '#1234abcd' when unknown. */
  method: string
  /** Constructor id of the query. */
  constructorId: number
  /** The decoded query (default registry), undefined when our schema does not know it. */
  query: TlObject | undefined
  /** The boxed bytes of the query (always present; forwarders and other layers use these). */
  raw: Buffer
  ctx: RpcContext
}

/** A method result that is not a boxed object: Bool, Vector<T>, int, long... */
export type BareResult = boolean | number | bigint | string | Uint8Array | readonly unknown[]

/**
 * What the session does once an answer went out: close the client's connection, or destroy the
 * authorization (the permanent key the call acted for, the keys bound to it, the key used).
 */
export type RpcAfter = 'closeConnection' | 'destroyAuthKey'

export type RpcOutcome = (
  /**
   * A result the session layer serialises in the client's layer (gzip when large): a TL object, or
   * the bare value of a method whose result is Bool, a vector or a primitive (account.updateStatus →
   * boolean, users.getUsers → User[]), written by `method`'s result schema.
   */
  | { kind: 'result'; result: TlObject | BareResult; method?: string }
  /** An already serialised boxed result (forwarded from an upstream, or another layer's encoding). */
  | { kind: 'raw'; body: Buffer }
  | { kind: 'error'; code: number; message: string }
) & { after?: RpcAfter }

export interface RpcDispatcher {
  dispatch(call: RpcCall): Promise<RpcOutcome>
}

/**
 * Where a push goes: every session of an auth key (and of the temp keys bound to it), or one
 * session of it; or every session of every auth key bound to a user, but those of exceptAuthKeyId.
 */
export type PushTarget = { authKeyId: bigint; sessionId?: bigint } | { userId: bigint; exceptAuthKeyId?: bigint }

/** Push entry points (MtgateServer.push). */
export interface PushService {
  /**
   * Queues a content-related message (a boxed TL body, e.g. `updates`) to every live session of the
   * auth key (sessions of temp keys bound to it included). Sessions without a connection keep it
   * queued (bounded, oldest dropped with a log line). Returns how many sessions got it.
   */
  pushToAuthKey(authKeyId: bigint, body: Buffer): number
  /** Same, for every auth key whose userId slot is `userId`. */
  pushToUser(userId: bigint, body: Buffer): number
}
