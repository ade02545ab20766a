/**
 * A realistic corpus of newest-layer objects (as our codec represents them) for differential tests and
 * the benchmark: config, messages with flags2 and entities, users, an updates burst, a
 * messages.messages page and typical requests.
 */
import type { TlObjectByName, TlObject } from '../../src/tl/index.js'

type O<N extends keyof TlObjectByName> = TlObjectByName[N]

function seq(seed: number) {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s
  }
}

const NAMES = ['Alice', 'Bob', 'Carol', 'Dmitry', 'Élodie', 'Fang', 'Giulia', 'Håkon', 'Ivan', 'Jürgen']
const TEXTS = [
  'hello there',
  'See https://example.org/page?id=42 for details',
  'Привет, как дела? Встречаемся в 18:00 у входа.',
  'ok 👍',
  'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.',
  '@bob check #release notes and /start the bot',
]

export function dcOptions(): O<'dcOption'>[] {
  const out: O<'dcOption'>[] = []
  for (let id = 1; id <= 5; id++) {
    out.push({ _: 'dcOption', id, ip_address: `149.154.167.${40 + id}`, port: 443 })
    out.push({ _: 'dcOption', ipv6: true, id, ip_address: `2001:67c:4e8:f00${id}::a`, port: 443 })
    out.push({ _: 'dcOption', media_only: true, id, ip_address: `149.154.165.${100 + id}`, port: 443, secret: Buffer.alloc(16, id) })
  }
  return out
}

export function config(): O<'config'> {
  return {
    _: 'config',
    default_p2p_contacts: true,
    revoke_pm_inbox: true,
    date: 1764000000,
    expires: 1764003600,
    test_mode: false,
    this_dc: 2,
    dc_options: dcOptions(),
    dc_txt_domain_name: 'apv3.stel.com',
    chat_size_max: 200,
    megagroup_size_max: 200000,
    forwarded_count_max: 100,
    online_update_period_ms: 210000,
    offline_blur_timeout_ms: 5000,
    offline_idle_timeout_ms: 30000,
    online_cloud_timeout_ms: 300000,
    notify_cloud_delay_ms: 30000,
    notify_default_delay_ms: 1500,
    push_chat_period_ms: 60000,
    push_chat_limit: 2,
    edit_time_limit: 172800,
    revoke_time_limit: 2147483647,
    revoke_pm_time_limit: 2147483647,
    rating_e_decay: 2419200,
    stickers_recent_limit: 200,
    channels_read_media_period: 604800,
    tmp_sessions: 3,
    call_receive_timeout_ms: 20000,
    call_ring_timeout_ms: 90000,
    call_connect_timeout_ms: 30000,
    call_packet_timeout_ms: 10000,
    me_url_prefix: 'https://t.me/',
    autoupdate_url_prefix: 'https://example.org/update/',
    gif_search_username: 'gif',
    venue_search_username: 'foursquare',
    img_search_username: 'bing',
    caption_length_max: 1024,
    message_length_max: 4096,
    webfile_dc_id: 4,
    suggested_lang_code: 'en',
    lang_pack_version: 7,
    base_lang_pack_version: 3,
    reactions_default: { _: 'reactionEmoji', emoticon: '👍' },
  }
}

export function user(i: number): O<'user'> {
  const name = NAMES[i % NAMES.length]!
  return {
    _: 'user',
    contact: i % 3 === 0,
    mutual_contact: i % 6 === 0,
    premium: i % 4 === 0,
    id: 100000n + BigInt(i),
    access_hash: -0x1234567890abcdefn + BigInt(i) * 7919n,
    first_name: name,
    last_name: i % 2 ? 'Smith' : undefined,
    username: `${name.toLowerCase()}_${i}`,
    phone: i % 3 === 0 ? `7999000${String(i).padStart(4, '0')}` : undefined,
    photo: { _: 'userProfilePhoto', photo_id: 5000000000n + BigInt(i), stripped_thumb: Buffer.alloc(40, i), dc_id: 2 },
    status: i % 2 ? { _: 'userStatusOnline', expires: 1764000300 } : { _: 'userStatusRecently' },
    lang_code: 'en',
    emoji_status: i % 5 === 0 ? { _: 'emojiStatus', document_id: 5368324170671202286n } : undefined,
    usernames: i % 7 === 0 ? [{ _: 'username', editable: true, active: true, username: `alt_${i}` }] : undefined,
    color: { _: 'peerColor', color: i % 7 },
  }
}

export function chat(i: number): O<'channel'> {
  return {
    _: 'channel',
    megagroup: true,
    id: 1700000000n + BigInt(i),
    access_hash: 0x7777777777n * BigInt(i + 1),
    title: `Group number ${i}`,
    username: i % 2 ? `group_${i}` : undefined,
    photo: { _: 'chatPhotoEmpty' },
    date: 1700000000 + i,
    participants_count: 1000 + i,
    level: 3,
  }
}

