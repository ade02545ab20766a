/**
 * The example backends' scenario (examples/README.md is their contract): mtgate in-process with the
 * backend behind its upstream bridge and its Mtgate service (config backend_api) for pushes, and two
 * real clients signing in through the backend with the libraries' own sign-in flows: A = GramJS
 * (client.start), B = mtcute (tg.start, updates on). Each gets the other's messages in its update
 * handler. Then faults on the same sessions: the backend killed with a call in flight (500 INTERNAL
 * at once; restarted, it knows everyone from its state file), the backend slower than the route
 * deadline (-503 Timeout), and messages still flowing afterwards, with no new key or session.
 * Last, a third real client, C = TDLib (tdlib-client.ts: in its own network namespace), signs in
 * with its own authorization flow, gets A's message as updateNewMessage and sends A one.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { keysInUse, startE2eServer, recordNewKeys, recordRpcs, type DispatchedRpc, type E2eServer } from '../e2e/harness.js'
import { gramjs, gramjsClient, type GramClient, type GramObject } from '../helpers/gramjs.js'
import { mtcuteClient, type MtcuteClient, type TlResult } from '../helpers/mtcute.js'
import { freePort } from '../helpers/services.js'
import { waitFor } from '../helpers/wait.js'
import type { ExampleBackend, StartExampleBackend } from './backend.js'
import { TdlibClient, type Td } from './tdlib-client.js'

/** The contract's login code and access_hash rule. */
const CODE = '12345'
const accessHash = (userId: number): number => userId * 7919
/** Deadline of every route but account.* (long: the kill must come well before it). */
const DEADLINE_MS = 5000
/** Deadline of account.* (the slow-backend fault). */
const SLOW_DEADLINE_MS = 800

const PHONE_A = '+15550000101'
const PHONE_B = '15550000202'
const PHONE_C = '+15550000303'

const { Api, bigInt, Raw } = gramjs()
/** The GramJS request classes the scenario uses. */
const G = Api as unknown as {
  InputUserSelf: new () => unknown
  InputUser: new (a: object) => unknown
  InputPeerUser: new (a: object) => unknown
  users: { GetUsers: new (a: object) => unknown; GetFullUser: new (a: object) => unknown }
  messages: { SendMessage: new (a: object) => unknown }
}

type Long = { toString(): string }
type LongCtor = { fromNumber(n: number): Long; fromString(s: string): Long }

/** What mtcute's new_message handler saw. */
interface MtMessage {
  text: string
  sender: { id: number }
}

/** A random TL long as a decimal string. */
const randomLong = (): string => randomBytes(8).readBigInt64LE().toString()

/** The text of a td_api updateNewMessage with messageText content. */
const textOf = (u: Td): unknown => (((u.message as Td).content as Td).text as Td | undefined)?.text

