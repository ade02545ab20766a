"""The example backend behind mtgate's upstream bridge (examples/README.md): serves
mtgate.upstream.v1.Upstream on --listen, pushes updates through mtgate's Mtgate service on --mtgate,
keeps its users and messages in the JSON file --state.

    python3 backend.py --listen 127.0.0.1:50051 --mtgate 127.0.0.1:7801 --state /tmp/backend.json
"""

import argparse
import logging
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc

import stubs
from api import Api
from state import State

pb2, pb2_grpc = stubs.load()
log = logging.getLogger('backend')


class Pusher:
    """Sends pushes to Mtgate.Push one at a time, in the order they were made, off the call's thread
    (a push that fails is logged: the recipient still gets the message from updates.getDifference)."""

    def __init__(self, address):
        self.channel = grpc.insecure_channel(address)
        self.mtgate = pb2_grpc.MtgateStub(self.channel)
        self.queue = ThreadPoolExecutor(max_workers=1)

    def push(self, p):
        self.queue.submit(self._send, p)

    def _send(self, p):
        req = pb2.PushUpdatesRequest(user_id=p.user_id, updates=p.updates, except_auth_key_id=p.except_auth_key_id)
        try:
            reply = self.mtgate.Push(req, timeout=5)
            log.info('push to user %d: %d sessions', p.user_id, reply.sessions)
        except grpc.RpcError as e:
            log.warning('push to user %d failed: %s %s', p.user_id, e.code().name, e.details())

    def close(self):
        self.queue.shutdown(wait=False, cancel_futures=True)
        self.channel.close()


class Upstream(pb2_grpc.UpstreamServicer):
    def __init__(self, api, pusher, delay_ms):
        self.api = api
        self.pusher = pusher
        self.delay = delay_ms / 1000

    def wait(self, context):
        """Waits --delay-ms, or until the call ends (its deadline passed: mtgate answers the client
        -503 Timeout by itself); False when the call ended first."""
        gone = threading.Event()
        context.add_callback(gone.set)
        return not gone.wait(self.delay) and context.is_active()

    def Invoke(self, request, context):
        if self.delay > 0 and not self.wait(context):
            log.info('%s user=%d: the call ended while it waited', request.method, request.user_id)
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, 'the call ended while it waited')
        answer = self.api.handle(request.user_id, request.perm_auth_key_id, request.method, request.query)
        reply = pb2.InvokeReply(bind_user_id=answer.bind_user_id, unbind_user=answer.unbind_user)
        if answer.error is not None:
            reply.rpc_error.code, reply.rpc_error.message = answer.error
            log.info('%s user=%d: %d %s', request.method, request.user_id, *answer.error)
        else:
            reply.result = answer.result
            log.info('%s user=%d: %d bytes', request.method, request.user_id, len(answer.result))
        for p in answer.pushes:
            self.pusher.push(p)
        return reply


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--listen', required=True, help='host:port to serve Upstream on')
    p.add_argument('--mtgate', required=True, help="host:port of mtgate's Mtgate service (config backend_api)")
    p.add_argument('--state', required=True, help='JSON file with users, messages and pts counters')
    p.add_argument('--delay-ms', type=int, default=0, help='every call waits this long before it is handled')
    args = p.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format='%(asctime)s %(name)s %(message)s')

    pusher = Pusher(args.mtgate)
    # no SO_REUSEPORT: a port another process serves on is an error, not a shared port
    server = grpc.server(ThreadPoolExecutor(max_workers=16), options=[('grpc.so_reuseport', 0)])
    pb2_grpc.add_UpstreamServicer_to_server(Upstream(Api(State(args.state)), pusher, args.delay_ms), server)
    try:
        port = server.add_insecure_port(args.listen)
    except RuntimeError as e:
        sys.exit(f'cannot listen on {args.listen}: {e}')
    server.start()
    host = args.listen.rsplit(':', 1)[0]
    print(f'listening {host}:{port}', flush=True)

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    stopping.wait()
    log.info('stopping')
    server.stop(grace=1).wait()
    pusher.close()


if __name__ == '__main__':
    main()
