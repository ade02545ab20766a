import { test } from 'node:test'
import assert from 'node:assert/strict'
import tg from 'telegram'
import { BinaryReader } from 'telegram/extensions/index.js'
import bigInt from 'big-integer'
import Long from 'long'
import { TlBinaryReader, TlBinaryWriter } from '@mtcute/tl-runtime'
import { __tlReaderMap, __tlWriterMap } from '@mtcute/core/utils.js'
import { encode, decode, registryForLayer, toLayer } from '../../src/tl/index.js'
import type { TlObject } from '../../src/tl/index.js'
import { corpus } from './corpus.js'
import { assertSame } from './compare.js'

const { Api } = tg

type Obj = Record<string, unknown>
const gramRead = (b: Buffer): Obj => new BinaryReader(b).tgReadObject() as Obj
const mtRead = (b: Uint8Array): Obj => TlBinaryReader.deserializeObject(__tlReaderMap, b) as Obj
/** mtcute's reader map holds constructors only (a client never reads requests). */
const mtCanRead = (b: Uint8Array): boolean => Buffer.from(b).readUInt32LE(0) in __tlReaderMap
const mtWrite = (o: Obj): Buffer => Buffer.from(TlBinaryWriter.serializeObject(__tlWriterMap, o as never))

/** Decodes `bytes` in our codec, checks the values against `theirs`, and re-encodes in `layer`. */
function roundTripTheirs(bytes: Buffer, theirs: Obj, layer: number): TlObject {
  const ours = decode(bytes)
  assertSame(ours, theirs)
  assert.deepEqual(encode(ours, layer), bytes, 'our re-encoding is byte-identical')
  return ours
}

// --- GramJS (layer 198) ------------------------------------------------------------------------

function gramCorpus(): Record<string, { obj: { getBytes(): Buffer } }> {
  const entities = [
    new Api.MessageEntityBold({ offset: 0, length: 5 }),
    new Api.MessageEntityTextUrl({ offset: 6, length: 5, url: 'https://example.org' }),
    new Api.MessageEntityMentionName({ offset: 0, length: 2, userId: bigInt('100001') }),
  ]
  // GramJS's .d.ts lags its layer-198 runtime schema (no flags2 fields), hence the cast.
  const message = new Api.Message({
    out: true,
    id: 4242,
    fromId: new Api.PeerUser({ userId: bigInt('100001') }),
    peerId: new Api.PeerChannel({ channelId: bigInt('1700000001') }),
    date: 1764000000,
    message: 'Hello world — ünïcödé 👍',
    entities,
    views: 10,
    forwards: 2,
    offline: true, // flags2
    viaBusinessBotId: bigInt('777000'), // flags2
    effect: bigInt('5046509860389126442'), // flags2
    replyTo: new Api.MessageReplyHeader({ replyToMsgId: 4241 }),
  } as ConstructorParameters<typeof Api.Message>[0])
  const user = new Api.User({
    contact: true,
    id: bigInt('100005'),
    accessHash: bigInt('-1311768467294899695'),
    firstName: 'Alice',
    username: 'alice',
    status: new Api.UserStatusOnline({ expires: 1764000300 }),
    usernames: [new Api.Username({ editable: true, active: true, username: 'alice_alt' })],
    color: new Api.PeerColor({ color: 3 }),
  })
  return {
    'help.getConfig': { obj: new Api.help.GetConfig() },
    invokeWithLayer: {
      obj: new Api.InvokeWithLayer({
        layer: 198,
        query: new Api.InitConnection({
          apiId: 2040,
          deviceModel: 'GramJS test',
          systemVersion: 'Linux',
          appVersion: '2.26',
          systemLangCode: 'en',
          langPack: '',
          langCode: 'en',
          query: new Api.help.GetConfig(),
        }),
      }),
    },
    'messages.sendMessage': {
      obj: new Api.messages.SendMessage({
        silent: true,
        peer: new Api.InputPeerUser({ userId: bigInt('100001'), accessHash: bigInt('-5') }),
        message: 'Hello world',
        randomId: bigInt('-81985529216486895'),
        entities,
        replyMarkup: new Api.ReplyKeyboardMarkup({
          resize: true,
          rows: [new Api.KeyboardButtonRow({ buttons: [new Api.KeyboardButton({ text: 'Yes' })] })],
        }),
      }),
    },
    message: { obj: message },
    user: { obj: user },
    updates: {
      obj: new Api.Updates({
        updates: [
          new Api.UpdateNewChannelMessage({ message, pts: 10, ptsCount: 1 }),
          new Api.UpdateUserStatus({ userId: bigInt('100005'), status: new Api.UserStatusRecently({}) }),
          new Api.UpdateDeleteMessages({ messages: [1, 2, 3], pts: 11, ptsCount: 3 }),
        ],
        users: [user],
        chats: [],
        date: 1764000000,
        seq: 0,
      }),
    },
  }
}

