"""The methods of the example backend (examples/README.md, "What it implements"), free of gRPC:
`Api.handle` takes the caller's user id (0 = none), the key the call acts for, the method name and
the boxed query, and returns an Answer."""

import re
import secrets
import time
from dataclasses import dataclass, field

import tl
from state import access_hash, deliver

LOGIN_CODE = '12345'


@dataclass
class Push:
    """One Mtgate.Push: `updates` to the sessions of `user_id`, except those of `except_auth_key_id`."""
    user_id: int
    updates: bytes
    except_auth_key_id: int = 0


@dataclass
class Answer:
    result: bytes = None
    error: tuple = None  # (code, message)
    bind_user_id: int = 0
    unbind_user: bool = False
    pushes: list = field(default_factory=list)  # Push, sent after the answer


class RpcError(Exception):
    def __init__(self, code, message):
        super().__init__(f'{code} {message}')
        self.code = code
        self.message = message


AUTH_KEY_UNREGISTERED = RpcError(401, 'AUTH_KEY_UNREGISTERED')
USER_ID_INVALID = RpcError(400, 'USER_ID_INVALID')
PEER_ID_INVALID = RpcError(400, 'PEER_ID_INVALID')


# The app config: client settings in the shape of Telegram's own (the same as examples/go/appconfig.go).
APP_CONFIG_HASH = 0x6D746761
APP_CONFIG_ENTRIES = [
    ('test', 1.0),
    ('emojies_animated_zoom', 0.625),
    ('emojies_send_dice', ['🎲', '🎯', '🏀', '⚽', '🎰', '🎳']),
    ('emojies_sounds_version', 2.0),
    ('gif_search_branding', 'tenor'),
    ('gif_search_emojies', ['👍', '😘', '😍', '😡', '🥳', '😂', '😮', '🙄', '😎', '👎']),
    ('stickers_emoji_suggest_only_api', False),
    ('stickers_emoji_cache_time', 86400.0),
    ('groupcall_video_participants_max', 1000.0),
    ('youtube_pip', 'inapp'),
    ('qr_login_camera', False),
    ('qr_login_code', 'disabled'),
    ('dialog_filters_enabled', True),
    ('dialog_filters_tooltip', False),
    ('ignore_restriction_reasons', []),
    ('autoarchive_setting_available', False),
    ('pending_suggestions', ['VALIDATE_PASSWORD', 'SETUP_PASSWORD']),
    ('autologin_token', '0123456789abcdef0123456789abcdef'),
    ('autologin_domains', ['instantview.example.org', 'translations.example.org']),
    ('url_auth_domains', ['example.org']),
    ('round_video_encoding', '480p'),
    ('chat_read_mark_size_threshold', 100.0),
    ('chat_read_mark_expire_period', 604800.0),
    ('pm_read_date_expire_period', 604800.0),
    ('reactions_uniq_max', 11.0),
    ('reactions_default', '👍'),
    ('upload_max_fileparts_default', 4000.0),
    ('upload_max_fileparts_premium', 8000.0),
    ('caption_length_limit_default', 1024.0),
    ('channels_limit_default', 500.0),
    ('saved_gifs_limit_default', 200.0),
    ('stickers_faved_limit_default', 5.0),
    ('dialog_filters_limit_default', 10.0),
    ('about_length_limit_default', 70.0),
    ('message_animated_emoji_max', 100.0),
    ('stories_all_hidden', False),
    ('stories_posting', 'enabled'),
    ('stories_entities', 'premium'),
    ('story_expiring_limit_default', 3.0),
    ('premium_purchase_blocked', True),
    ('premium_bot_username', 'PremiumBot'),
    ('default_emoji_statuses_stickerset_id', '773947703670341676'),
]
# The answer to every help.getAppConfig (whatever hash the client sends), serialised once.
APP_CONFIG = tl.app_config(APP_CONFIG_HASH, APP_CONFIG_ENTRIES)


def now():
    return int(time.time())


def digits(phone):
    """The phone number as the backend keys it (and `user.phone` carries it): its digits."""
    return re.sub(r'\D', '', phone)


