"""
Telethon as Debian packages it (python3-telethon, run by Debian's /usr/bin/python3) over one of its
TCP transports against our server: its own auth-key exchange and connect(), then a bare ping and
an explicit help.getConfig on the same connection. Prints one JSON line; each step's result is
written as soon as it is known, so a failure still shows the steps before it.

    /usr/bin/python3 telethon_debian.py telethon '{...common.py config..., "transport", "ping_id"}'

connect() sends invokeWithLayer(LAYER, initConnection(help.getConfig)) and then asks for itself
(get_me). An exception raised by connect() or by help.getConfig is recorded (connect_error,
config_error) with the constructor id Telethon could not read, if that is the cause; the run goes
on as long as the connection is up.
"""
import sys

import common
from scenarios import config_json, pong_json


def failure(e):
    """An exception as JSON: its type and text, and the unknown constructor id of a TypeNotFoundError."""
    out = {'type': type(e).__name__, 'message': str(e)}
    if hasattr(e, 'invalid_constructor_id'):
        out['constructor'] = f'{e.invalid_constructor_id:08x}'
    return out


async def run_telethon(cfg, out):
    import telethon
    from telethon import functions
    from telethon.network import connection
    from telethon.tl.alltlobjects import LAYER

    out.update(version=telethon.__version__, layer=LAYER, transport=cfg['transport'], executable=sys.executable)
    client = common.telethon_client(cfg, connection=getattr(connection, cfg['transport']))
    try:
        try:
            await client.connect()
        except Exception as e:  # noqa: BLE001 — the test asserts what happened
            out['connect_error'] = failure(e)
        out['connected'] = client.is_connected()
        # connect() stores the exchange's key in the session before its first request
        key = client.session.auth_key
        if key is not None and key.key is not None:
            out['auth_key'] = key.key.hex()
        out['pong'] = pong_json(await client(functions.PingRequest(ping_id=int(cfg['ping_id']))))
        try:
            out['config'] = config_json(await client(functions.help.GetConfigRequest()))
        except Exception as e:  # noqa: BLE001 — the test asserts what happened
            out['config_error'] = failure(e)
    finally:
        await client.disconnect()


if __name__ == '__main__':
    sys.exit(common.main({'telethon': run_telethon}))
