/**
 * `npm run bench -- push`
 *
 * The cost of one push to many sessions now that each session gets it in its own layer (PushBody:
 * decoded once, encoded once per distinct vendored layer). The pushed body is
 * updateShort(updateNewMessage(message)) — `message` has another constructor id in each vendored
 * layer, so every vendored layer needs its own encoding.
 *
 * push.user_10k.mixed_layers: SessionManager.pushToUser to 10,000 sessions of one user spread over
 *   5 layers (144, 198, 214, 222 and the newest; `message` has another id in each), i.e. 4
 *   conversions and re-encodings.
 * push.user_10k.layer144: the same push to 10,000 sessions all on layer 144 (one conversion).
 * Baseline of both: the same push to 10,000 sessions all on the newest layer (the pusher's bytes as
 *   given), measured in the same run, rounds interleaved with the other two.
 *
 * One push = the pushToUser call plus the flush it schedules (one setImmediate per session), up to
 * the plaintext OutboundMessage handed to the gateway link; encryption is the gateway's and is not
 * included. The link is a fake that keeps what it is given; between rounds (untimed) the bench checks
 * that every session got the bytes of its layer and acknowledges them with msgs_ack like a client,
 * so every round starts with empty outboxes. value = pushes per CPU-second (median of BENCH_ROUNDS
 * rounds, default 40, after 3 warm-up rounds; CPU time because the machine is shared), wall-clock
 * median alongside. A minor GC runs before each round so that the young generation the untimed
 * checks filled is not collected inside the next timed push; the three scenarios take turns, each
 * round in another order.
 * Extra fields: push_body_us, the layer work alone (new PushBody + its bytes for each layer present,
 * outside the manager), and push_call_us, the synchronous pushToUser call (layer work + enqueue
 * into 10,000 outboxes) without the flush.
 *
 * The sessions are built without network: 3 users × 100 permanent keys × 100 sessions, each session
 * opened by the client's invokeWithLayer(layer, initConnection(help.getNearestDc)), whose handler
 * binds the key to its user (ctx.userId). The layer is per key (one device, one app version). The
 * three users' keys and sessions are created interleaved so that none sits in older memory.
 */
import { createHash, randomBytes } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { pino, destination } from 'pino'
import type { GatewayLink, InboundMessage, OutboundMessage, RpcCall, RpcDispatcher, RpcOutcome } from '../src/session/api.js'
import { ID_MSG_CONTAINER } from '../src/session/envelope.js'
import { SessionManager } from '../src/session/manager.js'
import { msToMsgId } from '../src/session/msg-id.js'
import { MemoryAuthKeyStore } from '../src/store/memory.js'
import { AuthKeyType, type AuthKeyRecord } from '../src/store/types.js'
import { PushBody } from '../src/session/layered.js'
import { encode, encodingLayer, NEWEST_LAYER, TlReader, toLayer, type TlObject } from '../src/tl/index.js'
import { opsPerSec, report } from './report.js'

const SESSIONS = 10_000
const KEYS = 100
const SESSIONS_PER_KEY = SESSIONS / KEYS
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 40)
const WARMUP_ROUNDS = 3
const MIXED_LAYERS = [144, 198, 214, 222, NEWEST_LAYER]

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as (o: { type: 'minor' | 'major'; execution: 'sync' }) => void

function fail(msg: string): never {
  throw new Error(`push bench: ${msg}`)
}

/** A GatewayLink that keeps what it is given (a reference per send) until taken. */
class KeepingLink implements GatewayLink {
  sent: { connId: string; out: OutboundMessage }[] = []
  closed = 0
  send(connId: string, out: OutboundMessage): void {
    this.sent.push({ connId, out })
  }
  closeConnection(): void {
    this.closed++
  }
  take(): { connId: string; out: OutboundMessage }[] {
    const s = this.sent
    this.sent = []
    return s
  }
}

