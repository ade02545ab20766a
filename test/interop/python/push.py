"""
One Python Telegram client receiving a server push in its own update handler, through the
library's own classes: it connects (a new auth key), registers a raw update handler, tells the
server it is online (account.updateStatus(offline=False), whose handler in the test ties the key to
a user), prints a progress line {"ready": true}, then waits up to push_wait seconds for an
updateNewMessage whose text is push_text. Prints one JSON line at the end with every update the
handler saw (received: class name, message class name and constructor id, text).

    python3 push.py telethon|pyrogram '{...common.py config..., "push_text", "push_wait"}'

Telethon also takes "transport" (a class name for common.telethon_connection; default its TCP
default) and "http_wait_ms": over HTTP it sends no request while idle, so before reporting ready it
sends http_wait with that max_wait (common.telethon_long_poll), the request the push answers.

Telethon (1.25 as Debian packages it, or 1.45 from PyPI): TelegramClient with receive_updates on;
its connect() asks for itself (get_me), which the test answers with 401, so the MessageBox has no
state and takes the first pts it sees as is (no updates.getState); events.Raw gets the update.
Kurigram: its Session on a new key, the client's dispatcher started (Client.handle_updates hands an
`updates`' updates to the dispatcher with its users and chats, no pts check) and a
RawUpdateHandler added; the dispatcher parses the message's chat before any handler runs.
"""
import asyncio
import json
import sys

import common


def update_json(update):
    message = getattr(update, 'message', None)
    out = {'update': type(update).__name__}
    if message is not None and not isinstance(message, str):
        # Telethon's TLObjects carry CONSTRUCTOR_ID, Pyrogram's raw ones ID
        ctor = getattr(message, 'CONSTRUCTOR_ID', None) or getattr(message, 'ID', None)
        out.update(message=type(message).__name__, message_ctor=f'{ctor:08x}', text=getattr(message, 'message', None))
    return out


class Inbox:
    """What the handler saw, and an event set when the expected text arrived."""

    def __init__(self, text):
        self.text = text
        self.received = []
        self.arrived = asyncio.Event()

    def add(self, update):
        u = update_json(update)
        self.received.append(u)
        if u.get('text') == self.text:
            self.arrived.set()

    async def wait(self, cfg, out):
        common.emit({'ready': True})
        try:
            await asyncio.wait_for(self.arrived.wait(), cfg['push_wait'])
        finally:
            out['received'] = self.received


async def run_telethon(cfg, out):
    import telethon
    from telethon import events, functions
    from telethon.tl.alltlobjects import LAYER

    out.update(version=telethon.__version__, layer=LAYER, executable=sys.executable)
    inbox = Inbox(cfg['push_text'])
    transport = cfg.get('transport')
    options = {} if transport is None else {'connection': common.telethon_connection(transport)}
    client = common.telethon_client(cfg, receive_updates=True, **options)

    async def on_update(update):
        inbox.add(update)

    client.add_event_handler(on_update, events.Raw)
    try:
        await client.connect()
        out['auth_key'] = client.session.auth_key.key.hex()
        out['status'] = await client(functions.account.UpdateStatusRequest(offline=False))
        if cfg.get('http_wait_ms') is not None:
            common.telethon_long_poll(client, cfg['http_wait_ms'])
        await inbox.wait(cfg, out)
    finally:
        await client.disconnect()


async def run_pyrogram(cfg, out):
    import pyrogram
    from pyrogram import raw
    from pyrogram.handlers import RawUpdateHandler
    from pyrogram.raw.all import layer

    out.update(version=pyrogram.__version__, layer=layer, executable=sys.executable)
    inbox = Inbox(cfg['push_text'])
    client = await common.pyrogram_client(cfg, no_updates=False)

    async def on_update(_client, update, _users, _chats):
        inbox.add(update)

    client.add_handler(RawUpdateHandler(on_update))
    await client.dispatcher.start()
    session = None
    try:
        session = await common.pyrogram_keyed_session(client, cfg, out)
        out['status'] = await session.invoke(raw.functions.account.UpdateStatus(offline=False), retries=1, timeout=10)
        await inbox.wait(cfg, out)
    finally:
        if session is not None:
            await session.stop()
        await client.dispatcher.stop()
        await client.storage.close()


if __name__ == '__main__':
    sys.exit(common.main({'telethon': run_telethon, 'pyrogram': run_pyrogram}))
