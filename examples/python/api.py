"""The methods of the example backend (examples/README.md, "What it implements"), free of gRPC:
`handle` takes the caller's user id (0 = none) and the boxed query, and returns an Answer."""

import secrets
import time
from dataclasses import dataclass, field

import tl
from state import access_hash

LOGIN_CODE = '12345'

# Methods answered to a key with no user; every other one is 401 AUTH_KEY_UNREGISTERED there.
NO_USER_NEEDED = ('auth.sendCode', 'auth.signIn')


@dataclass
class Answer:
    result: bytes = None
    error: tuple = None  # (code, message)
    bind_user_id: int = 0
    unbind_user: bool = False
    # (user_id, boxed Updates) to send through Mtgate.Push after the answer
    pushes: list = field(default_factory=list)


class RpcError(Exception):
    def __init__(self, code, message):
        super().__init__(f'{code} {message}')
        self.code = code
        self.message = message


def now():
    return int(time.time())


class Api:
    def __init__(self, state):
        self.state = state

    def handle(self, user_id, method, query):
        handler = getattr(self, 'm_' + method.replace('.', '_'), None)
        if handler is None:
            return Answer(error=(400, 'INPUT_METHOD_INVALID'))
        if user_id == 0 and method not in NO_USER_NEEDED:
            return Answer(error=(401, 'AUTH_KEY_UNREGISTERED'))
        try:
            q = tl.read_query(query)
            with self.state.lock:
                return handler(user_id, q)
        except RpcError as e:
            return Answer(error=(e.code, e.message))
        except tl.TlError:
            return Answer(error=(400, 'INPUT_REQUEST_INVALID'))

    # --- helpers ----------------------------------------------------------------------------------

    def view(self, user, caller_id):
        """A stored user as the `user` constructor's fields, `self` set for the caller."""
        return dict(user, access_hash=access_hash(user['id']), self=user['id'] == caller_id)

    def named_user(self, caller_id, input_user, missing):
        """The stored user an InputUser names; `missing(user_id)` decides what an unknown id is."""
        kind = input_user['_']
        if kind == 'inputUserSelf':
            return self.state.user(caller_id)
        if kind == 'inputUser':
            u = self.state.user(input_user['user_id'])
            if u is None:
                return missing(input_user['user_id'])
            if input_user['access_hash'] != access_hash(u['id']):
                raise RpcError(400, 'USER_ID_INVALID')
            return u
        raise RpcError(400, 'USER_ID_INVALID')

    # --- methods ----------------------------------------------------------------------------------

    def m_auth_sendCode(self, _user_id, q):
        code_hash = secrets.token_hex(8)
        self.state.codes[q['phone_number']] = code_hash
        self.state.save()
        return Answer(result=tl.sent_code(code_hash))

    def m_auth_signIn(self, _user_id, q):
        phone = q['phone_number']
        if self.state.codes.get(phone) != q['phone_code_hash']:
            raise RpcError(400, 'PHONE_CODE_EXPIRED')
        if q['phone_code'] != LOGIN_CODE:
            raise RpcError(400, 'PHONE_CODE_INVALID')
        del self.state.codes[phone]
        user = self.state.user_by_phone(phone) or self.state.add_user(phone)
        self.state.save()
        return Answer(result=tl.authorization(self.view(user, user['id'])), bind_user_id=user['id'])

    def m_auth_logOut(self, _user_id, _q):
        return Answer(result=tl.logged_out(), unbind_user=True)

    def m_users_getUsers(self, user_id, q):
        found = [self.named_user(user_id, iu, lambda _id: None) for iu in q['id']]
        return Answer(result=tl.users_vector([self.view(u, user_id) for u in found if u is not None]))

    def m_users_getFullUser(self, user_id, q):
        def missing(_id):
            raise RpcError(400, 'USER_ID_INVALID')

        user = self.named_user(user_id, q['id'], missing)
        return Answer(result=tl.user_full(self.view(user, user_id)))

    def m_updates_getState(self, user_id, _q):
        return Answer(result=tl.state(self.state.user(user_id)['pts'], now()))

    def m_updates_getDifference(self, user_id, q):
        messages = self.state.messages_after(user_id, q['pts'])
        if not messages:
            return Answer(result=tl.difference_empty(now()))
        me = self.state.user(user_id)
        peers = {m['from_id'] for m in messages} | {m['to_id'] for m in messages} | {user_id}
        users = [self.view(self.state.user(p), user_id) for p in sorted(peers)]
        seen = [self.seen_by(m, user_id) for m in messages]
        return Answer(result=tl.difference(seen, users, me['pts'], now()))

    def seen_by(self, m, user_id):
        """A stored message as the `message` constructor's fields, from `user_id`'s side."""
        out = m['from_id'] == user_id
        return {'id': m['id'], 'out': out, 'from_id': m['from_id'], 'peer_id': m['to_id'] if out else m['from_id'], 'date': m['date'], 'message': m['message']}

    def m_messages_sendMessage(self, user_id, q):
        peer = q['peer']
        if peer['_'] == 'inputPeerSelf':
            to_id = user_id
        elif peer['_'] == 'inputPeerUser':
            to = self.state.user(peer['user_id'])
            if to is None or peer['access_hash'] != access_hash(to['id']):
                raise RpcError(400, 'PEER_ID_INVALID')
            to_id = to['id']
        else:
            raise RpcError(400, 'PEER_ID_INVALID')
        m = self.state.add_message(user_id, to_id, q['message'], now())
        self.state.save()
        own = to_id == user_id
        push = tl.update_short_message(m['id'], user_id, m['message'], m['pts'][str(to_id)], m['date'], out=own)
        sent = tl.update_short_sent_message(m['id'], m['pts'][str(user_id)], m['date'])
        return Answer(result=sent, pushes=[(to_id, push)])

    def m_account_updateStatus(self, _user_id, _q):
        return Answer(result=tl.bool_true())
