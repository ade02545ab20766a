"""TL serialisation of the slice of Telegram's API the example backend implements.

Every value is little-endian; `bytes`/`string` carry a 1-byte length (or 0xfe + 3-byte length from
254 bytes on) and are padded to 4 bytes; a boxed value starts with its constructor id. Constructor
ids are those of mtgate's newest layer (schema/api-229.tl).
"""

import struct

# Constructor ids, as in schema/api-229.tl.
ID = {
    # methods
    'auth.sendCode': 0xA677244F,
    'auth.signIn': 0x8D52A951,
    'auth.logOut': 0x3E72BA19,
    'users.getUsers': 0x0D91A548,
    'users.getFullUser': 0xB60F5918,
    'updates.getState': 0xEDD4882A,
    'updates.getDifference': 0x19C2F763,
    'messages.sendMessage': 0xFEF48F62,
    'account.updateStatus': 0x6628562C,
    'help.getAppConfig': 0x61E3F854,
    # types
    'vector': 0x1CB5C415,
    'boolTrue': 0x997275B5,
    'boolFalse': 0xBC799737,
    'auth.sentCode': 0x5E002502,
    'auth.sentCodeTypeApp': 0x3DBB5986,
    'auth.authorization': 0x2EA2C0D4,
    'auth.loggedOut': 0xC3A2835F,
    'user': 0xB1B8CC83,
    'users.userFull': 0x3B6D152E,
    'userFull': 0x06CBE645,
    'peerSettings': 0xF47741F7,
    'peerNotifySettings': 0x99622C0C,
    'updates.state': 0xA56C2A3E,
    'updates.difference': 0x00F49CA0,
    'updates.differenceEmpty': 0x5D75A138,
    'message': 0x7600B9D3,
    'peerUser': 0x59511722,
    'updateShortSentMessage': 0x9015E101,
    'updateShortMessage': 0x313BC7F8,
    'inputUserEmpty': 0xB98886CF,
    'inputUserSelf': 0xF7C1B13F,
    'inputUser': 0xF21158C6,
    'inputPeerEmpty': 0x7F3B18EA,
    'inputPeerSelf': 0x7DA07EC9,
    'inputPeerUser': 0xDDE8A54C,
    'help.appConfig': 0xDD18782E,
    'jsonObject': 0x99C1D49D,
    'jsonObjectValue': 0xC0DE1BD9,
    'jsonNumber': 0x2BE0DFA4,
    'jsonString': 0xB71E767A,
    'jsonBool': 0xC7345E6A,
    'jsonArray': 0xF7444763,
}
NAME = {v: k for k, v in ID.items()}


class TlError(Exception):
    """Bytes that are not what the slice expects (a truncated query, an unknown constructor)."""


class Writer:
    def __init__(self):
        self.buf = bytearray()

    def id(self, name):
        return self.uint(ID[name])

    def uint(self, v):
        self.buf += struct.pack('<I', v)
        return self

    def int(self, v):
        self.buf += struct.pack('<i', v)
        return self

    def long(self, v):
        self.buf += struct.pack('<q', v)
        return self

    def double(self, v):
        self.buf += struct.pack('<d', v)
        return self

    def bytes(self, b):
        n = len(b)
        head = bytes([n]) if n < 254 else b'\xfe' + struct.pack('<I', n)[:3]
        body = head + b
        self.buf += body + b'\x00' * (-len(body) % 4)
        return self

    def string(self, s):
        return self.bytes(s.encode('utf-8'))

    def bool(self, v):
        return self.id('boolTrue' if v else 'boolFalse')

    def vector(self, items, write_item):
        """A boxed Vector: `write_item(writer, item)` writes each element."""
        self.id('vector').int(len(items))
        for item in items:
            write_item(self, item)
        return self

    def done(self):
        return bytes(self.buf)


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise TlError('truncated')
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def uint(self):
        return struct.unpack('<I', self.take(4))[0]

    def int(self):
        return struct.unpack('<i', self.take(4))[0]

    def long(self):
        return struct.unpack('<q', self.take(8))[0]

    def bytes(self):
        n = self.take(1)[0]
        head = 1
        if n == 254:
            n = int.from_bytes(self.take(3), 'little')
            head = 4
        b = self.take(n)
        self.take(-(head + n) % 4)
        return bytes(b)

    def string(self):
        return self.bytes().decode('utf-8')

    def id(self):
        """The constructor name of the next boxed value (TlError when not in the slice)."""
        cid = self.uint()
        if cid not in NAME:
            raise TlError(f'constructor {cid:#010x} is not in the slice')
        return NAME[cid]

    def bool(self):
        name = self.id()
        if name not in ('boolTrue', 'boolFalse'):
            raise TlError(f'{name} is not a Bool')
        return name == 'boolTrue'

    def vector(self, read_item):
        if self.id() != 'vector':
            raise TlError('not a vector')
        return [read_item(self) for _ in range(self.int())]


# --- queries: boxed bytes -> dict with '_' = the method name ---------------------------------------

def read_input_user(r):
    """InputUser as a dict: {'_': 'inputUserSelf'} / {'_': 'inputUser', user_id, access_hash} / ..."""
    name = r.id()
    if name == 'inputUser':
        return {'_': name, 'user_id': r.long(), 'access_hash': r.long()}
    if name in ('inputUserSelf', 'inputUserEmpty'):
        return {'_': name}
    raise TlError(f'{name} is not an InputUser of the slice')