/** Answers help.getNearestDc and binds the key to its user, as a sign-in handler would. */
class BindingDispatcher implements RpcDispatcher {
  readonly userOfKey = new Map<bigint, bigint>()
  async dispatch(call: RpcCall): Promise<RpcOutcome> {
    if (call.method !== 'help.getNearestDc') return { kind: 'error', code: 400, message: 'INPUT_METHOD_INVALID' }
    call.ctx.userId = this.userOfKey.get(call.ctx.authKeyId)
    return { kind: 'result', result: { _: 'nearestDc', country: 'NL', this_dc: 2, nearest_dc: 2 } }
  }
}

interface Client {
  connId: string
  userId: bigint
  key: AuthKeyRecord
  sessionId: bigint
  layer: number
  seq: number
}

let lastMsgId = 0n
function nextMsgId(): bigint {
  let id = msToMsgId(Date.now()) & ~3n
  if (id <= lastMsgId) id = lastMsgId + 4n
  return (lastMsgId = id)
}

function keyRecord(): AuthKeyRecord {
  const key = randomBytes(256)
  const id = createHash('sha1').update(key).digest().readBigInt64LE(12)
  return { id, key, type: AuthKeyType.perm, createdAt: Math.floor(Date.now() / 1000) }
}

const initConnection = (query: TlObject): TlObject =>
  ({
    _: 'initConnection',
    api_id: 2040,
    device_model: 'bench',
    system_version: 'sys',
    app_version: '1.0',
    system_lang_code: 'en',
    lang_pack: '',
    lang_code: 'en',
    query,
  }) as TlObject

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
}

class Rig {
  readonly store = new MemoryAuthKeyStore()
  readonly link = new KeepingLink()
  readonly dispatcher = new BindingDispatcher()
  readonly manager = new SessionManager({
    store: this.store,
    link: this.link,
    dispatcher: this.dispatcher,
    log: pino({ level: process.env.MTGATE_LOG_LEVEL ?? 'warn' }, destination(2)),
  })
  readonly clients = new Map<string, Client>()

  private inbound(c: Client, body: Buffer, content: boolean): InboundMessage {
    const seqNo = content ? c.seq++ * 2 + 1 : c.seq * 2
    const salt = this.manager.saltOf(c.key.id) ?? 0n
    return { gatewayId: 'bench', connId: c.connId, clientAddr: '127.0.0.1:1', dcId: 2, transport: 'tcp', authKeyId: c.key.id, salt, sessionId: c.sessionId, msgId: nextMsgId(), seqNo, body, receivedAt: Date.now() }
  }

  /**
   * SESSIONS sessions per user over KEYS keys; user u's key k speaks users[u].layers[k % length].
   * Built interleaved (key k of every user, then key k + 1...) so that no user's sessions sit in
   * older or younger memory than another's.
   */
  async addUsers(users: { userId: bigint; layers: number[] }[]): Promise<void> {
    const keys: AuthKeyRecord[][] = users.map(() => [])
    for (let k = 0; k < KEYS; k++) {
      for (const [u, { userId }] of users.entries()) {
        const key = keyRecord()
        await this.store.put(key)
        this.dispatcher.userOfKey.set(key.id, userId)
        keys[u]!.push(key)
        // the key's first packet loads it and learns the salt (bad_server_salt)
        this.manager.sendData(this.inbound({ connId: 'salt', userId, key, sessionId: 1n, layer: 0, seq: 0 }, encode({ _: 'ping', ping_id: 0n }), true))
      }
    }
    await settle()
    this.link.take()
    for (let k = 0; k < KEYS; k++) {
      for (let s = 0; s < SESSIONS_PER_KEY; s++) {
        for (const [u, { userId, layers }] of users.entries()) {
          const c: Client = { connId: `u${userId}k${k}s${s}`, userId, key: keys[u]![k]!, sessionId: BigInt(k * SESSIONS_PER_KEY + s + 1), layer: layers[k % layers.length]!, seq: 0 }
          this.clients.set(c.connId, c)
          const q = encode({ _: 'invokeWithLayer', layer: c.layer, query: initConnection({ _: 'help.getNearestDc' }) } as TlObject)
          this.manager.sendData(this.inbound(c, q, true))
        }
      }
    }
    await settle()
    await this.acknowledge()
    for (const [u, { userId }] of users.entries()) {
      const bound = keys[u]!.filter((k) => this.manager.userIdOf(k.id) === userId).length
      if (bound !== KEYS) fail(`user ${userId}: ${bound} of ${KEYS} keys bound`)
    }
  }

