/** The session layer's public surface (see api.ts for the interfaces crossing its boundaries). */
export type {
  ClientInfo,
  ClientConnection,
  GatewayLink,
  InboundMessage,
  JsonValue,
  OutboundMessage,
  PushService,
  RpcCall,
  RpcContext,
  RpcDispatcher,
  RpcOutcome,
  SessionService,
} from './api.js'
export { SessionManager, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_SESSIONS_PER_KEY, type SessionManagerOptions } from './manager.js'
export { BadMsgCode, MsgState } from './codes.js'
export { UNBOUND_TEMP_KEY_METHODS } from './session.js'
