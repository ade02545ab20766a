"""
One Telethon client (PyPI) moving between transports on one auth key and one MTProto session:
connect() over TCP (the library's exchange; help.getConfig), then the same client, disconnected,
over HTTP (help.getNearestDc and a ping), then over TCP again (help.getNearestDc). Between steps
the client's session (telethon.sessions.MemorySession: DC address and auth key) gets the next
address with set_dc, and the client the next connection class: TelegramClient keeps the class it
was given in `_connection` and builds each connect()'s connection from it. Prints one JSON line
with the auth key after each step and each step's answers.

    python3 transport_switch.py telethon '{...common.py config..., "steps": [{"transport", "port"}, ...], "ping_id"}'

transport is a class name for common.telethon_connection; port is where that step connects.
"""
import sys

import common
from scenarios import config_json, nearest_json, pong_json


async def run_telethon(cfg, out):
    import telethon
    from telethon import functions
    from telethon.tl.alltlobjects import LAYER

    steps = cfg['steps']
    out.update(version=telethon.__version__, layer=LAYER, steps=[])
    client = common.telethon_client(cfg, connection=common.telethon_connection(steps[0]['transport']))
    try:
        for i, step in enumerate(steps):
            if i > 0:
                await client.disconnect()
                client._connection = common.telethon_connection(step['transport'])
            client.session.set_dc(common.DC_ID, cfg['host'], step['port'])
            done = {'transport': step['transport']}
            out['steps'].append(done)
            await client.connect()
            done['auth_key'] = client.session.auth_key.key.hex()
            if i == 0:
                done['config'] = config_json(await client(functions.help.GetConfigRequest()))
            else:
                done['nearest'] = nearest_json(await client(functions.help.GetNearestDcRequest()))
                done['pong'] = pong_json(await client(functions.PingRequest(ping_id=int(cfg['ping_id']))))
    finally:
        await client.disconnect()


if __name__ == '__main__':
    sys.exit(common.main({'telethon': run_telethon}))
