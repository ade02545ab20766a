/**
 * mtgate in front of a Teamgram deployment: the fake one of examples/teamgram (BFF services built
 * from Teamgram's generated gRPC interfaces and TL helpers, keys and bindings in Teamgram's
 * authsession tables, pushes as Teamgram's sync service makes them) behind mtgate's `teamgram-bff`
 * upstream, with mtgate's MySQL store on Teamgram's tables (made by Teamgram's DDL). Real clients
 * sign in through mtgate to the BFF (GramJS = A, mtcute = B, TDLib = C), message each other, and the
 * recipient's update takes Teamgram's sync path: mtgate reports its online sessions to the status
 * service with its session service as their gateway and registers that address in etcd under
 * interface.session; the sender's BFF looks the recipient's sessions up in status, the gateway in
 * etcd, and calls session.RPCSession/session_pushUpdatesData there. The keys are
 * shared both ways: those mtgate
 * wrote are the clients' keys when read Teamgram's way, and a key written Teamgram's way, bound to a
 * user, signs a GramJS client in with no handshake.
 */
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import mysql, { type Connection } from 'mysql2/promise'
import { authKeyIdOf } from '../../src/store/codec.js'
import { MysqlAuthKeyStore } from '../../src/store/mysql.js'
import { keysInUse, startE2eServer, recordNewKeys, recordRpcs, type DispatchedRpc, type E2eServer } from '../e2e/harness.js'
import { gramjs, gramjsClient, type GramClient, type GramObject } from '../helpers/gramjs.js'
import { mtcuteAuthKey, mtcuteClient, type MtcuteClient, type TlResult } from '../helpers/mtcute.js'
import { Etcd3 } from 'etcd3'
import { freePort, skipWithout, startEtcd, startMariaDb, type EtcdInstance, type MariaDbInstance } from '../helpers/services.js'
import { TEAMGRAM_DDL } from '../store/teamgram-ddl.js'
import { waitFor } from '../helpers/wait.js'
import type { ExampleBackend } from './backend.js'
import { readTeamgramKey, startTeamgramBff, userOnlineSessions, writeTeamgramKey } from './teamgram-bff.js'
import { TdlibClient, type Td } from './tdlib-client.js'

/** examples/teamgram's login code; a user's id is its phone's digits, its access_hash id * 7919. */
const CODE = '12345'
const PHONE_A = '+15550000111'
const PHONE_B = '15550000222'
const PHONE_C = '+15550000333'
const PHONE_D = '15550000444'
const userOf = (phone: string): number => Number(phone.replace(/\D/g, ''))
const accessHash = (userId: number): bigint => BigInt(userId) * 7919n
const DC = 2
const SESSION_KEY = 'interface.session'

const { Api, bigInt, Raw } = gramjs()
const G = Api as unknown as {
  InputUserSelf: new () => unknown
  InputPeerUser: new (a: object) => unknown
  users: { GetUsers: new (a: object) => unknown; GetFullUser: new (a: object) => unknown }
  auth: { LogOut: new () => unknown }
  messages: { SendMessage: new (a: object) => unknown }
}
type Long = { toString(): string }
type LongCtor = { fromString(s: string): Long }

interface MtMessage {
  text: string
  sender: { id: number }
}

const randomLong = (): string => randomBytes(8).readBigInt64LE().toString()

/** The text of a td_api updateNewMessage with messageText content. */
const textOf = (u: Td): unknown => (((u.message as Td).content as Td).text as Td | undefined)?.text

/** A GramJS StringSession (version 1) holding `key` for DC `dc` at host:port. */
function stringSession(dc: number, host: string, port: number, key: Buffer): string {
  const addr = Buffer.from(host)
  const head = Buffer.alloc(3)
  head.writeUInt8(dc, 0)
  head.writeInt16BE(addr.length, 1)
  const p = Buffer.alloc(2)
  p.writeInt16BE(port, 0)
  return '1' + Buffer.concat([head, addr, p, key]).toString('base64')
}

