"""
One Python Telegram client from PyPI over one of its TCP transports against our server, through
the library's own classes: a new auth key (the library's exchange), help.getConfig in the
library's own layer, a bare ping, then a reconnect on the same auth key (disconnect, connect
again) and help.getNearestDc on it. Prints one JSON line; each step's result is written as soon
as it is known, so a failure still shows the steps before it.

    python3 scenarios.py telethon|pyrogram '{...common.py config..., "transport", "ping_id"}'

transport is a class name: Telethon's telethon.network.connection.Connection* (or
common.HTTP_FIXED), passed as TelegramClient(connection=...); Kurigram's
pyrogram.connection.transport.TCP*, passed as pyrogram.Client(protocol_factory=...). ping_id is decimal (signed 64-bit).
"""
import sys

import common


def seconds(delta):
    """Telethon turns TL dates into datetime (a difference is a timedelta), Pyrogram keeps ints."""
    return int(delta.total_seconds()) if hasattr(delta, 'total_seconds') else delta


def config_json(config):
    return {
        'type': type(config).__name__,
        'this_dc': config.this_dc,
        'dc_options': [{'id': o.id, 'ip': o.ip_address, 'port': o.port} for o in config.dc_options],
        'expires_after': seconds(config.expires - config.date),
    }


def pong_json(pong):
    return {'type': type(pong).__name__, 'ping_id': str(pong.ping_id), 'msg_id': str(pong.msg_id)}


def nearest_json(nearest):
    return {'type': type(nearest).__name__, 'this_dc': nearest.this_dc, 'nearest_dc': nearest.nearest_dc}


async def get_config(call, out):
    """help.getConfig's parsed answer, or the exact exception the library raised on it."""
    try:
        out['config'] = config_json(await call())
    except Exception as e:  # noqa: BLE001 — the test asserts what happened
        out['config_error'] = f'{type(e).__name__}: {e}'


async def run_telethon(cfg, out):
    import telethon
    from telethon import functions
    from telethon.tl.alltlobjects import LAYER

    out.update(version=telethon.__version__, layer=LAYER, transport=cfg['transport'])
    client = common.telethon_client(cfg, connection=common.telethon_connection(cfg['transport']))
    try:
        # connect(): the exchange, then invokeWithLayer(initConnection(help.getConfig)) and get_me.
        await client.connect()
        out['auth_key'] = client.session.auth_key.key.hex()
        await get_config(lambda: client(functions.help.GetConfigRequest()), out)
        out['pong'] = pong_json(await client(functions.PingRequest(ping_id=int(cfg['ping_id']))))
        await client.disconnect()
        await client.connect()
        nearest = await client(functions.help.GetNearestDcRequest())
        out['reconnect'] = {'auth_key': client.session.auth_key.key.hex(), 'nearest': nearest_json(nearest)}
    finally:
        await client.disconnect()


async def run_pyrogram(cfg, out):
    import pyrogram
    from pyrogram import raw
    from pyrogram.connection import transport
    from pyrogram.raw.all import layer

    out.update(version=pyrogram.__version__, layer=layer, transport=cfg['transport'])
    client = await common.pyrogram_client(cfg, protocol_factory=getattr(transport, cfg['transport']))
    session = None
    try:
        session = await common.pyrogram_keyed_session(client, cfg, out)
        invoke = session.invoke
        await get_config(lambda: invoke(raw.functions.help.GetConfig(), retries=1, timeout=10), out)
        out['pong'] = pong_json(await invoke(raw.functions.Ping(ping_id=int(cfg['ping_id'])), retries=1, timeout=10))
        await session.stop()
        await common.pyrogram_start(session)
        nearest = await invoke(raw.functions.help.GetNearestDc(), retries=1, timeout=10)
        out['reconnect'] = {'auth_key': session.auth_key.hex(), 'nearest': nearest_json(nearest)}
    finally:
        if session is not None:
            await session.stop()
        await client.storage.close()


if __name__ == '__main__':
    sys.exit(common.main({'telethon': run_telethon, 'pyrogram': run_pyrogram}))
