"""The gRPC stubs of proto/mtgate_upstream.proto, generated with grpcio-tools into gen/ (next to
this file, not committed) when missing or older than the .proto."""

import importlib
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.normpath(os.path.join(HERE, '..', '..', 'proto'))
PROTO = 'mtgate_upstream.proto'
GEN = os.path.join(HERE, 'gen')
FILES = ('mtgate_upstream_pb2.py', 'mtgate_upstream_pb2_grpc.py')


def fresh():
    proto_mtime = os.path.getmtime(os.path.join(PROTO_DIR, PROTO))
    paths = [os.path.join(GEN, f) for f in FILES]
    return all(os.path.exists(p) and os.path.getmtime(p) >= proto_mtime for p in paths)


def generate():
    """Runs protoc into a new directory and moves the files into gen/ (each rename is atomic, so
    backends starting together never import half a file)."""
    from grpc_tools import protoc  # only needed to generate

    os.makedirs(GEN, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=GEN) as tmp:
        args = ['grpc_tools.protoc', f'-I{PROTO_DIR}', f'--python_out={tmp}', f'--grpc_python_out={tmp}', PROTO]
        if protoc.main(args) != 0:
            raise RuntimeError(f'protoc failed on {PROTO}')
        for f in FILES:
            os.replace(os.path.join(tmp, f), os.path.join(GEN, f))


def load():
    """(mtgate_upstream_pb2, mtgate_upstream_pb2_grpc), generating them first when needed."""
    if not fresh():
        generate()
    if GEN not in sys.path:
        sys.path.insert(0, GEN)
    return importlib.import_module('mtgate_upstream_pb2'), importlib.import_module('mtgate_upstream_pb2_grpc')
