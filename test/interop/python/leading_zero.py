"""
Drives one Python Telegram client from PyPI against our server: the library's own auth-key
exchange, then help.getNearestDc through its own encrypted session. Prints one JSON line.

    python3 leading_zero.py telethon|pyrogram '{...common.py config..., "b"}'

b (hex) is the client's DH secret: the first os.urandom(256) call returns it (both libraries read
their secret b as urandom(256) big-endian), every other call gets real randomness. Besides what
common.py injects (address, RSA key), only that randomness is changed.
"""
import os
import sys

import common


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


def nearest_json(nearest):
    return {'type': type(nearest).__name__, 'this_dc': nearest.this_dc, 'nearest_dc': nearest.nearest_dc}


async def run_telethon(cfg, out):
    import telethon
    from telethon import functions

    draws = Draws(bytes.fromhex(cfg['b']))
    # telethon.network.authenticator draws b as os.urandom(256) through the os module.
    os.urandom = draws
    client = common.telethon_client(cfg)
    out['version'] = telethon.__version__
    try:
        await client.connect()
        nearest = await client(functions.help.GetNearestDcRequest())
        out['auth_key'] = client.session.auth_key.key.hex()
        out['rpc'] = nearest_json(nearest)
    finally:
        out['draws256'] = draws.draws256
        await client.disconnect()


async def run_pyrogram(cfg, out):
    import pyrogram
    from pyrogram import raw
    from pyrogram.session import auth as auth_module

    draws = Draws(bytes.fromhex(cfg['b']))
    # pyrogram.session.auth does `from os import urandom` and draws b as urandom(256).
    auth_module.urandom = draws
    client = await common.pyrogram_client(cfg)
    out['version'] = pyrogram.__version__
    session = None
    try:
        session = await common.pyrogram_keyed_session(client, cfg, out)
        nearest = await session.invoke(raw.functions.help.GetNearestDc(), retries=1, timeout=10)
        out['rpc'] = nearest_json(nearest)
    finally:
        out['draws256'] = draws.draws256
        if session is not None:
            await session.stop()
        await client.storage.close()


if __name__ == '__main__':
    sys.exit(common.main({'telethon': run_telethon, 'pyrogram': run_pyrogram}))
