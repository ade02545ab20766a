/**
 * RPC queries of a session: unwrapping and checks, dispatch, the rpc_result (or rpc_error) that
 * answers each (remembered for duplicate queries), the calls in flight and the failed ones that
 * invokeAfterMsg waits on.
 */
import { AuthKeyType } from '../store/types.js'
import { encode, defaultRegistry, TlError, type TlObject } from '../tl/index.js'
import type { ClientConnection, InboundMessage, RpcCall, RpcContext, RpcOutcome } from './api.js'
import { buildRpcResult, constructorOf, maybeGzip } from './envelope.js'
import { encodeOutcome, readQuery, refusedLayer } from './layered.js'
import { Received } from './received.js'
import { ResultCache } from './result-cache.js'
import type { Session } from './session.js'
import { unwrapQuery } from './unwrap.js'

/** Failed queries remembered per session for invokeAfterMsg. */
export const FAILED_REMEMBERED = 32
/** Methods an unbound temp key may call (api-pfs.md). */
export const UNBOUND_TEMP_KEY_METHODS: ReadonlySet<string> = new Set([
  'auth.bindTempAuthKey',
  'help.getConfig',
  'help.getNearestDc',
])

const reg = defaultRegistry

/** Runs the RPC query `msgId` of session `s` and queues its answer when it is done. */
export function startCall(s: Session, msgId: bigint, body: Buffer, outer: InboundMessage): void {
  const conn: ClientConnection = { gatewayId: outer.gatewayId, connId: outer.connId, clientAddr: outer.clientAddr, dcId: outer.dcId, transport: outer.transport }
  const p = runCall(s, msgId, body, conn).then(
    (outcome) => {
      respond(s, msgId, outcome)
      return outcome.kind !== 'error'
    },
    (e: unknown) => {
      s.host.log.error({ msgId: msgId.toString(), err: (e as Error)?.message }, 'session: RPC processing failed')
      respond(s, msgId, { kind: 'error', code: 500, message: 'INTERNAL' })
      return false
    },
  )
  const inflight = (s.inflight ??= new Map())
  inflight.set(msgId, p)
  void p.then((ok) => {
    inflight.delete(msgId)
    if (!ok) {
      // remembered (bounded) so that a later invokeAfterMsg on it answers MSG_WAIT_FAILED
      const failed = (s.failed ??= new Set())
      failed.add(msgId)
      if (failed.size > FAILED_REMEMBERED) failed.delete(failed.values().next().value!)
    }
  })
}

