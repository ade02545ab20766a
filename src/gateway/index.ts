export { Gateway, type GatewayOptions, type GatewayConnection, type EncryptedPacket } from './gateway.js'
export { parseUnencrypted, buildUnencrypted, type UnencryptedMessage } from './unencrypted.js'
