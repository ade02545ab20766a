import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  API_ID,
  API_LAYER,
  NEWEST_LAYER,
  ID_BOOL_FALSE,
  ID_BOOL_TRUE,
  ID_GZIP_PACKED,
  MT_ID,
  VENDORED_LAYERS,
  defaultRegistry,
  registryForLayer,
} from '../../src/tl/index.js'
import { parseManualEntries } from '../../src/tl/gen/cli.js'
import { ID_MSG_CONTAINER, ID_MSG_COPY, ID_RPC_RESULT } from '../../src/session/envelope.js'

const HAND_PARSED = ['rpc_result', 'msg_container', 'msg_copy', 'gzip_packed']

test('MT_ID: every mtproto.tl name encodes with the same id in every supported layer', () => {
  for (const layer of VENDORED_LAYERS) {
    const reg = registryForLayer(layer)
    for (const [name, id] of Object.entries(MT_ID)) {
      if (HAND_PARSED.includes(name)) continue
      assert.equal(reg.idOf(name), id, `${name} in layer ${layer}`)
    }
  }
})

test('API_ID: the ids the default registry encodes with', () => {
  assert.equal(API_LAYER, NEWEST_LAYER)
  assert.equal(defaultRegistry.layer, API_LAYER)
  for (const [name, id] of Object.entries(API_ID)) assert.equal(defaultRegistry.idOf(name), id, name)
  assert.equal(Object.keys(API_ID).filter((n) => n in MT_ID).length, 0, 'names are unique across MT_ID and API_ID')
})

test('hand-parsed structures: MT_ID matches the constants the parsers use; the registries lack them', () => {
  assert.equal(MT_ID.msg_container, ID_MSG_CONTAINER)
  assert.equal(MT_ID.rpc_result, ID_RPC_RESULT)
  assert.equal(MT_ID.msg_copy, ID_MSG_COPY)
  assert.equal(MT_ID.gzip_packed, ID_GZIP_PACKED)
  for (const name of HAND_PARSED) assert.equal(defaultRegistry.idOf(name), undefined, name)
  assert.equal(API_ID.boolTrue, ID_BOOL_TRUE)
  assert.equal(API_ID.boolFalse, ID_BOOL_FALSE)
})

test('ids are unsigned and spot-check against the schema', () => {
  for (const id of [...Object.values(MT_ID), ...Object.values(API_ID)]) assert.ok(Number.isInteger(id) && id >= 0 && id <= 0xffffffff)
  assert.equal(MT_ID.pong, 0x347773c5)
  assert.equal(MT_ID.msgs_ack, 0x62d6b459)
  assert.equal(MT_ID.ping, 0x7abe77ec)
  assert.equal(API_ID.invokeWithLayer, 0xda9b0d0d)
  assert.equal(API_ID['help.getConfig'], defaultRegistry.idOf('help.getConfig'))
})

test('parseManualEntries: only commented definitions with an id marked "parsed manually", ids checked', () => {
  const text = [
    '//msg_container#73f1f8dc messages:vector<message> = MessageContainer; // parsed manually',
    '//message msg_id:long seqno:int bytes:int body:Object = Message; // parsed manually',
    '//ipPort ipv4:int port:int = IpPort;',
  ].join('\n')
  assert.deepEqual(parseManualEntries(text).map((e) => [e.name, e.id]), [['msg_container', 0x73f1f8dc]])
  assert.throws(
    () => parseManualEntries('//msg_container#73f1f8dd messages:vector<message> = MessageContainer; // parsed manually'),
    /hashes to #73f1f8dc/,
  )
})