def read_input_peer(r):
    name = r.id()
    if name == 'inputPeerUser':
        return {'_': name, 'user_id': r.long(), 'access_hash': r.long()}
    if name in ('inputPeerSelf', 'inputPeerEmpty'):
        return {'_': name}
    raise TlError(f'{name} is not an InputPeer of the slice')


def read_query(data):
    """The method of a boxed query and the fields the backend uses (trailing fields it does not use,
    such as auth.sendCode's settings, are left unread)."""
    r = Reader(data)
    name = r.id()
    q = {'_': name}
    if name == 'auth.sendCode':
        q.update(phone_number=r.string(), api_id=r.int(), api_hash=r.string())
    elif name == 'auth.signIn':
        flags = r.uint()
        q.update(phone_number=r.string(), phone_code_hash=r.string())
        q['phone_code'] = r.string() if flags & 1 else None
    elif name == 'users.getUsers':
        q['id'] = r.vector(read_input_user)
    elif name == 'users.getFullUser':
        q['id'] = read_input_user(r)
    elif name == 'updates.getDifference':
        flags = r.uint()
        q['pts'] = r.int()
        if flags & 2:
            q['pts_limit'] = r.int()
        if flags & 1:
            q['pts_total_limit'] = r.int()
        q.update(date=r.int(), qts=r.int())
    elif name == 'messages.sendMessage':
        flags = r.uint()
        q['peer'] = read_input_peer(r)
        if flags & 1:
            raise TlError('reply_to is not in the slice')
        q.update(message=r.string(), random_id=r.long())
    elif name == 'account.updateStatus':
        q['offline'] = r.bool()
    elif name == 'help.getAppConfig':
        q['hash'] = r.int()
    elif name not in ('auth.logOut', 'updates.getState'):
        raise TlError(f'{name} is not a method')
    return q


# --- results: values -> boxed bytes ----------------------------------------------------------------

def write_user(w, u):
    """A `user` from a dict {id, access_hash, first_name, phone, self}; phone None = left out."""
    flags = 1 | 2  # access_hash, first_name
    if u.get('phone') is not None:
        flags |= 1 << 4
    if u.get('self'):
        flags |= 1 << 10
    w.id('user').uint(flags).uint(0).long(u['id']).long(u['access_hash']).string(u['first_name'])
    if u.get('phone') is not None:
        w.string(u['phone'])
    return w


def write_peer_user(w, user_id):
    return w.id('peerUser').long(user_id)


def write_message(w, m):
    """A `message` from a box message {id, out, from, peer, date, text} (state.deliver)."""
    flags = 1 << 8  # from_id
    if m['out']:
        flags |= 2
    w.id('message').uint(flags).uint(0).int(m['id'])
    write_peer_user(w, m['from'])
    write_peer_user(w, m['peer'])
    return w.int(m['date']).string(m['text'])


def write_state(w, pts, date, qts=0, seq=0, unread_count=0):
    return w.id('updates.state').int(pts).int(qts).int(date).int(seq).int(unread_count)


def bool_true():
    return Writer().bool(True).done()


def sent_code(phone_code_hash, length=5):
    return Writer().id('auth.sentCode').uint(0).id('auth.sentCodeTypeApp').int(length).string(phone_code_hash).done()


def authorization(user):
    return write_user(Writer().id('auth.authorization').uint(0), user).done()


def logged_out():
    return Writer().id('auth.loggedOut').uint(0).done()


def users_vector(users):
    return Writer().vector(users, write_user).done()


def user_full(user):
    """users.userFull: the userFull of `user` (nothing optional) and `user` itself."""
    w = Writer().id('users.userFull')
    w.id('userFull').uint(0).uint(0).long(user['id'])
    w.id('peerSettings').uint(0).id('peerNotifySettings').uint(0).int(0)  # settings, notify_settings, common_chats_count
    w.vector([], None).vector([user], write_user)
    return w.done()


def state(pts, date):
    return write_state(Writer(), pts, date).done()


def difference(messages, users, pts, date):
    w = Writer().id('updates.difference').vector(messages, write_message)
    w.vector([], None).vector([], None).vector([], None)  # encrypted messages, other updates, chats
    w.vector(users, write_user)
    return write_state(w, pts, date).done()


def difference_empty(date, seq=0):
    return Writer().id('updates.differenceEmpty').int(date).int(seq).done()


def update_short_sent_message(id, pts, date, pts_count=1):
    return Writer().id('updateShortSentMessage').uint(2).int(id).int(pts).int(pts_count).int(date).done()


def update_short_message(m):
    """The updateShortMessage of a box message (user_id: the other party)."""
    w = Writer().id('updateShortMessage').uint(2 if m['out'] else 0).int(m['id']).long(m['peer'])
    return w.string(m['text']).int(m['pts']).int(1).int(m['date']).done()


def write_json(w, v):
    """A JSONValue of a float, bool, str or list of str (the kinds of the app config)."""
    if isinstance(v, bool):
        return w.id('jsonBool').bool(v)
    if isinstance(v, float):
        return w.id('jsonNumber').double(v)
    if isinstance(v, str):
        return w.id('jsonString').string(v)
    if isinstance(v, list):
        return w.id('jsonArray').vector(v, write_json)
    raise TypeError(f'app config: unsupported value {v!r}')


def app_config(hash, entries):
    """help.appConfig with a jsonObject of (key, value) pairs, in order."""
    w = Writer().id('help.appConfig').int(hash).id('jsonObject').id('vector').int(len(entries))
    for key, value in entries:
        write_json(w.id('jsonObjectValue').string(key), value)
    return w.done()