test('GramJS (layer 198) bytes decode in ours to the same values and re-encode byte-identically', () => {
  for (const [name, { obj }] of Object.entries(gramCorpus())) {
    const bytes = Buffer.from(obj.getBytes())
    const ours = roundTripTheirs(bytes, obj as unknown as Obj, 198)
    // ...and GramJS reads our layer-198 encoding back to the same values.
    assertSame(ours, gramRead(encode(ours, 198)))
    assert.ok(name)
  }
})

test('a layer-198 GramJS message decodes through the layer-198 constructor', () => {
  const m = gramCorpus().message!.obj
  const bytes = Buffer.from(m.getBytes())
  assert.equal(bytes.readUInt32LE(0), 0x96fdbbe9)
  const ours = decode(bytes)
  assert.equal(ours._, 'message')
  assert.equal(encode(ours, 198).readUInt32LE(0), 0x96fdbbe9)
  assert.equal(registryForLayer(222).idOf('message'), 0x9cb490e9)
})

test('our newest-layer encodings of constructors shared with 198 decode in GramJS to the same values', () => {
  const c = corpus()
  for (const name of ['help.getConfig', 'invokeWithLayer', 'config']) {
    const bytes = encode(c[name]!)
    assertSame(decode(bytes), gramRead(bytes))
  }
})

// --- mtcute (layer 227) ------------------------------------------------------------------------

function mtCorpus(): Record<string, Obj> {
  const entities = [
    { _: 'messageEntityBold', offset: 0, length: 5 },
    { _: 'messageEntityTextUrl', offset: 6, length: 5, url: 'https://example.org' },
    { _: 'messageEntityMentionName', offset: 0, length: 2, userId: 100001 },
  ]
  const message = {
    _: 'message',
    out: true,
    id: 4242,
    fromId: { _: 'peerUser', userId: 100001 },
    peerId: { _: 'peerChannel', channelId: 1700000001 },
    date: 1764000000,
    message: 'Hello world — ünïcödé 👍',
    entities,
    views: 10,
    forwards: 2,
    offline: true,
    viaBusinessBotId: 777000,
    effect: Long.fromString('5046509860389126442'),
    fromRank: 'admin', // flags2.12, layer 227 only
    replyTo: { _: 'messageReplyHeader', replyToMsgId: 4241 },
  }
  const user = {
    _: 'user',
    contact: true,
    id: 100005,
    accessHash: Long.fromString('-1311768467294899695'),
    firstName: 'Alice',
    username: 'alice',
    status: { _: 'userStatusOnline', expires: 1764000300 },
    usernames: [{ _: 'username', editable: true, active: true, username: 'alice_alt' }],
    color: { _: 'peerColor', color: 3 },
  }
  return {
    'help.getConfig': { _: 'help.getConfig' },
    invokeWithLayer: {
      _: 'invokeWithLayer',
      layer: 227,
      query: {
        _: 'initConnection',
        apiId: 2040,
        deviceModel: 'mtcute test',
        systemVersion: 'Linux',
        appVersion: '0.30.3',
        systemLangCode: 'en',
        langPack: '',
        langCode: 'en',
        query: { _: 'help.getConfig' },
      },
    },
    'messages.sendMessage': {
      _: 'messages.sendMessage',
      silent: true,
      peer: { _: 'inputPeerUser', userId: 100001, accessHash: Long.fromInt(-5) },
      message: 'Hello world',
      randomId: Long.fromString('-81985529216486895'),
      entities,
      replyMarkup: { _: 'replyKeyboardMarkup', resize: true, rows: [{ _: 'keyboardButtonRow', buttons: [{ _: 'keyboardButton', text: 'Yes' }] }] },
    },
    message,
    user,
    updates: {
      _: 'updates',
      updates: [
        { _: 'updateNewChannelMessage', message, pts: 10, ptsCount: 1 },
        { _: 'updateUserStatus', userId: 100005, status: { _: 'userStatusRecently' } },
        { _: 'updateDeleteMessages', messages: [1, 2, 3], pts: 11, ptsCount: 3 },
      ],
      users: [user],
      chats: [],
      date: 1764000000,
      seq: 0,
    },
  }
}