export function message(i: number, rnd = seq(i + 1)): O<'message'> {
  const text = TEXTS[i % TEXTS.length]!
  const entities: O<'messageEntityBold'>[] = []
  if (i % 2 === 0) entities.push({ _: 'messageEntityBold', offset: 0, length: 5 })
  const m: O<'message'> = {
    _: 'message',
    out: i % 3 === 0,
    silent: i % 11 === 0,
    id: 10000 + i,
    from_id: { _: 'peerUser', user_id: 100000n + BigInt(i % 50) },
    peer_id: { _: 'peerChannel', channel_id: 1700000001n },
    date: 1764000000 + i * 17,
    message: text,
    entities: [
      ...entities,
      { _: 'messageEntityTextUrl', offset: 0, length: Math.min(4, text.length), url: 'https://example.org/' },
      { _: 'messageEntityMentionName', offset: 0, length: 2, user_id: 100001n },
    ],
    views: 100 + (rnd() % 1000),
    forwards: rnd() % 10,
    edit_date: i % 4 === 0 ? 1764000500 + i : undefined,
    reactions:
      i % 3 === 0
        ? {
            _: 'messageReactions',
            results: [
              { _: 'reactionCount', reaction: { _: 'reactionEmoji', emoticon: '❤' }, count: 3 + (i % 5) },
              { _: 'reactionCount', chosen_order: 1, reaction: { _: 'reactionEmoji', emoticon: '🔥' }, count: 1 },
            ],
          }
        : undefined,
    // flags2 fields
    offline: i % 5 === 0,
    via_business_bot_id: i % 10 === 0 ? 777000n : undefined,
    effect: i % 9 === 0 ? 5046509860389126442n : undefined,
    paid_message_stars: i % 13 === 0 ? 25n : undefined,
  }
  if (i % 4 === 1) m.reply_to = { _: 'messageReplyHeader', reply_to_msg_id: 10000 + i - 1 }
  if (i % 7 === 2) {
    m.media = {
      _: 'messageMediaPhoto',
      photo: {
        _: 'photo',
        id: 6000000000n + BigInt(i),
        access_hash: 99n * BigInt(i + 1),
        file_reference: Buffer.alloc(24, i & 0xff),
        date: 1764000000,
        sizes: [
          { _: 'photoStrippedSize', type: 'i', bytes: Buffer.alloc(60, 3) },
          { _: 'photoSize', type: 'm', w: 320, h: 240, size: 15000 },
          { _: 'photoSizeProgressive', type: 'y', w: 1280, h: 960, sizes: [10000, 40000, 90000, 120000] },
        ],
        dc_id: 2,
      },
    }
  }
  return m
}

export function messagesMessages(n = 100, users = 50): O<'messages.messages'> {
  return {
    _: 'messages.messages',
    messages: Array.from({ length: n }, (_, i) => message(i)),
    topics: [],
    chats: Array.from({ length: 3 }, (_, i) => chat(i)),
    users: Array.from({ length: users }, (_, i) => user(i)),
  }
}

export function updatesBurst(n = 30): O<'updates'> {
  const updates: TlObject[] = []
  for (let i = 0; i < n; i++) {
    updates.push({ _: 'updateNewChannelMessage', message: message(500 + i), pts: 1000 + i, pts_count: 1 })
    if (i % 3 === 0) updates.push({ _: 'updateUserStatus', user_id: 100000n + BigInt(i), status: { _: 'userStatusOnline', expires: 1764000300 + i } })
    if (i % 5 === 0) updates.push({ _: 'updateReadHistoryInbox', peer: { _: 'peerUser', user_id: 100002n }, max_id: 10000 + i, still_unread_count: 0, pts: 2000 + i, pts_count: 1 })
    if (i % 7 === 0) updates.push({ _: 'updateDeleteMessages', messages: [1, 2, 3, i], pts: 3000 + i, pts_count: 4 })
  }
  return {
    _: 'updates',
    updates: updates as O<'updates'>['updates'],
    users: Array.from({ length: 10 }, (_, i) => user(i)),
    chats: [chat(1)],
    date: 1764000000,
    seq: 0,
  }
}

export function initConnectionRequest(layer = 222): O<'invokeWithLayer'> {
  return {
    _: 'invokeWithLayer',
    layer,
    query: {
      _: 'initConnection',
      api_id: 2040,
      device_model: 'Desktop',
      system_version: 'Linux x86_64',
      app_version: '5.0.1 x64',
      system_lang_code: 'en-US',
      lang_pack: 'tdesktop',
      lang_code: 'en',
      params: { _: 'jsonObject', value: [{ _: 'jsonObjectValue', key: 'tz_offset', value: { _: 'jsonNumber', value: 3600 } }] },
      query: { _: 'help.getConfig' },
    },
  }
}

export function sendMessageRequest(): O<'messages.sendMessage'> {
  return {
    _: 'messages.sendMessage',
    silent: true,
    peer: { _: 'inputPeerUser', user_id: 100001n, access_hash: -5n },
    reply_to: { _: 'inputReplyToMessage', reply_to_msg_id: 42 },
    message: 'Hello *world* with a link',
    random_id: -0x0123456789abcdefn,
    reply_markup: {
      _: 'replyKeyboardMarkup',
      resize: true,
      rows: [{ _: 'keyboardButtonRow', buttons: [{ _: 'keyboardButton', text: 'Yes', type: { _: 'buttonTypeDefault' } }, { _: 'keyboardButton', text: 'No', type: { _: 'buttonTypeDefault' } }] }],
    },
    entities: [
      { _: 'messageEntityBold', offset: 6, length: 7 },
      { _: 'messageEntityTextUrl', offset: 21, length: 4, url: 'https://example.org' },
    ],
  }
}

/** Named corpus items (all TlObjects of the default layer). */
export function corpus(): Record<string, TlObject> {
  return {
    'help.getConfig': { _: 'help.getConfig' },
    invokeWithLayer: initConnectionRequest(),
    'messages.sendMessage': sendMessageRequest(),
    config: config(),
    message: message(9),
    user: user(5),
    updates: updatesBurst(10),
    'messages.messages': messagesMessages(20, 10),
  }
}
