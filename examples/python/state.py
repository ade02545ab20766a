"""The backend's users, messages and pts counters, kept in a JSON file.

The file is read at start and rewritten after every change (to a temporary file, then renamed over
the old one, so a crash leaves either the old state or the new one, never half of one).
"""

import json
import os
import threading

FIRST_USER_ID = 1000
ACCESS_HASH_FACTOR = 7919


def access_hash(user_id):
    return user_id * ACCESS_HASH_FACTOR


class State:
    """users: {str(id): {id, phone, first_name, pts, last_msg_id, messages}}, where `messages` is the
    user's box: [{id, pts, out, from, peer, text, date}] (message ids and pts of the box's own);
    codes: {phone: phone_code_hash of its pending sign-in}. Callers hold `lock` around a
    read-modify-save."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.RLock()
        self.users = {}
        self.codes = {}
        self.next_user_id = FIRST_USER_ID
        if os.path.exists(path):
            with open(path, encoding='utf-8') as f:
                d = json.load(f)
            self.users = d['users']
            self.codes = d['codes']
            self.next_user_id = d['next_user_id']

    def save(self):
        d = {'next_user_id': self.next_user_id, 'users': self.users, 'codes': self.codes}
        tmp = f'{self.path}.tmp'
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(d, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def user(self, user_id):
        return self.users.get(str(user_id))

    def user_by_phone(self, phone):
        return next((u for u in self.users.values() if u['phone'] == phone), None)

    def add_user(self, phone):
        uid = self.next_user_id
        self.next_user_id += 1
        u = {'id': uid, 'phone': phone, 'first_name': f'User {uid}', 'pts': 0, 'last_msg_id': 0, 'messages': []}
        self.users[str(uid)] = u
        return u


def deliver(user, out, from_id, peer_id, text, date):
    """Puts a message into the user's box: its pts and message id go up by one."""
    user['pts'] += 1
    user['last_msg_id'] += 1
    m = {'id': user['last_msg_id'], 'pts': user['pts'], 'out': out, 'from': from_id, 'peer': peer_id, 'text': text, 'date': date}
    user['messages'].append(m)
    return m
