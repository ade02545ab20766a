import { randomBytes as nodeRandomBytes } from 'node:crypto'

/** Source of secure random bytes; injectable so handshake and session tests can be deterministic. */
export type RandomSource = (n: number) => Buffer

export const secureRandom: RandomSource = (n) => nodeRandomBytes(n)