async function runCall(s: Session, msgId: bigint, body: Buffer, conn: ClientConnection): Promise<RpcOutcome> {
  const inflate = s.budget
  const u = unwrapQuery(body, s.host.options.allowApiId, inflate)
  const refused = refusedLayer(u.layer)
  if (refused !== undefined) return fail(s, msgId, 400, 'LAYER_INVALID', refused)
  if (u.layer !== undefined) {
    s.layer = u.layer
    s.key.info.layer = u.layer
  }
  const client = u.client
  if (client !== undefined) s.key.info.client = client
  if (u.error !== undefined) return fail(s, msgId, u.error.code, u.error.message, u.error.reason)
  const withoutUpdates = u.withoutUpdates
  // own copy: decoded bytes fields are views, and the call outlives the gateway's buffer
  const raw = Buffer.from(u.raw)
  if (withoutUpdates) {
    if (s.updates === 'unknown') s.updates = 'off'
  } else {
    s.updates = 'on'
  }
  if (u.waitFor !== undefined) {
    for (const id of u.waitFor) {
      const p = s.inflight?.get(id)
      const ok = p ? await p : !s.failed?.has(id)
      if (!ok) return fail(s, msgId, 400, 'MSG_WAIT_FAILED', `awaited message ${id} failed`)
    }
  }

  const ctor = constructorOf(raw)!
  let query: TlObject | undefined
  try {
    query = readQuery(raw, s.clientLayer, inflate)
  } catch (e) {
    if (!(e instanceof TlError)) throw e
    if (reg.has(ctor)) return fail(s, msgId, 400, 'INPUT_REQUEST_INVALID', `malformed ${reg.nameOf(ctor)}: ${e.message}`)
    query = undefined
  }
  const method = query?._ ?? reg.nameOf(ctor) ?? `#${ctor.toString(16).padStart(8, '0')}`
  const key = s.key
  if (key.record.type !== AuthKeyType.perm && key.permId === undefined && !UNBOUND_TEMP_KEY_METHODS.has(method)) {
    return fail(s, msgId, 401, 'AUTH_KEY_PERM_EMPTY', `${method} on an unbound temp key`)
  }
  if (method === 'auth.bindTempAuthKey' && query) {
    return s.host.bindTempAuthKey(key, s, msgId, query)
  }
  const ctx: RpcContext = {
    authKeyId: key.record.id,
    authKeyType: key.record.type,
    permAuthKeyId: key.permId,
    sessionId: s.id,
    msgId,
    layer: s.layer ?? key.info.layer,
    client: client ?? key.info.client,
    connection: conn,
    withoutUpdates,
    userId: key.info.userId,
  }
  const before = ctx.userId
  const call: RpcCall = { method, constructorId: ctor, query, raw, ctx }
  let outcome: RpcOutcome
  try {
    outcome = await s.host.dispatcher.dispatch(call)
  } catch (e) {
    s.host.log.error({ method, msgId: msgId.toString(), err: (e as Error)?.message }, 'session: dispatcher threw; answering INTERNAL')
    return { kind: 'error', code: 500, message: 'INTERNAL' }
  }
  if (ctx.userId !== before) s.host.setUserId(key, ctx.userId)
  return outcome
}

function fail(s: Session, msgId: bigint, code: number, message: string, reason: string): RpcOutcome {
  s.host.log.info({ msgId: msgId.toString(), authKeyId: s.key.record.id.toString(), code, message, reason }, 'session: rpc_error')
  return { kind: 'error', code, message }
}

function respond(s: Session, reqMsgId: bigint, outcome: RpcOutcome): void {
  if (s.destroyed) return
  s.received.mark(reqMsgId, Received.answered)
  let result: Buffer
  if (s.dropped?.delete(reqMsgId)) {
    result = encode({ _: 'rpc_answer_dropped_running' })
  } else if (outcome.kind === 'error') {
    result = encode({ _: 'rpc_error', error_code: outcome.code, error_message: outcome.message })
  } else if (outcome.kind === 'raw') {
    result = maybeGzip(outcome.body, s.host.options.gzipMinBytes)
  } else {
    let bytes: Buffer
    try {
      bytes = encodeOutcome(outcome, s.clientLayer)
    } catch (e) {
      s.host.log.error({ msgId: reqMsgId.toString(), method: outcome.method, err: (e as Error).message }, 'session: result does not encode; answering INTERNAL')
      bytes = encode({ _: 'rpc_error', error_code: 500, error_message: 'INTERNAL' })
    }
    result = maybeGzip(bytes, s.host.options.gzipMinBytes)
  }
  enqueueResult(s, reqMsgId, result)
  if (outcome.after === undefined) {
    s.scheduleFlush()
    return
  }
  s.flush(true)
  if (outcome.after === 'closeConnection') {
    if (s.conn !== undefined) s.host.link.closeConnection(s.conn.connId, 'closed at the backend\'s request')
  } else {
    void s.host.destroyAuthorization(s.key, 'destroyed at the backend\'s request')
  }
}

/** Queues the rpc_result answering `reqMsgId` (it acknowledges the query) and remembers it for duplicates. */
export function enqueueResult(s: Session, reqMsgId: bigint, result: Buffer): void {
  const body = buildRpcResult(reqMsgId, result)
  // the rpc_result acknowledges the query
  const i = s.pendingAcks.indexOf(reqMsgId)
  if (i >= 0) s.pendingAcks.splice(i, 1)
  ;(s.results ??= new ResultCache()).set(reqMsgId, s.enqueue(body, true, 'result', reqMsgId))
}