  /** Every session acknowledges the content messages the link carried to it (msgs_ack, as a client does). */
  async acknowledge(sent = this.link.take()): Promise<void> {
    const ids = new Map<string, bigint[]>()
    for (const { connId, out } of sent) {
      let list = ids.get(connId)
      if (!list) ids.set(connId, (list = []))
      if (out.body.readUInt32LE(0) === ID_MSG_CONTAINER) {
        const r = new TlReader(out.body, 8)
        for (let i = out.body.readInt32LE(4); i > 0; i--) {
          const msgId = r.long()
          const seqNo = r.int()
          r.raw(r.int())
          if (seqNo & 1) list.push(msgId)
        }
      } else if (out.seqNo & 1) list.push(out.msgId)
    }
    for (const [connId, msgIds] of ids) {
      if (msgIds.length) this.manager.sendData(this.inbound(this.clients.get(connId)!, encode({ _: 'msgs_ack', msg_ids: msgIds }), false))
    }
    await settle()
    const extra = this.link.take()
    if (extra.length) fail(`${extra.length} messages sent in answer to acknowledgments`)
  }
}

const date = Math.floor(Date.now() / 1000)
const pushObj: TlObject = {
  _: 'updateShort',
  update: { _: 'updateNewMessage', message: { _: 'message', id: 5, peer_id: { _: 'peerUser', user_id: 7n }, date, message: 'hello from the push bench' }, pts: 1, pts_count: 1 },
  date,
}
const pushBytes = encode(pushObj)
const byLayer = new Map<number, Buffer>()
const expected = (layer: number): Buffer => {
  const target = encodingLayer(layer)
  let b = byLayer.get(target)
  if (!b) byLayer.set(target, (b = encode(toLayer(pushObj, target) as TlObject, target)))
  return b
}

interface Scenario {
  name: string
  userId: bigint
  layers: number[]
  /** Distinct bodies the sessions must get: one per encoding layer present. */
  bodies: number
  cpuUs: number[]
  wallUs: number[]
  callUs: number[]
  encodings: number
}

/** One push to the scenario's user, timed to the end of its flush, then checked and acknowledged (untimed). */
async function pushRound(rig: Rig, sc: Scenario, timed: boolean): Promise<void> {
  gc({ type: 'minor', execution: 'sync' })
  const c0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  const n = rig.manager.pushToUser(sc.userId, pushBytes)
  const t1 = process.hrtime.bigint()
  // the sessions' flushes were scheduled (setImmediate) before this one
  await new Promise((r) => setImmediate(r))
  const t2 = process.hrtime.bigint()
  const c = process.cpuUsage(c0)
  if (n !== SESSIONS) fail(`${sc.name}: pushToUser reached ${n} sessions, expected ${SESSIONS}`)
  const sent = rig.link.take()
  if (sent.length !== SESSIONS) fail(`${sc.name}: the link saw ${sent.length} messages after the flush, expected ${SESSIONS}`)
  const seen = new Set<string>()
  const distinct = new Set<Buffer>()
  for (const { connId, out } of sent) {
    const client = rig.clients.get(connId)
    if (client?.userId !== sc.userId) fail(`${sc.name}: a message to ${connId}, not a session of user ${sc.userId}`)
    if (seen.has(connId)) fail(`${sc.name}: two messages to ${connId}`)
    seen.add(connId)
    if (out.sessionId !== client.sessionId || out.authKeyId !== client.key.id) fail(`${sc.name}: ${connId} got another session's message`)
    if (!out.body.equals(expected(client.layer))) fail(`${sc.name}: ${connId} (layer ${client.layer}) did not get the push in layer ${encodingLayer(client.layer)}`)
    distinct.add(out.body)
  }
  sc.encodings = distinct.size
  if (timed) {
    sc.cpuUs.push(c.user + c.system)
    sc.wallUs.push(Number(t2 - t0) / 1000)
    sc.callUs.push(Number(t1 - t0) / 1000)
  }
  await rig.acknowledge(sent)
}

