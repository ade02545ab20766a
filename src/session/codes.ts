/** bad_msg_notification error codes (mtproto-service_messages_about_messages.md). */
export const BadMsgCode = {
  /** msg_id too low (client time behind, or message waited too long). */
  msgIdTooLow: 16,
  /** msg_id too high (client time ahead). */
  msgIdTooHigh: 17,
  /** The two lower bits of a client msg_id are not zero. */
  msgIdParity: 18,
  /** A container's msg_id equals the msg_id of a previously received message. */
  containerMsgIdReused: 19,
  /** Message too old: the server cannot tell whether it received it. */
  msgTooOld: 20,
  /** seqno too low for the msg_id. */
  seqNoTooLow: 32,
  /** seqno too high for the msg_id. */
  seqNoTooHigh: 33,
  /** An even seqno (not content-related) was expected, odd received. */
  seqNoEvenExpected: 34,
  /** An odd seqno (content-related) was expected, even received. */
  seqNoOddExpected: 35,
  /** Wrong server salt (answered with bad_server_salt). */
  badServerSalt: 48,
  /** Invalid container. */
  invalidContainer: 64,
} as const
export type BadMsgCode = (typeof BadMsgCode)[keyof typeof BadMsgCode]

/** msgs_state_info status values (low 3 bits) and flags. */
export const MsgState = {
  unknown: 1,
  notReceived: 2,
  notReceivedTooHigh: 3,
  received: 4,
  flagAcked: 8,
  flagNoAckNeeded: 16,
  flagRpcProcessing: 32,
  flagAnswerGenerated: 64,
  flagKnownReceived: 128,
} as const