test('mtcute (layer 227) bytes decode in ours to the same values and re-encode byte-identically', () => {
  for (const obj of Object.values(mtCorpus())) {
    const bytes = mtWrite(obj)
    const ours = roundTripTheirs(bytes, obj, 227)
    if (mtCanRead(bytes)) assertSame(ours, mtRead(encode(ours, 227)))
  }
})

test('a layer-227 mtcute message (with from_rank) decodes through the layer-227 constructor', () => {
  const bytes = mtWrite(mtCorpus().message!)
  assert.equal(bytes.readUInt32LE(0), 0x7600b9d3)
  const ours = decode(bytes) as unknown as { _: string; from_rank: string }
  assert.equal(ours._, 'message')
  assert.equal(ours.from_rank, 'admin')
})

test('our corpus, converted from the newest layer to 227, reads in mtcute to the same values', () => {
  const c = corpus()
  let read = 0
  for (const name of ['config', 'user', 'message', 'updates', 'messages.messages']) {
    const bytes = encode(toLayer(c[name], 227) as TlObject, 227)
    assert.ok(mtCanRead(bytes), `${name}: mtcute knows ${bytes.readUInt32LE(0).toString(16)}`)
    assertSame(decode(bytes, { registry: registryForLayer(227) }), mtRead(bytes))
    assert.deepEqual(mtWrite(mtRead(bytes)), bytes, `${name}: mtcute re-encodes it byte-identically`)
    read++
  }
  assert.equal(read, 5)
})

test('our corpus, converted from the newest layer to 198, reads in GramJS to the same values', () => {
  const c = corpus()
  for (const name of ['config', 'user', 'message', 'updates', 'messages.messages', 'messages.sendMessage']) {
    const bytes = encode(toLayer(c[name], 198) as TlObject, 198)
    assertSame(decode(bytes, { registry: registryForLayer(198) }), gramRead(bytes))
  }
  const m = encode(toLayer(c.message, 198) as TlObject, 198)
  assert.equal(m.readUInt32LE(0), 0x96fdbbe9, 'the layer-198 message constructor')
})

test('the comparator itself rejects differences', () => {
  assert.throws(() => assertSame({ _: 'pong', msg_id: 1n }, { _: 'pong', msgId: Long.fromInt(2) }))
  assert.throws(() => assertSame({ _: 'pong', msg_id: 1n }, { _: 'ping', msgId: 1 }))
  assert.throws(() => assertSame({ _: 'x', b: Buffer.from([1]) }, { _: 'x', b: new Uint8Array([2]) }))
  assert.throws(() => assertSame({ _: 'x', v: [1, 2] }, { _: 'x', v: [1] }))
  assert.throws(() => assertSame({ _: 'x', f: true }, { _: 'x' }))
  assertSame({ _: 'help.getConfig', f: false, g: undefined, id: 5n }, { className: 'help.GetConfig', id: 5 })
})
