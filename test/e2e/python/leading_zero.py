"""
Drives one Python Telegram client from PyPI against our server: the library's own auth-key
exchange, then help.getNearestDc through its own encrypted session. Prints one JSON line.

    python3 leading_zero.py telethon|pyrogram '{"host", "port", "pem", "fingerprint", "modulus", "b", "timeout"}'

fingerprint is decimal, modulus and b are hex. b is the client's DH secret: the first
os.urandom(256) call returns it (both libraries read their secret b as urandom(256) big-endian),
every other call gets real randomness. Nothing else of the library is changed: only our address,
our RSA key and that randomness are injected.

Exit codes: 0 ok, 1 the client failed (error in the JSON), 3 the package is not installed.
"""
import asyncio
import json
import logging
import os
import sys

API_ID = 4
API_HASH = '014b35b6184100b085b0d0572f9b5103'


class Draws:
    """os.urandom, except that the first 256-byte draw is `secret`."""

    def __init__(self, secret, real=os.urandom):
        self.secret = secret
        self.real = real
        self.draws256 = 0

    def __call__(self, n):
        if n == 256:
            self.draws256 += 1
            if self.draws256 == 1:
                return self.secret
        return self.real(n)


class Collect(logging.Handler):
    """Keeps the library's INFO+ log lines (they say what the exchange did)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append(f'{record.levelname} {record.name}: {record.getMessage()}')


def signed64(v):
    return v - (1 << 64) if v >= (1 << 63) else v


async def run_telethon(cfg, draws):
    import telethon
    from telethon import TelegramClient, functions
    from telethon.crypto import rsa
    from telethon.sessions import MemorySession

    # telethon.network.authenticator draws b as os.urandom(256) through the os module.
    os.urandom = draws
    rsa.add_key(cfg['pem'], old=False)
    session = MemorySession()
    session.set_dc(2, cfg['host'], cfg['port'])
    client = TelegramClient(
        session, API_ID, API_HASH,
        connection_retries=5, retry_delay=0.2, request_retries=1, timeout=10,
        auto_reconnect=False, receive_updates=False,
    )
    try:
        await client.connect()
        nearest = await client(functions.help.GetNearestDcRequest())
        return {
            'library': 'telethon',
            'version': telethon.__version__,
            'auth_key': client.session.auth_key.key.hex(),
            'rpc': {'type': type(nearest).__name__, 'this_dc': nearest.this_dc, 'nearest_dc': nearest.nearest_dc},
        }
    finally:
        await client.disconnect()


async def run_pyrogram(cfg, draws):
    import pyrogram
    from pyrogram import raw
    from pyrogram.crypto import rsa
    from pyrogram.session import Auth, Session
    from pyrogram.session import auth as auth_module

    # pyrogram.session.auth does `from os import urandom` and draws b as urandom(256).
    auth_module.urandom = draws
    rsa.server_public_keys[signed64(int(cfg['fingerprint']))] = rsa.PublicKey(int(cfg['modulus'], 16), 65537)
    client = pyrogram.Client('mtgate-e2e', api_id=API_ID, api_hash=API_HASH, in_memory=True, no_updates=True)
    await client.storage.open()
    await client.storage.api_id(API_ID)
    key = await Auth(client, 2, cfg['host'], cfg['port'], False).create()
    session = Session(client, 2, cfg['host'], cfg['port'], key, False)
    try:
        # start(): ping, then invokeWithLayer(initConnection(help.getConfig)) on the new key.
        await session.start()
        if not session.is_started.is_set():
            raise RuntimeError('Session.start() did not complete (it schedules a restart on errors)')
        nearest = await session.invoke(raw.functions.help.GetNearestDc(), retries=1, timeout=10)
        return {
            'library': 'pyrogram',
            'version': pyrogram.__version__,
            'auth_key': key.hex(),
            'rpc': {'type': type(nearest).__name__, 'this_dc': nearest.this_dc, 'nearest_dc': nearest.nearest_dc},
        }
    finally:
        await session.stop()
        await client.storage.close()


def distribution(module):
    from importlib.metadata import packages_distributions
    return ','.join(packages_distributions().get(module, []))


async def main():
    which, cfg = sys.argv[1], json.loads(sys.argv[2])
    module = {'telethon': 'telethon', 'pyrogram': 'pyrogram'}[which]
    out = {'library': which}
    try:
        __import__(module)
    except ImportError as e:
        print(json.dumps({**out, 'missing': module, 'error': f'{type(e).__name__}: {e}'}))
        return 3
    out['distribution'] = distribution(module)
    logs = Collect()
    logging.getLogger(module).addHandler(logs)
    logging.getLogger(module).setLevel(logging.DEBUG if os.environ.get('PY_LOG') else logging.INFO)
    if os.environ.get('PY_LOG'):
        logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)
    draws = Draws(bytes.fromhex(cfg['b']))
    run = run_telethon if which == 'telethon' else run_pyrogram
    code = 0
    try:
        out.update(await asyncio.wait_for(run(cfg, draws), cfg.get('timeout', 30)))
    except BaseException as e:  # noqa: BLE001 — reported in the JSON line
        out['error'] = f'{type(e).__name__}: {e}'
        code = 1
    out['draws256'] = draws.draws256
    out['log'] = logs.lines
    print(json.dumps(out))
    return code


if __name__ == '__main__':
    sys.exit(asyncio.run(main()))
