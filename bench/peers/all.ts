/** The servers `npm run bench -- peers` measures: the first is mtgate (each figure's value), the others its baselines. */
import { mtgate } from './mtgate.js'
import type { Peer } from './peer.js'
import { teamgramPeer } from './teamgram.js'
import { tgtest } from './tgtest.js'

export const PEERS: Peer[] = [mtgate, tgtest, teamgramPeer]