function layerWork(layers: number[]): void {
  const body = new PushBody(pushBytes)
  for (const l of layers) body.forLayer(l)
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

async function main(): Promise<void> {
  const started = performance.now()
  const rig = new Rig()
  const scenarios: Scenario[] = [
    { name: 'baseline', userId: 1n, layers: [NEWEST_LAYER], bodies: 1 },
    { name: 'mixed_layers', userId: 2n, layers: MIXED_LAYERS, bodies: MIXED_LAYERS.length },
    { name: 'layer144', userId: 3n, layers: [144], bodies: 1 },
  ].map((s) => ({ ...s, cpuUs: [], wallUs: [], callUs: [], encodings: 0 }))
  await rig.addUsers(scenarios)
  if (rig.manager.sessionCount !== SESSIONS * scenarios.length) fail(`${rig.manager.sessionCount} sessions, expected ${SESSIONS * scenarios.length}`)
  // every layer but the newest needs its own bytes
  if (new Set(MIXED_LAYERS.map((l) => expected(l).toString('hex'))).size !== MIXED_LAYERS.length) fail('the push body is the same in two layers')
  console.error(`push bench: ${rig.manager.sessionCount} sessions ready in ${Math.round(performance.now() - started)} ms`)

  for (let r = 0; r < WARMUP_ROUNDS; r++) for (const sc of scenarios) await pushRound(rig, sc, false)
  // each round in another order, so that no scenario always runs right after the same one
  for (let r = 0; r < ROUNDS; r++) for (let i = 0; i < scenarios.length; i++) await pushRound(rig, scenarios[(r + i) % scenarios.length]!, true)
  const [base, ...others] = scenarios as [Scenario, ...Scenario[]]
  for (const sc of scenarios) if (sc.encodings !== sc.bodies) fail(`${sc.name}: ${sc.encodings} distinct bodies sent, expected ${sc.bodies}`)
  for (const sc of scenarios) console.error(`push bench: ${sc.name} CPU ms per push, sorted: ${[...sc.cpuUs].sort((a, b) => a - b).map((x) => (x / 1000).toFixed(1)).join(' ')}`)
  const baseValue = 1e6 / median(base.cpuUs)
  for (const sc of others) {
    report({
      bench: `push.user_10k.${sc.name}`,
      value: 1e6 / median(sc.cpuUs),
      unit: 'pushes/CPU-second (one push = 10,000 sessions, to the plaintext handed to the gateway link)',
      baseline: `the same push to 10,000 sessions of one user all on layer ${NEWEST_LAYER} (no conversion), same run`,
      baseline_value: baseValue,
      layers: sc.layers,
      sessions: SESSIONS,
      keys: KEYS,
      distinct_bodies_sent: sc.encodings,
      cpu_us_per_push: Math.round(median(sc.cpuUs)),
      baseline_cpu_us_per_push: Math.round(median(base.cpuUs)),
      wall_us_per_push: Math.round(median(sc.wallUs)),
      baseline_wall_us_per_push: Math.round(median(base.wallUs)),
      // the layer work alone: new PushBody and its bytes for each layer present (decode + encodings)
      push_body_us: Math.round(1e7 / opsPerSec(() => layerWork(sc.layers), 300)) / 10,
      baseline_push_body_us: Math.round(1e7 / opsPerSec(() => layerWork(base.layers), 300)) / 10,
      // the synchronous pushToUser call alone (decode + encodings + enqueue into 10,000 outboxes)
      push_call_us: Math.round(median(sc.callUs)),
      baseline_push_call_us: Math.round(median(base.callUs)),
      rounds: ROUNDS,
    })
  }
  console.error(`push bench: done in ${Math.round(performance.now() - started)} ms`)
}

await main().catch((e: unknown) => {
  console.error(e)
  process.exit(1)
})
