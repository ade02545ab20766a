/**
 * Interop clients waiting for one server push, usable together on one server: each connects with a
 * new auth key, registers its library's update handler, calls account.updateStatus(offline=false)
 * (installPushReadiness's handler ties the key to the user), reports it is ready and waits (at most
 * PUSH_WAIT_S) for an updateNewMessage with the expected text; its result lists every update its
 * handler saw. One pushNewMessage to the user then reaches every client, each in servedLayer(its
 * layer).
 *
 * What each client needs besides account.updateStatus:
 *  - Telethon (1.25 Debian, 1.45 PyPI): users.getUsers answered 401 (answerGetMeUnauthorized), so
 *    connect()'s get_me gives None and the MessageBox stays without state: it applies the first pts
 *    it sees as is (no updates.getState; a signed-in client would call it and need pts = push pts - 1).
 *  - Kurigram: the message's chat in the push (see newMessageUpdates); no pts check
 *    (Client.handle_updates gives an `updates`' updates to its dispatcher as they are).
 *  - gotd: nothing (tg.UpdateDispatcher as telegram.Options.UpdateHandler, no pts bookkeeping); it
 *    drops a whole `updates` holding one constructor it cannot decode, so it needs its own layer
 *    (228, vendored): in layer 227 `user` is user#31774388, which gotd (user#b1b8cc83) does not know.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { RpcContext } from '../../src/session/api.js'
import { encode, layerSchema, servedLayer } from '../../src/tl/index.js'
import type { E2eServer } from '../e2e/harness.js'
import { waitFor } from '../helpers/wait.js'
import { probe, type ProbeResult } from './gotd/probe.js'
import { drive, PYPI, type DriverOutput, type Interpreter, type Library } from './python/driver.js'

/** How long a client waits for the push after it reported ready (seconds). */
export const PUSH_WAIT_S = 20
/** A client's whole run (start-up, exchange, readiness, the wait), below the drivers' SIGKILL at 45 s. */
const CLIENT_DEADLINE_S = 40

/** account.updateStatus calls seen: each one's context (its key now belongs to the user). */
export interface PushReadiness {
  contexts: RpcContext[]
  /** Resolves with the first `n` contexts once n clients are ready; rejects after `ms`. */
  waitFor(n: number, ms?: number): Promise<RpcContext[]>
}

/** Handles account.updateStatus: the calling key belongs to `userId` from then on. Install once per server. */
export function installPushReadiness(e: E2eServer, userId: bigint): PushReadiness {
  const contexts: RpcContext[] = []
  e.server.handle('account.updateStatus', (_req, ctx) => {
    ctx.userId = userId
    contexts.push(ctx)
    return true
  })
  return {
    contexts,
    async waitFor(n, ms = 30_000) {
      await waitFor(() => contexts.length >= n, ms, `${n} account.updateStatus calls`)
      return contexts.slice(0, n)
    },
  }
}

/** A text no other run pushes. */
export function pushText(label: string): string {
  return `${label} ${randomBytes(6).toString('hex')}`
}

/** The basic group the pushed message is in. */
export const PUSH_CHAT = 777n

/**
 * updates([updateNewMessage(text in PUSH_CHAT, pts 1, pts_count 1)], chats [that chat], seq 0), in
 * the newest layer. Not updateShort: Kurigram's dispatcher parses a message's chat from the
 * update's users and chats (Message._parse) and drops a message whose chat it cannot build before
 * its handlers run ('NoneType' object has no attribute 'is_forum').
 */
export function newMessageUpdates(text: string, date = Math.floor(Date.now() / 1000)): Buffer {
  return encode({
    _: 'updates',
    updates: [{ _: 'updateNewMessage', message: { _: 'message', id: 5, peer_id: { _: 'peerChat', chat_id: PUSH_CHAT }, date, message: text }, pts: 1, pts_count: 1 }],
    users: [],
    chats: [{ _: 'chat', id: PUSH_CHAT, title: 'Push', photo: { _: 'chatPhotoEmpty' }, participants_count: 2, date, version: 1 }],
    date,
    seq: 0,
  })
}