class Api:
    def __init__(self, state):
        self.state = state

    def handle(self, user_id, perm_auth_key_id, method, query):
        """help.getAppConfig is the same for everyone; a method outside METHODS is
        INPUT_METHOD_INVALID whoever calls it (a 401 would tell a client that is not signed in yet
        that its key is gone); one in METHODS is 401 AUTH_KEY_UNREGISTERED on a key with no user."""
        if method == 'help.getAppConfig':
            # reads no state
            return Answer(result=APP_CONFIG)
        try:
            with self.state.lock:
                if method == 'auth.sendCode':
                    return self.send_code(tl.read_query(query))
                if method == 'auth.signIn':
                    return self.sign_in(tl.read_query(query))
                handler = self.METHODS.get(method)
                if handler is None:
                    raise RpcError(400, 'INPUT_METHOD_INVALID')
                caller = self.state.user(user_id) if user_id != 0 else None
                if caller is None:
                    raise AUTH_KEY_UNREGISTERED
                return handler(self, caller, tl.read_query(query), perm_auth_key_id)
        except RpcError as e:
            return Answer(error=(e.code, e.message))
        except tl.TlError:
            return Answer(error=(400, 'INPUT_REQUEST_INVALID'))

    def view(self, user, viewer):
        """A stored user as `viewer` sees it: `self` and the phone number for the user itself."""
        me = user['id'] == viewer['id']
        return {'id': user['id'], 'access_hash': access_hash(user['id']), 'first_name': user['first_name'], 'phone': user['phone'] if me else None, 'self': me}

    def input_user(self, caller, iu):
        """The stored user an InputUser names: None for an unknown id, USER_ID_INVALID for a wrong
        access_hash or another kind of InputUser."""
        if iu['_'] == 'inputUserSelf':
            return caller
        if iu['_'] == 'inputUser':
            u = self.state.user(iu['user_id'])
            if u is not None and iu['access_hash'] != access_hash(u['id']):
                raise USER_ID_INVALID
            return u
        raise USER_ID_INVALID

    def send_code(self, q):
        phone = digits(q['phone_number'])
        if not phone:
            raise RpcError(400, 'PHONE_NUMBER_INVALID')
        code_hash = secrets.token_hex(8)
        self.state.codes[phone] = code_hash
        self.state.save()
        return Answer(result=tl.sent_code(code_hash, len(LOGIN_CODE)))

    def sign_in(self, q):
        """auth.authorization, and the key bound to the user (made on its first sign-in)."""
        phone = digits(q['phone_number'])
        if self.state.codes.get(phone) != q['phone_code_hash']:
            raise RpcError(400, 'PHONE_CODE_EXPIRED')
        if q['phone_code'] != LOGIN_CODE:
            raise RpcError(400, 'PHONE_CODE_INVALID')
        del self.state.codes[phone]
        user = self.state.user_by_phone(phone) or self.state.add_user(phone)
        self.state.save()
        return Answer(result=tl.authorization(self.view(user, user)), bind_user_id=user['id'])

    def log_out(self, _caller, _q, _key):
        return Answer(result=tl.logged_out(), unbind_user=True)

    def get_users(self, caller, q, _key):
        found = [self.input_user(caller, iu) for iu in q['id']]
        return Answer(result=tl.users_vector([self.view(u, caller) for u in found if u is not None]))

    def get_full_user(self, caller, q, _key):
        user = self.input_user(caller, q['id'])
        if user is None:
            raise USER_ID_INVALID
        return Answer(result=tl.user_full(self.view(user, caller)))

    def get_state(self, caller, _q, _key):
        return Answer(result=tl.state(caller['pts'], now()))

    def get_difference(self, caller, q, _key):
        """The caller's box messages after the client's pts, with their users (the caller first)."""
        messages = [m for m in caller['messages'] if m['pts'] > q['pts']]
        if not messages:
            return Answer(result=tl.difference_empty(now()))
        ids = [caller['id']]
        for m in messages:
            for i in (m['from'], m['peer']):
                if i not in ids and self.state.user(i) is not None:
                    ids.append(i)
        users = [self.view(self.state.user(i), caller) for i in ids]
        return Answer(result=tl.difference(messages, users, caller['pts'], now()))

    def send_message(self, caller, q, perm_auth_key_id):
        """Stores the message in both boxes (one for a message to oneself), answers the sender
        updateShortSentMessage and pushes updateShortMessage to the recipient's sessions (for a
        message to oneself: those of the user's other keys)."""
        peer = q['peer']
        if peer['_'] == 'inputPeerSelf':
            to = caller
        elif peer['_'] == 'inputPeerUser':
            to = self.state.user(peer['user_id'])
            if to is None or peer['access_hash'] != access_hash(to['id']):
                raise PEER_ID_INVALID
        else:
            raise PEER_ID_INVALID
        if q['message'] == '':
            raise RpcError(400, 'MESSAGE_EMPTY')
        date = now()
        sent = deliver(caller, True, caller['id'], to['id'], q['message'], date)
        got = sent if to is caller else deliver(to, False, caller['id'], caller['id'], q['message'], date)
        self.state.save()
        push = Push(to['id'], tl.update_short_message(got), perm_auth_key_id if to is caller else 0)
        return Answer(result=tl.update_short_sent_message(sent['id'], sent['pts'], date), pushes=[push])

    def update_status(self, _caller, _q, _key):
        return Answer(result=tl.bool_true())

    METHODS = {
        'auth.logOut': log_out,
        'users.getUsers': get_users,
        'users.getFullUser': get_full_user,
        'updates.getState': get_state,
        'updates.getDifference': get_difference,
        'messages.sendMessage': send_message,
        'account.updateStatus': update_status,
    }
