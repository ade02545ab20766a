"""
What the Python drivers of test/interop/python*.test.ts share: pointing each library at our server
(address, DC 2 and RSA key, nothing else of the library changed), collecting its log, and the
process protocol: argv is `LIBRARY JSON`, stdout gets one JSON line.

The JSON config always has host, port, pem (PKCS#1), fingerprint (decimal), modulus (hex),
api_id, api_hash and timeout (seconds for the whole run).

Exit codes: 0 ok, 1 the client failed (error in the JSON), 3 the package is not installed.
"""
import asyncio
import json
import logging
import os
import sys
import time

MODULES = {'telethon': 'telethon', 'pyrogram': 'pyrogram'}
DC_ID = 2


class Collect(logging.Handler):
    """Keeps the library's INFO+ log lines (they say what the exchange and session did)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append(f'{record.levelname} {record.name}: {record.getMessage()}')


def signed64(v):
    return v - (1 << 64) if v >= (1 << 63) else v


def distribution(module):
    from importlib.metadata import packages_distributions
    return ','.join(packages_distributions().get(module, []))


HTTP_FIXED = 'ConnectionHttpFixed'


def telethon_connection(name):
    """
    Telethon's connection class `name` (telethon.network.connection), or for HTTP_FIXED its
    ConnectionHttp with the response reader corrected, nothing else changed: HttpPacketCodec.read_packet
    checks each line it reads with `line[-1] != b'\\n'`, and indexing bytes gives an int, so the check
    holds for every line: it raises IncompleteReadError on the status line of any response (Telethon
    1.25 and 1.45 alike, so ConnectionHttp as shipped reads no answer from any server). The subclass's
    read_packet is the library's with `line[-1:]` there.
    """
    import asyncio
    from telethon.network import connection
    from telethon.network.connection.http import ConnectionHttp, HttpPacketCodec

    if name != HTTP_FIXED:
        return getattr(connection, name)

    class HttpPacketCodecFixed(HttpPacketCodec):
        async def read_packet(self, reader):
            while True:
                line = await reader.readline()
                if not line or line[-1:] != b'\n':
                    raise asyncio.IncompleteReadError(line, None)
                if line.lower().startswith(b'content-length: '):
                    await reader.readexactly(2)
                    length = int(line[16:-2])
                    return await reader.readexactly(length)

    class ConnectionHttpFixed(ConnectionHttp):
        packet_codec = HttpPacketCodecFixed

    return ConnectionHttpFixed


def telethon_long_poll(client, max_wait_ms):
    """
    Sends http_wait(max_delay 0, wait_after 0, max_wait) through the client's sender, without waiting
    for an answer (it gets none). Telethon never sends one itself, and over HTTP a server can only
    answer a request: this POST is held until the server has something for the session.
    """
    from telethon.tl.types import HttpWait

    client._sender.send(HttpWait(max_delay=0, wait_after=0, max_wait=max_wait_ms))


def telethon_client(cfg, receive_updates=False, **options):
    """A TelegramClient on a MemorySession for DC 2 at our address, our RSA key added (updates off unless asked)."""
    from telethon import TelegramClient
    from telethon.crypto import rsa
    from telethon.sessions import MemorySession

    rsa.add_key(cfg['pem'], old=False)
    session = MemorySession()
    session.set_dc(DC_ID, cfg['host'], cfg['port'])
    return TelegramClient(
        session, cfg['api_id'], cfg['api_hash'],
        connection_retries=5, retry_delay=0.2, request_retries=1, timeout=10,
        auto_reconnect=False, receive_updates=receive_updates, **options,
    )


async def pyrogram_client(cfg, no_updates=True, **options):
    """An in-memory pyrogram.Client with its storage open and api_id set, our RSA key added (updates off unless asked)."""
    import pyrogram
    from pyrogram.crypto import rsa

    rsa.server_public_keys[signed64(int(cfg['fingerprint']))] = rsa.PublicKey(int(cfg['modulus'], 16), 65537)
    client = pyrogram.Client(
        'mtgate-interop', api_id=cfg['api_id'], api_hash=cfg['api_hash'], in_memory=True, no_updates=no_updates, **options,
    )
    await client.storage.open()
    await client.storage.api_id(cfg['api_id'])
    return client


def pyrogram_session(client, cfg, key):
    """The library's own Session on `key` for DC 2 at our address (not started)."""
    from pyrogram.session import Session
    return Session(client, DC_ID, cfg['host'], cfg['port'], key, False)


async def pyrogram_keyed_session(client, cfg, out):
    """The library's own key exchange with us (the key recorded in out['auth_key']), then its Session on that key, started."""
    from pyrogram.session import Auth
    key = await Auth(client, DC_ID, cfg['host'], cfg['port'], False).create()
    out['auth_key'] = key.hex()
    session = pyrogram_session(client, cfg, key)
    try:
        await pyrogram_start(session)
    except BaseException:
        await session.stop()
        raise
    return session


async def pyrogram_start(session):
    """Session.start(): ping, then invokeWithLayer(initConnection(help.getConfig)); errors raise."""
    await session.start()
    if not session.is_started.is_set():
        raise RuntimeError('Session.start() did not complete (it schedules a restart on errors)')


def emit(progress):
    """A progress line on stdout (JSON, flushed), before the result line."""
    print(json.dumps(progress), flush=True)


def main(runners):
    """Runs `runners[argv[1]](cfg, out)`; `out` is the JSON printed (runners fill it as they go)."""
    which, cfg = sys.argv[1], json.loads(sys.argv[2])
    module = MODULES[which]
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
    started = time.monotonic()
    code = 0
    try:
        asyncio.run(asyncio.wait_for(runners[which](cfg, out), cfg.get('timeout', 30)))
    except BaseException as e:  # noqa: BLE001 — reported in the JSON line
        out['error'] = f'{type(e).__name__}: {e}'
        code = 1
    out['elapsed_ms'] = round((time.monotonic() - started) * 1000)
    out['log'] = logs.lines
    print(json.dumps(out))
    return code