/** `f` retried until it resolves (a restarted backend takes a moment to be reconnected), for at most `ms`. */
async function untilOk<T>(f: () => Promise<T>, ms: number, what: string): Promise<T> {
  const t0 = Date.now()
  for (;;) {
    try {
      return await f()
    } catch (err) {
      if (Date.now() - t0 > ms) throw new Error(`${what}: still failing after ${ms} ms: ${(err as Error).message}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

/**
 * `stream`: mtgate calls the backend on its InvokeStream (config `stream: true`) instead of one
 * unary Invoke per call.
 */
export function describeExampleBackend(label: string, start: StartExampleBackend, o: { stream?: boolean } = {}): void {
  describe(`${label} example backend behind mtgate: GramJS and mtcute sign in and message each other`, () => {
    let dir: string
    let backend: ExampleBackend
    let e: E2eServer
    let gram: GramClient
    let mt: MtcuteClient
    let Long: LongCtor
    let aId = 0
    let bId = 0
    let newKeys: bigint[]
    let rpcs: DispatchedRpc[]
    let td: TdlibClient | undefined
    let cId = 0
    const gramGot: GramObject[] = []
    const mtGot: MtMessage[] = []
    const mtCall = (req: Record<string, unknown>, params?: Record<string, unknown>): Promise<TlResult> =>
      (mt.call as (r: Record<string, unknown>, p?: Record<string, unknown>) => Promise<TlResult>)(req, params)

    before(async () => {
      Long = ((await import('@mtcute/core')) as unknown as { Long: LongCtor }).Long
      dir = mkdtempSync(join(tmpdir(), 'mtgate-example-'))
      const listen = `127.0.0.1:${await freePort()}`
      e = await startE2eServer({
        host: '127.0.0.1',
        tcpPort: 0,
        config: {
          backend_api: '127.0.0.1:0',
          upstreams: [{ name: 'example', targets: [listen], deadline_ms: DEADLINE_MS, stream: o.stream ?? false }],
          routes: { 'auth.': 'example', 'users.': 'example', 'messages.': 'example', 'updates.': 'example', 'account.': { upstream: 'example', deadline_ms: SLOW_DEADLINE_MS } },
          unrouted: 'example',
        },
      })
      newKeys = recordNewKeys(e.server.store)
      rpcs = recordRpcs(e.server)
      backend = await start({ listen, mtgate: e.server.backendApiAddress!, stateFile: join(dir, 'state.json') })
      gram = gramjsClient({ host: e.host, port: e.tcpPort!, key: e, transport: 'abridged', params: { connectionRetries: 2, retryDelay: 200, autoReconnect: false } })
      mt = await mtcuteClient({ host: e.host, port: e.tcpPort!, pem: e.publicPem, updates: true })
      ;(mt as unknown as { onNewMessage: { add(cb: (m: MtMessage) => void): void } }).onNewMessage.add((m) => mtGot.push(m))
      await mt.connect()
      await backendReached()
    })
    after(async () => {
      await td?.close()
      await gram?.destroy().catch(() => undefined)
      await mt?.destroy().catch(() => undefined)
      await e?.close()
      await backend?.stop()
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
    })

    /**
     * Resolves once mtgate reaches the backend (its channel reconnects after a start or restart; until
     * then calls fail at once): updates.getState through mtcute answers, or answers 401 before sign-in.
     */
    async function backendReached(): Promise<void> {
      await untilOk(
        () =>
          mtCall({ _: 'updates.getState' }, { maxRetryCount: 0 }).catch((err: Error) => {
            if (!/AUTH_KEY_UNREGISTERED/.test(err.message)) throw err
            return undefined
          }),
        60_000,
        'mtgate reaching the backend',
      )
    }

    /** users.getFullUser of inputUserSelf through each client: the user ids the keys are bound to. */
    async function selfIds(): Promise<{ a: number; b: number }> {
      const g = await gram.invoke<GramObject>(new G.users.GetFullUser({ id: new G.InputUserSelf() }))
      const m = await mtCall({ _: 'users.getFullUser', id: { _: 'inputUserSelf' } }, { maxRetryCount: 0 })
      return { a: Number((g.fullUser as GramObject).id), b: Number((m.fullUser as TlResult).id) }
    }

    async function sendAtoB(text: string): Promise<void> {
      const sent = await gram.invoke<GramObject>(
        new G.messages.SendMessage({ peer: new G.InputPeerUser({ userId: bigInt(bId), accessHash: bigInt(accessHash(bId)) }), message: text, randomId: bigInt(randomLong()) }),
      )
      assert.equal(sent.className, 'UpdateShortSentMessage')
      await waitFor(() => mtGot.some((m) => m.text === text), 10_000, `mtcute's new_message "${text}"`).catch((e: Error) => {
        throw new Error(`${e.message}\nbackend's stderr (last lines):\n${backend.logTail(30)}`)
      })
      assert.equal(mtGot.find((m) => m.text === text)!.sender.id, aId)
    }

    it('GramJS (client.start) and mtcute (tg.start) sign in with their phone numbers; each key is bound to its user', async () => {
      await (gram as unknown as { start(p: object): Promise<void> }).start({
        phoneNumber: PHONE_A,
        phoneCode: async () => CODE,
        onError: async (err: Error) => {
          throw err
        },
      })
      // Registered once signed in: a handler makes GramJS ask for getMe on its first update (its own
      // "connected" event), concurrently with start()'s updates.getState; two rpc_errors in one
      // container lose the second in GramJS (MTProtoSender._handleRPCResult throws after the first).
      gram.addEventHandler((u) => gramGot.push(u), new Raw({}))
      const me = await (mt as unknown as { start(p: object): Promise<{ id: number }> }).start({ phone: PHONE_B, code: () => CODE, codeSentCallback: () => undefined })
      bId = me.id
      const [meA] = await gram.invoke<GramObject[]>(new G.users.GetUsers({ id: [new G.InputUserSelf()] }))
      aId = Number(meA!.id)
      assert.ok(aId >= 1000 && bId >= 1000 && aId !== bId, `user ids ${aId}, ${bId}`)
      assert.equal(meA!.self, true)
      assert.equal(meA!.phone, PHONE_A.replace(/\D/g, ''))
      assert.deepEqual(await selfIds(), { a: aId, b: bId })
      // each knows the other by id and access_hash
      const [other] = await gram.invoke<GramObject[]>(new G.users.GetUsers({ id: [new G.InputUser({ userId: bigInt(bId), accessHash: bigInt(accessHash(bId)) })] }))
      assert.equal(Number(other!.id), bId)
      assert.equal(keysInUse(newKeys, rpcs).length, 2)
    })

    it("A → B: messages.sendMessage from GramJS reaches mtcute's update handler", async () => {
      await sendAtoB('hello B, from A')
    })

    it("B → A: messages.sendMessage from mtcute reaches GramJS's update handler", async () => {
      const text = 'hello A, from B'
      const sent = await mtCall({ _: 'messages.sendMessage', peer: { _: 'inputPeerUser', userId: aId, accessHash: Long.fromNumber(accessHash(aId)) }, message: text, randomId: Long.fromString(randomLong()) })
      assert.equal(sent._, 'updateShortSentMessage')
      await waitFor(() => gramGot.some((u) => u.message === text), 10_000, `GramJS's update "${text}"`)
      const u = gramGot.find((x) => x.message === text)!
      assert.equal(u.className, 'UpdateShortMessage')
      assert.equal(Number(u.userId), bId)
      assert.notEqual(u.out, true)
    })

    it('backend killed with a call in flight: 500 INTERNAL at once; restarted, the same sessions go on and it knows both users', async () => {
      await backend.restart({ delayMs: 1500 })
      await backendReached()
      const sessions = e.server.sessions.sessionCount
      const t0 = Date.now()
      const pending = mtCall({ _: 'users.getFullUser', id: { _: 'inputUserSelf' } }, { maxRetryCount: 0 })
      const outcome = pending.then(
        () => 'answered',
        (err: Error) => err,
      )
      await waitFor(() => e.server.router.inFlight > 0, 5000, 'the call in flight')
      // within the backend's 1500 ms delay
      await new Promise((r) => setTimeout(r, 300))
      await backend.kill()
      const err = await outcome
      const took = Date.now() - t0
      assert.ok(err instanceof Error && /INTERNAL/.test(err.message), `the in-flight call ended with ${String(err)}`)
      assert.ok(took < 1500, `answered ${took} ms after it was sent (deadline ${DEADLINE_MS} ms)`)
      await backend.restart({ delayMs: 0 })
      await backendReached()
      assert.deepEqual(await selfIds(), { a: aId, b: bId })
      const full = await mtCall({ _: 'users.getFullUser', id: { _: 'inputUser', userId: aId, accessHash: Long.fromNumber(accessHash(aId)) } })
      assert.equal(Number((full.fullUser as TlResult).id), aId)
      assert.equal(e.server.sessions.sessionCount, sessions)
    })

    it('backend slower than the route deadline: -503 Timeout at the deadline; fast again: answered', async () => {
      await backend.restart({ delayMs: 2000 })
      await backendReached()
      const t0 = Date.now()
      await assert.rejects(mtCall({ _: 'account.updateStatus', offline: false }, { maxRetryCount: 0, throw503: true }), (err: Error) => err.constructor.name === 'MtTimeoutError')
      const took = Date.now() - t0
      assert.ok(took >= SLOW_DEADLINE_MS - 100 && took < 2000, `answered after ${took} ms (deadline ${SLOW_DEADLINE_MS} ms, backend delay 2000 ms)`)
      await backend.restart({ delayMs: 0 })
      await backendReached()
      assert.equal(await mtCall({ _: 'account.updateStatus', offline: false }, { maxRetryCount: 0 }), true)
    })

    it('after the faults: A → B still arrives, on the same keys and sessions', async () => {
      const sessions = e.server.sessions.sessionCount
      await sendAtoB('still here, B?')
      assert.equal(keysInUse(newKeys, rpcs).length, 2)
      assert.equal(e.server.sessions.sessionCount, sessions)
    })

    it('TDLib (C) signs in with its own authorization flow: phone number, code 12345, ready', async () => {
      td = await TdlibClient.start({ host: e.host, port: e.tcpPort!, publicPem: e.publicPem })
      const c = td
      const inState = (name: string) => (u: Td) => u._ === 'updateAuthorizationState' && (u.authorization_state as Td)._ === name
      await c.update(inState('authorizationStateWaitPhoneNumber'), 'authorizationStateWaitPhoneNumber')
      await c.invoke({ _: 'setAuthenticationPhoneNumber', phone_number: PHONE_C })
      await c.update(inState('authorizationStateWaitCode'), 'authorizationStateWaitCode')
      await c.invoke({ _: 'checkAuthenticationCode', code: CODE })
      await c.update(inState('authorizationStateReady'), 'authorizationStateReady', 20_000)
      assert.equal(keysInUse(newKeys, rpcs).length, 3)
      const me = await c.invoke({ _: 'getMe' })
      cId = Number(me.id)
      assert.ok(cId >= 1000 && cId !== aId && cId !== bId, `user ids ${aId}, ${bId}, ${cId}`)
      assert.equal(me.phone_number, PHONE_C.replace(/\D/g, ''))
    })

    it('A → C: messages.sendMessage from GramJS reaches TDLib as updateNewMessage', async () => {
      // TDLib takes its pts from updates.getState after sign-in: a message stored before that answer
      // would be behind that pts, found only in a dialog list (messages.getDialogs: not in the contract)
      const tdKey = keysInUse(newKeys, rpcs)[2]
      await waitFor(() => rpcs.some((r) => r.method === 'updates.getState' && r.authKeyId === tdKey && r.ok), 10_000, "TDLib's updates.getState")
      const text = 'hello C, from A'
      const sent = await gram.invoke<GramObject>(
        new G.messages.SendMessage({ peer: new G.InputPeerUser({ userId: bigInt(cId), accessHash: bigInt(accessHash(cId)) }), message: text, randomId: bigInt(randomLong()) }),
      )
      assert.equal(sent.className, 'UpdateShortSentMessage')
      const u = await td!.update((x) => x._ === 'updateNewMessage' && textOf(x) === text, `updateNewMessage "${text}"`)
      const m = u.message as Td
      assert.deepEqual(m.sender_id, { _: 'messageSenderUser', user_id: aId })
      assert.equal(m.chat_id, aId)
      assert.equal(m.is_outgoing, false)
    })

    it("C → A: TDLib's sendMessage in the private chat with A (createPrivateChat) reaches GramJS's update handler", async () => {
      // TDLib knows A from the difference that brought A's message; without `force` it would also load
      // the chat with messages.getPeerDialogs (not in the contract)
      const chat = await td!.invoke({ _: 'createPrivateChat', user_id: aId, force: true })
      assert.equal(chat.id, aId)
      const text = 'hello A, from C'
      const sent = await td!.invoke({ _: 'sendMessage', chat_id: aId, input_message_content: { _: 'inputMessageText', text: { _: 'formattedText', text } } })
      assert.equal(sent.chat_id, aId)
      await td!.update((x) => x._ === 'updateMessageSendSucceeded' && textOf(x) === text, `updateMessageSendSucceeded "${text}"`)
      await waitFor(() => gramGot.some((u) => u.message === text), 10_000, `GramJS's update "${text}"`).catch((err: Error) => {
        throw new Error(`${err.message}\n${td!.lastLog()}`)
      })
      const u = gramGot.find((x) => x.message === text)!
      assert.equal(u.className, 'UpdateShortMessage')
      assert.equal(Number(u.userId), cId)
    })
  })
}
