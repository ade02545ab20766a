/**
 * Transport layer: MTProto framings (abridged, intermediate, padded intermediate, full), the
 * obfuscated2 wrapper (optionally MTProxy-keyed), auto-detection on one port, and Connections
 * over TCP sockets or WebSocket binary messages, produced by TcpListener / WsListener.
 * Upper layers see `packet` events (payload, quickAck) and call send / sendQuickAck /
 * sendTransportError / close; everything they send goes through the connection's codec and
 * obfuscation stream.
 */
export * from './codec.js'
export * from './errors.js'
export * from './limits.js'
export { AbridgedCodec } from './abridged.js'
export { IntermediateCodec, PaddedIntermediateCodec } from './intermediate.js'
export { FullCodec } from './full.js'
export { createCodec } from './create-codec.js'
export * from './obfuscated.js'
export * from './mtproxy-secret.js'
export * from './replay-cache.js'
export { FakeTlsSocket, checkClientHello, serverHello, wrapRecords, startsLikeClientHello, type TlsSecret } from './fake-tls.js'
export * from './detect.js'
export type { ByteSocket, ByteSocketHandlers } from './byte-socket.js'
export { ByteSocketProtocolError, TcpByteSocket, WsByteSocket } from './byte-socket.js'
export * from './connection.js'
export { acceptSocket, admitSource, resolveAcceptorOptions, DEFAULT_TLS_MAX_SKEW_MS, type AcceptorOptions } from './acceptor.js'
export * from './source-limits.js'
export * from './read-budget.js'
export * from './fd-limit.js'
export * from './proxy-protocol.js'
export * from './tcp-listener.js'
export * from './ws-listener.js'
