/**
 * Hand-written protobuf codec for the hot-path stream messages of proto/mtgate_session.proto
 * (GatewayFrame, SessionFrame and what they contain). Same wire format as the .proto (a generic
 * protobuf implementation reads and writes it: test/cluster/wire.test.ts checks both directions
 * against protobufjs), but with bigint / number fields and no per-field object conversion, which the
 * generic loader spends most of a message's time on.
 *
 * Every message of a client passes through here twice (each way), so the codec allocates only what
 * it returns: one object per item and per message, the body as a view of the frame, 64-bit fields
 * through util/int64 (no intermediate bigints), no closures or reader objects. Connection ids and
 * addresses repeat from message to message: their decoded strings are reused (StrCache) and their
 * encoded lengths measured without native calls.
 *
 * Field keys (field number << 3 | wire type) come from the generated module (const enums: the
 * compiler writes the numbers in). Every key here is one byte (field numbers below 16), as the sizes
 * count them.
 *
 * This file holds the message types; wire-encode.ts and wire-decode.ts the two directions. Their
 * cursors are module-level (no reader or writer objects). Each encode and decode puts back the
 * cursor it found when done, and an encode running inside another gets its own sizes table, so an
 * encode or decode started while another is under way (e.g. from a getter of the objects being
 * encoded) leaves the outer one intact.
 */
import type { InboundMessage, OutboundMessage, TransportKind } from '../session/api.js'

/**
 * SendData's message is the session layer's InboundMessage itself: the gateway queues it as is and the
 * session node hands the decoded object on. `gatewayId` is not on the wire (the stream names the
 * gateway): ignored when encoding, '' when decoded, for the session node to fill in.
 */
export type WireInbound = InboundMessage

/** InboundMessage.transport on the wire: mtgate.upstream.v1.Transport's numbers. */
export const TRANSPORT_NUMBER: Record<TransportKind, number> = { tcp: 1, ws: 2, http: 3 }
export const TRANSPORT_KIND: readonly (TransportKind | undefined)[] = [undefined, 'tcp', 'ws', 'http']
export type WireGatewayItem = { data: WireInbound } | { closed: { connId: string } } | { hello: { gatewayId: string } }
export interface WireGatewayFrame {
  items: WireGatewayItem[]
}

/** An OutboundMessage and the connection it goes to. */
export interface WireOutbound extends OutboundMessage {
  connId: string
}
export type WireSessionItem = { send: WireOutbound } | { close: { connId: string; reason: string } } | { goodbye: { nodeId: string } }
export interface WireSessionFrame {
  items: WireSessionItem[]
}

export class WireError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'WireError'
  }
}

export const EMPTY = Buffer.alloc(0)
