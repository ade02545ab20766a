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
    """users: {str(id): {id, phone, first_name, last_name, pts}}; messages: [{id, from_id, to_id,
    message, date, pts: {str(user id): that user's pts after the message}}]; codes: {phone: hash}.
    Callers hold `lock` around a read-modify-save."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.RLock()
        self.users = {}
        self.messages = []
        self.codes = {}
        self.next_user_id = FIRST_USER_ID
        self.next_message_id = 1
        if os.path.exists(path):
            with open(path, encoding='utf-8') as f:
                d = json.load(f)
            self.users = d['users']
            self.messages = d['messages']
            self.codes = d['codes']
            self.next_user_id = d['next_user_id']
            self.next_message_id = d['next_message_id']

    def save(self):
        d = {
            'users': self.users,
            'messages': self.messages,
            'codes': self.codes,
            'next_user_id': self.next_user_id,
            'next_message_id': self.next_message_id,
        }
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
        u = {'id': uid, 'phone': phone, 'first_name': 'User', 'last_name': str(uid), 'pts': 0}
        self.users[str(uid)] = u
        return u

    def add_message(self, from_id, to_id, text, date):
        """Stores a message, bumps the pts of both users (once for a message to oneself)."""
        mid = self.next_message_id
        self.next_message_id += 1
        pts = {}
        for uid in {from_id, to_id}:
            u = self.users[str(uid)]
            u['pts'] += 1
            pts[str(uid)] = u['pts']
        m = {'id': mid, 'from_id': from_id, 'to_id': to_id, 'message': text, 'date': date, 'pts': pts}
        self.messages.append(m)
        return m

    def messages_after(self, user_id, pts):
        """The user's messages whose pts (for that user) is above `pts`, oldest first."""
        key = str(user_id)
        return [m for m in self.messages if m['pts'].get(key, 0) > pts]