describe('Teamgram: mtgate in front of a Teamgram BFF, on Teamgram\'s tables', { skip: skipWithout('mariadb', 'etcd') }, () => {
  let mariadb: MariaDbInstance
  let etcd: EtcdInstance
  let bffListen: string
  let session: string
  let db: Connection
  let dsn: string
  let e: E2eServer
  let bff: ExampleBackend
  let gram: GramClient
  let mt: MtcuteClient
  let gramD: GramClient | undefined
  let keyD: bigint | undefined
  let td: TdlibClient | undefined
  let Long: LongCtor
  let newKeys: bigint[]
  let rpcs: DispatchedRpc[]
  const gramGot: GramObject[] = []
  const mtGot: MtMessage[] = []
  const mtCall = (req: Record<string, unknown>): Promise<TlResult> => (mt.call as (r: Record<string, unknown>) => Promise<TlResult>)(req)

  before(async () => {
    Long = ((await import('@mtcute/core')) as unknown as { Long: LongCtor }).Long
    mariadb = await startMariaDb()
    const c = mariadb.connection
    dsn = `${c.user}:${c.password}@tcp(${c.host}:${c.port})/${c.database}`
    db = await mysql.createConnection({ ...c, multipleStatements: true })
    // an existing Teamgram database: its tables as Teamgram's DDL made them
    await db.query(TEAMGRAM_DDL)
    etcd = await startEtcd()
    const etcdAddr = `127.0.0.1:${etcd.port}`
    const store = await MysqlAuthKeyStore.open(c)
    bffListen = `127.0.0.1:${await freePort()}`
    session = `127.0.0.1:${await freePort()}`
    e = await startE2eServer({
      host: '127.0.0.1',
      tcpPort: 0,
      store,
      config: {
        upstreams: [{ name: 'teamgram', kind: 'teamgram-bff', targets: [bffListen], deadline_ms: 5000 }],
        // as docs/teamgram-migration.md configures Teamgram's bff.bff: every method to it, and
        // help.getConfig named, so that the BFF answers it instead of mtgate's built-in
        unrouted: 'teamgram',
        routes: { 'help.getConfig': 'teamgram' },
        // the fake serves status.RPCStatus on the BFF's address
        teamgram: { session_service: session, status_service: { targets: [bffListen] }, etcd: [etcdAddr], session_key: SESSION_KEY },
      },
    })
    newKeys = recordNewKeys(e.server.store)
    rpcs = recordRpcs(e.server)
    bff = await startTeamgramBff({ dsn, listen: bffListen, etcd: etcdAddr, sessionKey: SESSION_KEY, dc: { id: DC, host: e.host, port: e.tcpPort! } })
    gram = gramjsClient({ host: e.host, port: e.tcpPort!, dcId: DC, key: e, transport: 'abridged', params: { connectionRetries: 2, retryDelay: 200, autoReconnect: false } })
    mt = await mtcuteClient({ host: e.host, port: e.tcpPort!, dcId: DC, pem: e.publicPem, updates: true })
    ;(mt as unknown as { onNewMessage: { add(cb: (m: MtMessage) => void): void } }).onNewMessage.add((m) => mtGot.push(m))
    await mt.connect()
    await bffReached()
  })
  after(async () => {
    await td?.close()
    await gramD?.destroy().catch(() => undefined)
    await gram?.destroy().catch(() => undefined)
    await mt?.destroy().catch(() => undefined)
    await e?.close()
    await bff?.stop()
    await db?.end()
    await mariadb?.destroy()
    await etcd?.destroy()
  })

  async function until(pred: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
    const t0 = Date.now()
    while (!(await pred())) {
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  /** The permanent keys the status service lists online for the user, each with its gateway. */
  const online = async (phone: string): Promise<string[]> => (await userOnlineSessions(bffListen, userOf(phone))).map((s) => `${s.authKeyId}@${s.gateway}`).sort()

  /**
   * Resolves once mtgate reaches the BFF (its channel connects after the BFF starts; until then calls
   * fail at once): updates.getState through mtcute, before sign-in, is the BFF's 401.
   */
  async function bffReached(): Promise<void> {
    const t0 = Date.now()
    for (;;) {
      const err = await (mt.call as (r: object, p: object) => Promise<unknown>)({ _: 'updates.getState' }, { maxRetryCount: 0 }).then(
        () => new Error('updates.getState answered before sign-in'),
        (e: Error) => e,
      )
      if (/AUTH_KEY_UNREGISTERED/.test(err.message)) return
      if (Date.now() - t0 > 20_000) throw new Error(`mtgate reaching the BFF: ${err.message}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  /** The active auth_users rows of a key (Teamgram's binding). */
  async function boundUsers(keyId: bigint): Promise<number[]> {
    const [rows] = await db.query('SELECT user_id FROM auth_users WHERE auth_key_id = ? AND deleted = 0', [keyId.toString()])
    return (rows as { user_id: number | string }[]).map((r) => Number(r.user_id))
  }

  it('GramJS (client.start) and mtcute (tg.start) sign in through mtgate to the BFF; the BFF binds each key in auth_users', async () => {
    await (gram as unknown as { start(p: object): Promise<void> }).start({
      phoneNumber: PHONE_A,
      phoneCode: async () => CODE,
      onError: async (err: Error) => {
        throw err
      },
    })
    gram.addEventHandler((u) => gramGot.push(u), new Raw({}))
    const me = await (mt as unknown as { start(p: object): Promise<{ id: number }> }).start({ phone: PHONE_B, code: () => CODE, codeSentCallback: () => undefined })
    assert.equal(me.id, userOf(PHONE_B))
    const [meA] = await gram.invoke<GramObject[]>(new G.users.GetUsers({ id: [new G.InputUserSelf()] }))
    assert.equal(Number(meA!.id), userOf(PHONE_A))
    assert.equal(meA!.self, true)
    const keyA = authKeyIdOf(gram.session.getAuthKey()!.getKey()!)
    const keyB = authKeyIdOf((await mtcuteAuthKey(mt))!)
    assert.deepEqual(new Set(keysInUse(newKeys, rpcs)), new Set([keyA, keyB]))
    assert.deepEqual(await boundUsers(keyA), [userOf(PHONE_A)])
    assert.deepEqual(await boundUsers(keyB), [userOf(PHONE_B)])
    // mtcute takes its pts from updates.getState + getDifference after sign-in; a message stored
    // before it has them is behind its pts (and dropped as already applied)
    await waitFor(() => rpcs.some((r) => r.method === 'updates.getDifference' && r.authKeyId === keyB && r.ok), 10_000, "mtcute's updates.getDifference")
    await new Promise((r) => setTimeout(r, 500))
  })

  it("help.getConfig, routed by name, is the BFF's config (Teamgram's RPCConfiguration.help_getConfig)", async () => {
    const cfg = (await mt.call({ _: 'help.getConfig' } as never)) as unknown as { _: string; dcTxtDomainName: string; thisDc: number; dcOptions: { ipAddress: string; port: number }[] }
    assert.equal(cfg._, 'config')
    assert.equal(cfg.dcTxtDomainName, 'teamgram-bff.example')
    assert.equal(cfg.thisDc, DC)
    assert.deepEqual(cfg.dcOptions.map((o) => [o.ipAddress, o.port]), [[e.host, e.tcpPort]])
  })

  it('mtgate registered its session service under interface.session; the status service lists A and B online with it as gateway', async () => {
    const client = new Etcd3({ hosts: etcd.endpoint })
    // go-zero's form: <key>/<lease id>, the key kept by a lease
    try {
      const { kvs } = await client.getAll().prefix(SESSION_KEY + '/').exec()
      assert.deepEqual(kvs.map((kv) => kv.value.toString()), [session])
      assert.notEqual(kvs[0]!.lease, '0')
      assert.equal(kvs[0]!.key.toString(), `${SESSION_KEY}/${kvs[0]!.lease}`)
    } finally {
      client.close()
    }
    const keyA = authKeyIdOf(gram.session.getAuthKey()!.getKey()!)
    const keyB = authKeyIdOf((await mtcuteAuthKey(mt))!)
    await until(async () => (await online(PHONE_A)).length > 0 && (await online(PHONE_B)).length > 0, 'A and B online in status')
    assert.deepEqual(await online(PHONE_A), [`${keyA}@${session}`])
    assert.deepEqual(await online(PHONE_B), [`${keyB}@${session}`])
    const [entry] = await userOnlineSessions(bffListen, userOf(PHONE_B))
    assert.equal(entry!.permAuthKeyId, keyB)
    const now = Date.now() / 1000
    assert.ok(entry!.expired > now + 30 && entry!.expired <= now + 61, `expired ${entry!.expired} is about now + 60`)
  })

  it("A → B: GramJS's messages.sendMessage is answered updateShortSentMessage; mtcute gets the message pushed through session_pushUpdatesData", async () => {
    const text = 'hello B, from A'
    const b = userOf(PHONE_B)
    const sent = await gram.invoke<GramObject>(new G.messages.SendMessage({ peer: new G.InputPeerUser({ userId: bigInt(b), accessHash: bigInt(accessHash(b).toString()) }), message: text, randomId: bigInt(randomLong()) }))
    assert.equal(sent.className, 'UpdateShortSentMessage')
    await waitFor(() => mtGot.some((m) => m.text === text), 10_000, `mtcute's new_message "${text}"`)
    assert.equal(mtGot.find((m) => m.text === text)!.sender.id, userOf(PHONE_A))
  })

  it("B → A: mtcute's messages.sendMessage reaches GramJS's update handler as updateShortMessage", async () => {
    const text = 'hello A, from B'
    const a = userOf(PHONE_A)
    const sent = await mtCall({ _: 'messages.sendMessage', peer: { _: 'inputPeerUser', userId: a, accessHash: Long.fromString(accessHash(a).toString()) }, message: text, randomId: Long.fromString(randomLong()) })
    assert.equal(sent._, 'updateShortSentMessage')
    await waitFor(() => gramGot.some((u) => u.message === text), 10_000, `GramJS's update "${text}"`)
    const u = gramGot.find((x) => x.message === text)!
    assert.equal(u.className, 'UpdateShortMessage')
    assert.equal(Number(u.userId), userOf(PHONE_B))
  })

  it('TDLib (C) signs in with its own authorization flow through the BFF', async () => {
    td = await TdlibClient.start({ host: e.host, port: e.tcpPort!, publicPem: e.publicPem })
    const c = td
    const inState = (name: string) => (u: Td) => u._ === 'updateAuthorizationState' && (u.authorization_state as Td)._ === name
    await c.update(inState('authorizationStateWaitPhoneNumber'), 'authorizationStateWaitPhoneNumber')
    await c.invoke({ _: 'setAuthenticationPhoneNumber', phone_number: PHONE_C })
    await c.update(inState('authorizationStateWaitCode'), 'authorizationStateWaitCode')
    await c.invoke({ _: 'checkAuthenticationCode', code: CODE })
    await c.update(inState('authorizationStateReady'), 'authorizationStateReady', 20_000)
    const me = await c.invoke({ _: 'getMe' })
    assert.equal(Number(me.id), userOf(PHONE_C))
    const keys = keysInUse(newKeys, rpcs)
    assert.equal(keys.length, 3)
    assert.deepEqual(await boundUsers(keys[2]!), [userOf(PHONE_C)])
  })

  it('A → C: GramJS\'s message reaches TDLib as updateNewMessage; C → A: TDLib\'s sendMessage reaches GramJS', async () => {
    // TDLib takes its pts from updates.getState after sign-in (see the mtcute wait above)
    const tdKey = keysInUse(newKeys, rpcs)[2]
    await waitFor(() => rpcs.some((r) => r.method === 'updates.getState' && r.authKeyId === tdKey && r.ok), 10_000, "TDLib's updates.getState")
    const a = userOf(PHONE_A)
    const cId = userOf(PHONE_C)
    const toC = 'hello C, from A'
    const sent = await gram.invoke<GramObject>(new G.messages.SendMessage({ peer: new G.InputPeerUser({ userId: bigInt(cId), accessHash: bigInt(accessHash(cId).toString()) }), message: toC, randomId: bigInt(randomLong()) }))
    assert.equal(sent.className, 'UpdateShortSentMessage')
    const u = await td!.update((x) => x._ === 'updateNewMessage' && textOf(x) === toC, `updateNewMessage "${toC}"`)
    assert.deepEqual((u.message as Td).sender_id, { _: 'messageSenderUser', user_id: a })
    await td!.invoke({ _: 'createPrivateChat', user_id: a, force: true })
    const toA = 'hello A, from C'
    await td!.invoke({ _: 'sendMessage', chat_id: a, input_message_content: { _: 'inputMessageText', text: { _: 'formattedText', text: toA } } })
    await waitFor(() => gramGot.some((x) => x.message === toA), 10_000, `GramJS's update "${toA}"`).catch((err: Error) => {
      throw new Error(`${err.message}\n${td!.lastLog()}`)
    })
    assert.equal(Number(gramGot.find((x) => x.message === toA)!.userId), cId)
  })

  it("the keys mtgate wrote, read Teamgram's way (auth_key_infos + auth_keys, body RawStdEncoding-decoded), are the clients' keys, bound to their users", async () => {
    const clients: [Buffer, string][] = [
      [gram.session.getAuthKey()!.getKey()!, PHONE_A],
      [(await mtcuteAuthKey(mt))!, PHONE_B],
    ]
    for (const [key, phone] of clients) {
      const id = authKeyIdOf(key)
      const k = await readTeamgramKey(dsn, id)
      assert.equal(k.auth_key_id, id.toString())
      assert.equal(k.key, key.toString('hex'))
      assert.equal(k.id_matches, true)
      assert.equal(k.auth_key_type, 0, 'a permanent key')
      assert.equal(k.perm_auth_key_id, id.toString())
      assert.equal(k.user_id, userOf(phone))
    }
  })

  it("a key written Teamgram's way and bound to a user: GramJS uses it with no handshake and is that user", async () => {
    const k = await writeTeamgramKey(dsn, PHONE_D)
    assert.equal(k.id_matches, true)
    assert.equal(k.user_id, userOf(PHONE_D))
    const keys = newKeys.length
    const keyRows = async (): Promise<number> => Number(((await db.query('SELECT COUNT(*) AS n FROM auth_keys'))[0] as { n: number }[])[0]!.n)
    const rowsBefore = await keyRows()
    gramD = gramjsClient({
      session: stringSession(DC, e.host, 80, Buffer.from(k.key, 'hex')),
      host: e.host,
      port: e.tcpPort!,
      dcId: DC,
      key: e,
      transport: 'abridged',
      params: { connectionRetries: 2, retryDelay: 200, autoReconnect: false },
    })
    await gramD.connect()
    const full = await gramD.invoke<GramObject>(new G.users.GetFullUser({ id: new G.InputUserSelf() }))
    assert.equal(Number((full.fullUser as GramObject).id), userOf(PHONE_D))
    const [me] = await gramD.invoke<GramObject[]>(new G.users.GetUsers({ id: [new G.InputUserSelf()] }))
    assert.equal(me!.self, true)
    assert.equal(me!.phone, PHONE_D)
    assert.equal(authKeyIdOf(gramD.session.getAuthKey()!.getKey()!).toString(), k.auth_key_id, 'GramJS kept the key it was given')
    assert.equal(newKeys.length, keys, 'no new key in mtgate')
    assert.equal(await keyRows(), rowsBefore, "no new row in Teamgram's auth_keys")
    keyD = BigInt(k.auth_key_id)
  })

  it("auth.logOut on that key: the BFF unbinds it as Teamgram's authsession does; the key has no user after, and status no longer lists it", async () => {
    await until(async () => (await online(PHONE_D)).length === 1, 'D online in status')
    const out = await gramD!.invoke<GramObject>(new G.auth.LogOut())
    assert.equal(out.className, 'auth.LoggedOut')
    assert.deepEqual(await boundUsers(keyD!), [])
    assert.equal((await readTeamgramKey(dsn, keyD!)).user_id, 0)
    await assert.rejects(gramD!.invoke(new G.users.GetFullUser({ id: new G.InputUserSelf() })), /AUTH_KEY_UNREGISTERED/)
    await until(async () => (await online(PHONE_D)).length === 0, 'D offline in status after its logOut')
  })

  it('a client that disconnects is reported offline: status no longer lists B', async () => {
    assert.equal((await online(PHONE_B)).length, 1)
    await mt.destroy()
    await until(async () => (await online(PHONE_B)).length === 0, 'B offline in status')
    assert.equal((await online(PHONE_A)).length, 1, 'A stays online')
  })

  it('mtgate stopping leaves interface.session and reports its sessions offline', async () => {
    await e.server.stop()
    const client = new Etcd3({ hosts: etcd.endpoint })
    try {
      assert.deepEqual(await client.getAll().prefix(SESSION_KEY + '/').strings(), {})
    } finally {
      client.close()
    }
    assert.deepEqual(await online(PHONE_A), [])
  })
})