/** Pushes newMessageUpdates(text) to every session of `userId`; how many got it. */
export function pushNewMessage(e: E2eServer, userId: bigint, text: string): number {
  return e.server.push({ userId }, newMessageUpdates(text))
}

/** The constructor id (hex) `message` is written with to a client at `layer`. */
export function messageCtorFor(layer: number): string {
  const served = servedLayer(layer)
  if (served === undefined) throw new Error(`layer ${layer} is not served`)
  return layerSchema(served).byName.get('message')!.id.toString(16).padStart(8, '0')
}

/** The updates of `received` carrying `text`. */
export function withText(received: Received[] | undefined, text: string): Received[] {
  return (received ?? []).filter((r) => r.text === text)
}

/** One update a client's handler saw. */
export interface Received {
  update?: string
  message?: string
  /** The constructor id the client read the message with (hex). */
  message_ctor?: string
  text?: string
}

/** A started client: ready once its account.updateStatus was answered, then its result. */
export interface PushClient<T> {
  ready: Promise<void>
  result: Promise<T>
}

export interface PythonPushResult extends DriverOutput {
  layer: number
  executable: string
  auth_key: string
  status: boolean
  received: Received[]
}

/** ready and result from a run with progress lines; both marked handled (a test awaits what it needs). */
function started<T>(run: (onReady: () => void) => Promise<T>): PushClient<T> {
  let onReady!: () => void
  let onFail!: (e: unknown) => void
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve
    onFail = reject
  })
  const result = run(onReady)
  result.then(() => onFail(new Error('the client finished without reporting ready')), onFail)
  ready.catch(() => {})
  result.catch(() => {})
  return { ready, result }
}

/**
 * Starts python/push.py for `library` (on `interpreter`, default the PyPI one) against `e`, waiting
 * for `text`; `extra` adds to its config (push.py: Telethon's transport and http_wait_ms).
 */
export function startPythonPushClient(e: E2eServer, library: Library, text: string, interpreter: Interpreter = PYPI, extra: Record<string, unknown> = {}): PushClient<PythonPushResult> {
  return started((onReady) =>
    drive<PythonPushResult>('push.py', library, e, { push_text: text, push_wait: PUSH_WAIT_S, timeout: CLIENT_DEADLINE_S, ...extra }, interpreter, {
      onProgress: (p) => p.ready === true && onReady(),
    }),
  )
}

/**
 * Starts the gotd probe `bin` (gotd/probe.ts buildProbe) in push mode against `e`'s TCP port with
 * the intermediate transport, `pem` the server's public key file, its session file under `dir`.
 */
export function startGotdPushClient(e: E2eServer, bin: string, pem: string, dir: string, text: string): PushClient<ProbeResult> {
  const args = ['-transport', 'intermediate', '-addr', `${e.host}:${e.tcpPort}`, '-pem', pem, '-session', join(dir, `push-${randomBytes(4).toString('hex')}.json`)]
  return started((onReady) =>
    probe(bin, [...args, '-timeout', `${CLIENT_DEADLINE_S}s`, '-push-text', text, '-push-wait', `${PUSH_WAIT_S}s`], undefined, (p) => p.ready === true && onReady()).then((r) => {
      if (!r.res.ok) throw new Error(`gotd failed at stage ${r.res.stage}: ${r.res.error}\nresult: ${JSON.stringify(r.res)}\ngotd log:\n${r.stderr}`)
      return r.res
    }),
  )
}

/**
 * Once `client` is ready and its account.updateStatus was seen, pushes `text` to `userId` (which must
 * reach exactly one session) and waits for the client's result: that call's context, the result,
 * and how long after the push the result came.
 */
export async function pushToOne<T>(e: E2eServer, readiness: PushReadiness, client: PushClient<T>, userId: bigint, text: string): Promise<{ ctx: RpcContext; res: T; afterMs: number }> {
  await client.ready
  const [ctx] = await readiness.waitFor(1)
  const pushed = Date.now()
  const reached = pushNewMessage(e, userId, text)
  if (reached !== 1) throw new Error(`the push reached ${reached} sessions, expected 1`)
  const res = await client.result
  return { ctx: ctx!, res, afterMs: Date.now() - pushed }
}
